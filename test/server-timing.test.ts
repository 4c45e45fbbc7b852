/**
 * `Server-Timing` on every answer, so a client sees our own overhead: `total` and `agent` (the
 * time in the backend) for a JSON answer, `total` to the headers for a stream (trailers, where
 * a time to first byte could go, are not sent by any runtime), `total` for early errors.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { chat, startServer, TOKEN, userMessage, type TestServer } from './helpers.ts'

/** The header's metrics by name (`name;dur=1.5, other;dur=2` → { name: 1.5, other: 2 }). */
const timings = (res: Response): Record<string, number> => {
  const header = res.headers.get('server-timing')
  assert.ok(header, `no Server-Timing on a ${res.status}`)
  const out: Record<string, number> = {}
  for (const metric of header.split(',')) {
    // RFC: metric-name *( OWS ";" OWS server-timing-param ); ours carry only `dur`.
    const match = /^\s*([!#$%&'*+\-.^_`|~\w]+);dur=(\d+(?:\.\d+)?)\s*$/.exec(metric)
    assert.ok(match, `malformed Server-Timing metric: ${JSON.stringify(metric)}`)
    out[match[1]] = Number(match[2])
  }
  return out
}

const withServer = async (body: (server: TestServer) => Promise<void>) => {
  const server = await startServer({
    config: { gateway: { http: { endpoints: { responses: { enabled: true } } } } },
  })
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

describe('Server-Timing', () => {
  it('has total and agent on a JSON answer, the agent within the total', async () => {
    await withServer(async (server) => {
      const res = await chat(server, userMessage('hi'))
      await res.text()
      const t = timings(res)
      assert.deepEqual(Object.keys(t), ['total', 'agent'])
      assert.ok(t.agent <= t.total)
      const responses = await fetch(`${server.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openclaw', input: 'hi' }),
      })
      await responses.text()
      assert.deepEqual(Object.keys(timings(responses)), ['total', 'agent'])
    })
  })

  it('has only total (to the headers) on an SSE answer', async () => {
    await withServer(async (server) => {
      const res = await chat(server, { stream: true, ...userMessage('hi') })
      assert.deepEqual(Object.keys(timings(res)), ['total'])
      await res.text()
    })
  })

  it('is on error answers: total before a run, total and agent after one', async () => {
    await withServer(async (server) => {
      const unauthorized = await chat(server, userMessage('hi'), { authorization: 'Bearer no' })
      const notFound = await fetch(`${server.url}/nowhere`)
      const invalid = await chat(server, { messages: 'no' })
      const failed = await chat(server, userMessage('/error it broke'))
      for (const res of [unauthorized, notFound, invalid, failed]) await res.text()
      assert.deepEqual(
        [unauthorized, notFound, invalid, failed].map((res) => [
          res.status,
          Object.keys(timings(res)),
        ]),
        [
          [401, ['total']],
          [404, ['total']],
          [400, ['total']],
          [502, ['total', 'agent']],
        ]
      )
    })
  })

  it('is on the health check, the model list and a CORS preflight', async () => {
    const server = await startServer({
      config: { gateway: { http: { cors: { allowedOrigins: ['https://app.example.com'] } } } },
    })
    try {
      const health = await fetch(`${server.url}/health`)
      const models = await fetch(`${server.url}/v1/models`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      const preflight = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
      })
      for (const res of [health, models, preflight]) {
        await res.text()
        assert.deepEqual(Object.keys(timings(res)), ['total'], `status ${res.status}`)
      }
    } finally {
      await server.close()
    }
  })
})
