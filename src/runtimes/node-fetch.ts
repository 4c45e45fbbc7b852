/**
 * A lean `fetch` for the backends on Node: the same call and the same Web `Response`, over
 * `node:http`/`node:https` with keep-alive connections. Node's own `fetch` (undici) costs about
 * three times the CPU per request (bench/notes.md), which a proxying backend pays on every turn.
 * It does what the backends ask of `fetch` (a request with a body, headers, an abort signal, a
 * streamed answer) and no more: no redirects are followed, and there is no cache or cookie jar.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { urlToHttpOptions } from 'node:url'

const httpAgent = new HttpAgent({ keepAlive: true })
const httpsAgent = new HttpsAgent({ keepAlive: true })

/**
 * The answer's headers as name/value pairs, as they came: the `Response` checks them once as it
 * takes them (a `Headers` made here first was checked twice: `Headers` fills were 14 % of a
 * proxied turn's CPU).
 */
const responseHeaders = (res: IncomingMessage): [string, string][] => {
  const raw = res.rawHeaders
  const pairs: [string, string][] = []
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]])
  return pairs
}

/** The request's headers for `node:http`: a plain record is passed as it is. */
const requestHeaders = (init: HeadersInit | undefined): Record<string, string> => {
  if (init === undefined) return {}
  if (init instanceof Headers || Array.isArray(init)) return Object.fromEntries(new Headers(init))
  return init as Record<string, string>
}

/**
 * The answer's body as a Web stream, read as its reader asks (the socket pauses in between).
 * Made by hand rather than with `Readable.toWeb()`: with that adapter every answer's objects
 * outlived the young generation's collections (at 1 000 proxied turns a second, scavenges took
 * 3-17 ms instead of 0.4, the latency tail of bench/notes.md).
 */
const bodyOf = (res: IncomingMessage): ReadableStream<Uint8Array> => {
  let open = true
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on('data', (chunk: Buffer) => {
        controller.enqueue(chunk)
        if ((controller.desiredSize ?? 0) <= 0) res.pause()
      })
      res.once('end', () => {
        if (open) controller.close()
        open = false
      })
      res.once('error', (err) => {
        if (open) controller.error(err)
        open = false
      })
      res.once('close', () => {
        if (open) controller.error(new Error('The connection closed before the body ended.'))
        open = false
      })
    },
    pull() {
      res.resume()
    },
    cancel() {
      open = false
      res.destroy()
    },
  })
}

/** Where the last request went: a backend calls one URL turn after turn. */
let last: { url: string; target: RequestOptions; https: boolean } | undefined

const targetOf = (url: string) => {
  if (last?.url !== url) {
    const parsed = new URL(url)
    last = { url, target: urlToHttpOptions(parsed), https: parsed.protocol === 'https:' }
  }
  return last
}

/** What `fetch` rejects with when its signal aborts: the signal's reason, as the spec says. */
const abortReason = (signal: AbortSignal) =>
  signal.reason ?? new DOMException('This operation was aborted', 'AbortError')

export const nodeFetch = (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> =>
  new Promise((resolve, reject) => {
    const { target, https } = targetOf(input instanceof Request ? input.url : String(input))
    const method = init.method ?? 'GET'
    const signal = init.signal ?? undefined
    if (signal?.aborted) return reject(abortReason(signal))
    const body = init.body
    if (
      body !== undefined &&
      body !== null &&
      typeof body !== 'string' &&
      !(body instanceof Uint8Array)
    ) {
      return reject(new TypeError('nodeFetch takes a string or bytes as the body'))
    }
    const request = (https ? httpsRequest : httpRequest)(
      {
        ...target,
        method,
        headers: requestHeaders(init.headers),
        agent: https ? httpsAgent : httpAgent,
      },
      (res) => {
        const empty = method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304
        resolve(
          new Response(empty ? null : bodyOf(res), {
            status: res.statusCode,
            statusText: res.statusMessage,
            headers: responseHeaders(res),
          })
        )
      }
    )
    request.once('error', reject)
    if (signal) {
      // Watched here rather than handed to `node:http`, whose watch on the request's every end
      // (`finished()`) cost ~12 µs of a proxied turn (bench/notes.md). The request closes once
      // its answer was read or it failed: the watch ends with it.
      const abort = () => request.destroy(abortReason(signal))
      signal.addEventListener('abort', abort, { once: true })
      request.once('close', () => signal.removeEventListener('abort', abort))
    }
    request.end(body ?? undefined)
  })
