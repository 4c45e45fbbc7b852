/**
 * A lean `fetch` for the backends on Node: the same call and the same Web `Response`, over
 * `node:http`/`node:https` with keep-alive connections. Node's own `fetch` (undici) costs about
 * three times the CPU per request (bench/notes.md), which a proxying backend pays on every turn.
 * It does what the backends ask of `fetch` (a request with a body, headers, an abort signal, a
 * streamed answer) and no more: no redirects are followed, and there is no cache or cookie jar.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

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

export const nodeFetch = (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> =>
  new Promise((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const https = url.protocol === 'https:'
    const method = init.method ?? 'GET'
    const request = (https ? httpsRequest : httpRequest)(
      url,
      {
        method,
        headers: requestHeaders(init.headers),
        agent: https ? httpsAgent : httpAgent,
        signal: init.signal ?? undefined,
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
    const body = init.body
    if (
      body !== undefined &&
      body !== null &&
      typeof body !== 'string' &&
      !(body instanceof Uint8Array)
    ) {
      request.destroy()
      return reject(new TypeError('nodeFetch takes a string or bytes as the body'))
    }
    request.end(body ?? undefined)
  })
