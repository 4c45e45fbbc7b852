/**
 * Clients for what `fetch` in the test's own process cannot show: uploads sent from a Node
 * process of its own (test/early-answer-client.mjs), and a raw HTTP/1.1 exchange on a socket.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import net from 'node:net'
import { assertError } from './helpers.ts'

export const MiB = 1024 * 1024

export interface Upload {
  via: 'fetch' | 'http'
  attempts: number
  /** Default: the chat route. */
  path?: string
  method?: string
  token?: string
  /** Default: 25 MiB, over the default 20 MiB limit. */
  size?: number
  /** Sent chunked, without `Content-Length`. */
  chunked?: boolean
}

export type Outcome =
  | { status: number; contentType: string | null; requestId: string | null; body: string }
  | { error: string }

/**
 * Runs `uploads` against `url` from a Node process of its own, and returns what each attempt
 * got. In the test's own process the client would read each answer in the same event-loop turn
 * as the server closes, and so never lose it: the lost early answers would go unseen.
 */
export const upload = (url: string, token: string, uploads: Upload[]) =>
  new Promise<Outcome[][]>((resolve, reject) => {
    const specs = uploads.map((u) => ({
      url,
      token,
      path: '/v1/chat/completions',
      size: 25 * MiB,
      ...u,
    }))
    const child = spawn('node', ['test/early-answer-client.mjs', JSON.stringify(specs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => (out += d))
    child.stderr!.on('data', (d) => (err += d))
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the client exited ${code}: ${err}`))
    )
  })

/** Every attempt got `status`, in the OpenAI error envelope, with a request id. */
export const assertAnswered = async (outcomes: Outcome[], status: number, what: string) => {
  const lost = outcomes.flatMap((o) => ('error' in o ? [o.error] : []))
  const reasons = [...new Set(lost)].join(', ')
  assert.equal(lost.length, 0, `${what}: ${lost.length} of ${outcomes.length} lost (${reasons})`)
  for (const o of outcomes) {
    if ('error' in o) continue
    const headers = { 'content-type': o.contentType ?? '' }
    await assertError(new Response(o.body, { status: o.status, headers }), status)
    assert.ok(o.requestId, `${what}: x-request-id`)
  }
}

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Writes `head` on a TCP socket to `url`'s port and parses what came back once it closes. */
export const exchange = (url: string, head: string) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname, () => socket.write(head))
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (data += chunk))
    socket.once('error', reject)
    socket.once('close', () => {
      const split = data.indexOf('\r\n\r\n')
      if (split === -1) return reject(new Error(`no answer: ${JSON.stringify(data)}`))
      const [statusLine, ...lines] = data.slice(0, split).split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const rest = data.slice(split + 4)
      const body = headers['transfer-encoding'] === 'chunked' ? unchunk(rest) : rest
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
  })

/** The payload of a chunked body (Bun's `node:http` sends short answers chunked). */
const unchunk = (raw: string) => {
  let body = ''
  for (let at = 0; ;) {
    const eol = raw.indexOf('\r\n', at)
    const size = parseInt(raw.slice(at, eol), 16)
    if (!(size > 0)) return body
    body += raw.slice(eol + 2, eol + 2 + size)
    at = eol + 2 + size + 2
  }
}

/** `GET /v1/models` with `host` as the `Host` header, as raw HTTP/1.1. */
export const modelsWithHost = (host: string, token: string) =>
  `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n` +
  'Connection: close\r\n\r\n'

/** `Host` headers that do not make a URL's host, or make another host than they say. */
export const BAD_HOSTS = ['[', '[::1', 'a@b', 'a/b', 'x:99999', 'a b']
