import assert from 'node:assert/strict'
import http from 'node:http'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent } from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  startServer,
  TOKEN,
  userMessage,
  type TestServer,
} from './helpers.ts'

const LIMIT = 1024
const auth = { authorization: `Bearer ${TOKEN}` }

interface RawAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
}

/** One request through `node:http` with the given agent (for keep-alive) and exact headers. */
const send = (
  agent: http.Agent,
  url: string,
  {
    method = 'POST',
    path = '/v1/chat/completions',
    headers = {},
    body,
  }: {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Uint8Array
  }
) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, agent, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })

/** The OpenAI error of a raw answer, after checking its status. */
const rawError = (answer: RawAnswer, status: number) => {
  assert.equal(answer.status, status, answer.text)
  const { error } = JSON.parse(answer.text)
  assert.equal(error.type, 'invalid_request_error')
  return error as { message: string; param: string | null }
}

/**
 * Writes `head` and a chunked body (`Transfer-Encoding: chunked`, no Content-Length) on a plain
 * TCP socket, then parses the one answer (Content-Length or chunked) that comes back.
 */
const sendChunked = (url: string, head: string, chunks: string[]) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = net.connect(Number(port), hostname)
    let data = ''
    let settled = false
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      data += chunk
      const answer = parseAnswer(data)
      if (answer && !settled) {
        settled = true
        resolve(answer)
        socket.destroy()
      }
    })
    // A reset after the answer is fine: the server may close without reading the rest.
    socket.on('error', (err) => settled || reject(err))
    socket.on('end', () => settled || reject(new Error(`closed before a full answer:\n${data}`)))
    const body = chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')
    socket.write(`${head}Transfer-Encoding: chunked\r\n\r\n${body}0\r\n\r\n`)
  })

const parseAnswer = (data: string): RawAnswer | undefined => {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const [statusLine, ...lines] = data.slice(0, end).split('\r\n')
  const headers: http.IncomingHttpHeaders = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(statusLine.split(' ')[1])
  let rest = data.slice(end + 4)
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    return rest.length >= length ? { status, headers, text: rest.slice(0, length) } : undefined
  }
  if (headers['transfer-encoding'] !== 'chunked') return undefined
  let text = ''
  for (;;) {
    const lineEnd = rest.indexOf('\r\n')
    if (lineEnd === -1) return undefined
    const size = parseInt(rest.slice(0, lineEnd), 16)
    if (rest.length < lineEnd + 2 + size + 2) return undefined
    if (size === 0) return { status, headers, text }
    text += rest.slice(lineEnd + 2, lineEnd + 2 + size)
    rest = rest.slice(lineEnd + 2 + size + 2)
  }
}

const headOf = (url: string, headers: Record<string, string> = auth) => {
  const { host } = new URL(url)
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\n${lines.join('')}`
}

/** A valid chat body of exactly `bytes` bytes (JSON with trailing spaces). */
const bodyOfSize = (bytes: number) => {
  const json = JSON.stringify(userMessage('hello'))
  assert.ok(json.length <= bytes)
  return json + ' '.repeat(bytes - json.length)
}

const contentOf = async (res: Response) => {
  const text = await res.text()
  assert.equal(res.status, 200, text)
  return JSON.parse(text).choices[0].message.content as string
}

const answer = async function* (): AsyncIterable<AgentEvent> {
  yield { type: 'done', text: 'ok' }
}

describe('the request body', () => {
  let small: TestServer
  let roomy: TestServer
  const probe = probeBackend(answer)
  before(async () => {
    small = await startServer({
      backend: probe.backend,
      config: { gateway: { http: { endpoints: { chatCompletions: { maxBodyBytes: LIMIT } } } } },
    })
    roomy = await startServer()
  })
  after(() => Promise.all([small.close(), roomy.close()]))

  describe('size limit', () => {
    it('answers 413 when Content-Length is over maxBodyBytes, without running the agent', async () => {
      const agent = new http.Agent()
      const runs = probe.inputs.length
      const answer = await send(agent, small.url, {
        headers: { ...auth, 'content-type': 'application/json' },
        body: bodyOfSize(LIMIT + 1),
      })
      agent.destroy()
      const error = rawError(answer, 413)
      assert.match(error.message, new RegExp(`${LIMIT} bytes`))
      assert.equal(error.param, null)
      assert.equal(probe.inputs.length, runs)
    })

    it('accepts a body of exactly maxBodyBytes', async () => {
      const res = await chat(small, bodyOfSize(LIMIT))
      assert.equal(await contentOf(res), 'ok')
    })

    it('answers 413 for a chunked body without Content-Length that grows over the limit', async () => {
      const runs = probe.inputs.length
      const chunks = Array.from({ length: 8 }, () => 'x'.repeat(LIMIT / 4))
      const answer = await sendChunked(small.url, headOf(small.url), chunks)
      const error = rawError(answer, 413)
      assert.match(error.message, new RegExp(`${LIMIT} bytes`))
      assert.equal(probe.inputs.length, runs)
    })

    it('reads a chunked body under the limit like any other', async () => {
      const json = JSON.stringify(userMessage('in chunks'))
      const third = Math.ceil(json.length / 3)
      const chunks = [json.slice(0, third), json.slice(third, 2 * third), json.slice(2 * third)]
      const answer = await sendChunked(small.url, headOf(small.url), chunks)
      assert.equal(answer.status, 200, answer.text)
      assert.equal(probe.inputs.at(-1)!.message, 'in chunks')
    })

    it('accepts a 1.2 MB text message under the default limit', async () => {
      const text = 'abcdefghij'.repeat(120_000)
      const res = await chat(roomy, userMessage(text))
      const content = await contentOf(res)
      assert.equal(content.length, text.length)
      assert.equal(content, text)
    })
  })

  describe('parsing', () => {
    it('answers 400 naming the problem for a body that is not valid JSON', async () => {
      for (const body of [
        '{"model":"openclaw","messages":[',
        '{messages: []}',
        'hello',
        '{"a":1}x',
      ]) {
        const error = await assertError(await chat(small, body), 400, { param: null })
        assert.match(error.message, /^The request body is not valid JSON: \S/, body)
      }
    })

    it('answers 400 for a body that is not valid UTF-8', async () => {
      const json = new TextEncoder().encode(JSON.stringify(userMessage('__')))
      const at = json.indexOf('_'.charCodeAt(0))
      json.set([0xff, 0xfe], at)
      const res = await chat(small, '', {}, { body: json })
      await assertError(res, 400, { message: 'The request body is not valid UTF-8.', param: null })
    })

    it('takes a U+FFFD and a byte order mark as sent, and refuses invalid bytes beside them', async () => {
      const json = new TextEncoder().encode(JSON.stringify(userMessage('a\ufffdb')))
      const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...json])
      for (const body of [json, bom]) {
        const res = await chat(small, '', {}, { body })
        assert.equal(res.status, 200, await res.clone().text())
        await res.text()
        assert.equal(probe.inputs.at(-1)!.message, 'a\ufffdb')
      }
      // Each invalid byte reads as a three-byte U+FFFD: caught, with or without the mark.
      for (const body of [json, bom]) {
        const bad = body.slice()
        bad.set([0xff], bad.indexOf(0x62)) // the 'b'
        const res = await chat(small, '', {}, { body: bad })
        await assertError(res, 400, {
          message: 'The request body is not valid UTF-8.',
          param: null,
        })
      }
    })

    it('answers 400 for an empty or blank body', async () => {
      for (const body of ['', '   \n\t ']) {
        const error = await assertError(await chat(small, body), 400, { param: null })
        assert.match(error.message, /empty/)
      }
      const agent = new http.Agent()
      const answer = await send(agent, small.url, { headers: auth })
      agent.destroy()
      assert.match(rawError(answer, 400).message, /empty/)
    })

    it('parses the body as JSON whatever the Content-Type says', async () => {
      const types = [
        'application/json',
        'application/json; charset=utf-8',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/octet-stream',
      ]
      for (const type of types) {
        const res = await chat(roomy, userMessage(`as ${type}`), { 'content-type': type })
        assert.equal(await contentOf(res), `as ${type}`)
      }
    })

    it('parses the body as JSON when there is no Content-Type at all', async () => {
      const agent = new http.Agent()
      const answer = await send(agent, roomy.url, {
        headers: auth,
        body: JSON.stringify(userMessage('no type')),
      })
      agent.destroy()
      assert.equal(answer.status, 200, answer.text)
      assert.equal(JSON.parse(answer.text).choices[0].message.content, 'no type')
    })
  })

  describe('keep-alive after an early answer', () => {
    let agent: http.Agent
    before(() => {
      agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    })
    after(() => agent.destroy())

    const good = async () => {
      const answer = await send(agent, small.url, {
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(userMessage('next')),
      })
      assert.equal(answer.status, 200, answer.text)
      assert.equal(JSON.parse(answer.text).choices[0].message.content, 'ok')
    }

    it('serves the next request on the connection after a 200', async () => {
      await good()
      await good()
    })

    it('serves the next request after a 401 to a request with a body', async () => {
      const answer = await send(agent, small.url, {
        headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
        body: bodyOfSize(900),
      })
      assert.equal(answer.status, 401)
      await good()
    })

    it('serves the next request after a 413 declared by Content-Length', async () => {
      const answer = await send(agent, small.url, {
        headers: { ...auth, 'content-type': 'application/json' },
        body: bodyOfSize(4 * LIMIT),
      })
      assert.equal(answer.status, 413)
      await good()
    })

    it('serves the next request after a 413 on a chunked body', async () => {
      const answer = await send(agent, small.url, {
        headers: { ...auth, 'transfer-encoding': 'chunked' },
        body: bodyOfSize(4 * LIMIT),
      })
      assert.equal(answer.status, 413)
      await good()
    })

    it('serves the next request after a 405 to a request with a body', async () => {
      const answer = await send(agent, small.url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: bodyOfSize(900),
      })
      assert.equal(answer.status, 405)
      await good()
    })

    it('serves the next request after a 404 to a request with a body', async () => {
      const answer = await send(agent, small.url, {
        path: '/v1/nope',
        headers: { 'content-type': 'application/json' },
        body: bodyOfSize(900),
      })
      assert.equal(answer.status, 404)
      await good()
    })

    it('serves the next request after a 400 for bad JSON', async () => {
      const answer = await send(agent, small.url, { headers: auth, body: '{"messages":' })
      assert.equal(answer.status, 400)
      await good()
    })
  })
})
