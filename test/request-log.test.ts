/**
 * The request log: one line per request, when its answer ends (a stream: when the stream ends),
 * in both formats, with the fields an operator needs and never a secret, a `user` or content.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AgentEvent, AgentRunInput, ConfigInput } from '../src/index.ts'
import { createLogger } from '../src/runtimes/logger.ts'
import type { LogFormat, LogLevel } from '../src/core/logger.ts'
import {
  bodyReader,
  chat,
  probeBackend,
  startServer,
  TOKEN,
  untilAborted,
  userMessage,
  waitFor,
  within,
  withServer,
  type TestServer,
} from './helpers.ts'

const USER = 'alice.secret-user@example.com'
const WRONG_TOKEN = 'not-the-token-but-also-secret'
const PROMPT = 'the prompt is content, not for the log'

/** Server options whose log lines (pino, in `format`) are kept in `lines`. */
const logged = (
  format: LogFormat,
  options: {
    level?: LogLevel
    config?: ConfigInput
    backend?: Parameters<typeof startServer>[0]
  } = {}
) => {
  const lines: string[] = []
  const logger = createLogger({
    format,
    level: options.level ?? 'info',
    color: false,
    write: (line) => lines.push(line),
  })
  return { lines, options: { logger, config: options.config, ...options.backend } }
}

/** Runs `body` against a server made with `logged(…)`'s options, closing it whatever happens. */
const withLogged = (
  { lines, options }: ReturnType<typeof logged>,
  body: (ctx: { server: TestServer; lines: string[] }) => Promise<void>
) => withServer(options, (server) => body({ server, lines }))

/** The request lines of a JSON log. */
const requests = (lines: string[]) =>
  lines.map((line) => JSON.parse(line)).filter((record) => record.msg === 'request')

/** Waits for the `n`th request line (lines come when answers end, not when they are read). */
const nthRequest = async (lines: string[], n: number) => {
  await waitFor(() => requests(lines).length >= n, `request line ${n}`)
  return requests(lines)[n - 1]
}

/** Opens a chat stream and reads it up to `first` (see `stuck`); returns how to leave it. */
const openStream = async (server: TestServer) => {
  const client = new AbortController()
  const res = await chat(
    server,
    { stream: true, ...userMessage('hi') },
    {},
    { signal: client.signal }
  )
  await bodyReader(res).until((text) => text.includes('"content":"first"'))
  return () => client.abort()
}

/** A backend that says `first` and then waits to be aborted. */
const stuck = () =>
  probeBackend(async function* (_input: AgentRunInput, signal: AbortSignal) {
    yield { type: 'text', delta: 'first' } satisfies AgentEvent
    await untilAborted(signal)
  })

const assertNoSecrets = (lines: string[]) => {
  for (const line of lines) {
    assert.ok(!line.includes(TOKEN), `the token in: ${line}`)
    assert.ok(!line.includes(WRONG_TOKEN), `a presented secret in: ${line}`)
    assert.ok(!line.toLowerCase().includes('alice'), `the user in: ${line}`)
    assert.ok(!line.includes(PROMPT), `the prompt in: ${line}`)
    assert.ok(!/authorization|bearer/i.test(line), `an auth header in: ${line}`)
  }
}

describe('the request log, JSON', () => {
  it('logs a completed call with its route, timing, size and a hashed user session', async () => {
    await withLogged(logged('json'), async ({ server, lines }) => {
      const res = await chat(
        server,
        { user: USER, ...userMessage(PROMPT) },
        {
          'x-request-id': 'req-completed-1',
        }
      )
      const text = await res.text()
      assert.equal(res.status, 200)
      const entry = await nthRequest(lines, 1)
      assert.equal(entry.level, 'info')
      assert.match(entry.time, /^\d{4}-\d\d-\d\dT/)
      assert.equal(entry.method, 'POST')
      assert.equal(entry.path, '/v1/chat/completions')
      assert.equal(entry.status, 200)
      assert.equal(entry.outcome, 'completed')
      assert.equal(typeof entry.durationMs, 'number')
      assert.equal(entry.ttfbMs, undefined, 'no first byte for a JSON answer')
      assert.equal(entry.bytesOut, new TextEncoder().encode(text).byteLength)
      assert.equal(entry.stream, false)
      assert.equal(entry.agent, 'main')
      assert.match(entry.session, /^agent:main:openai-user:#[0-9a-f]{8}$/)
      assert.equal(entry.requestId, 'req-completed-1')
      assert.equal(entry.runId, JSON.parse(text).id)
      assert.equal(entry.client, '127.0.0.1')
      assertNoSecrets(lines)
    })
  })

  it('gives the same user the same hash, and another user another', async () => {
    await withLogged(logged('json'), async ({ server, lines }) => {
      for (const user of [USER, USER, 'bob'])
        await (await chat(server, { user, ...userMessage('x') })).text()
      await nthRequest(lines, 3)
      const [a, b, c] = requests(lines).map((entry) => entry.session)
      assert.equal(a, b)
      assert.notEqual(a, c)
    })
  })

  it('logs a stream when it ends, with its time to first byte', async () => {
    await withLogged(logged('json'), async ({ server, lines }) => {
      const res = await chat(server, { stream: true, ...userMessage(PROMPT) })
      const text = await res.text()
      const entry = await nthRequest(lines, 1)
      assert.equal(entry.status, 200)
      assert.equal(entry.stream, true)
      assert.equal(entry.outcome, 'completed')
      assert.equal(typeof entry.ttfbMs, 'number')
      assert.ok(entry.ttfbMs <= entry.durationMs)
      assert.equal(entry.bytesOut, new TextEncoder().encode(text).byteLength)
      assert.match(entry.session, /^agent:main:openai:[0-9a-f-]{36}$/)
      assertNoSecrets(lines)
    })
  })

  it('logs a client that left a stream as client_gone, once', async () => {
    const probe = stuck()
    await withLogged(
      logged('json', { backend: { backend: probe.backend } }),
      async ({ server, lines }) => {
        const leave = await openStream(server)
        assert.equal(requests(lines).length, 0, 'nothing is logged while the stream is open')
        leave()
        await within(probe.aborted, 'the run to be aborted')
        const entry = await nthRequest(lines, 1)
        assert.equal(entry.outcome, 'client_gone')
        assert.equal(entry.status, 200)
        assert.equal(typeof entry.ttfbMs, 'number')
        await waitFor(() => server.app.stats().activeRuns === 0, 'the run to end')
        assert.equal(requests(lines).length, 1)
      }
    )
  })

  it('logs a client that left a non-stream call as client_gone (499)', async () => {
    const probe = probeBackend(async function* (_input: AgentRunInput, signal: AbortSignal) {
      await untilAborted(signal)
      yield { type: 'done', text: 'too late' } satisfies AgentEvent
    })
    await withLogged(
      logged('json', { backend: { backend: probe.backend } }),
      async ({ server, lines }) => {
        const client = new AbortController()
        const pending = chat(server, userMessage('hi'), {}, { signal: client.signal })
        await within(probe.started, 'the run to start')
        client.abort()
        await pending.catch(() => {})
        const entry = await nthRequest(lines, 1)
        assert.equal(entry.status, 499)
        assert.equal(entry.outcome, 'client_gone')
      }
    )
  })

  it('logs a backend failure as failed, and a failed stream too', async () => {
    await withLogged(logged('json'), async ({ server, lines }) => {
      const plain = await chat(server, userMessage('/error it broke'))
      await plain.text()
      assert.equal(plain.status, 502)
      const stream = await chat(server, { stream: true, ...userMessage('/error it broke') })
      await stream.text()
      const [first, second] = [await nthRequest(lines, 1), await nthRequest(lines, 2)]
      assert.equal(first.status, 502)
      assert.equal(first.outcome, 'failed')
      assert.equal(first.agent, 'main')
      assert.equal(second.status, 200)
      assert.equal(second.outcome, 'failed')
    })
  })

  it('logs a run timeout as timed_out', async () => {
    const probe = stuck()
    const config = { agents: { defaults: { timeoutSeconds: 0.2 } } }
    await withLogged(
      logged('json', { config, backend: { backend: probe.backend } }),
      async ({ server, lines }) => {
        const res = await chat(server, userMessage('hi'))
        await res.text()
        assert.equal(res.status, 504)
        assert.equal((await nthRequest(lines, 1)).outcome, 'timed_out')
      }
    )
  })

  it('logs 401, 404, 405 and 413 answers without agent or session, and no secret', async () => {
    const config = { gateway: { http: { endpoints: { chatCompletions: { maxBodyBytes: 100 } } } } }
    await withLogged(logged('json', { config }), async ({ server, lines }) => {
      const wrong = await chat(
        server,
        { user: USER, ...userMessage(PROMPT) },
        {
          authorization: `Bearer ${WRONG_TOKEN}`,
        }
      )
      assert.equal(wrong.status, 401)
      await wrong.text()
      await (await fetch(`${server.url}/nowhere?token=${WRONG_TOKEN}`)).text()
      await (await fetch(`${server.url}/v1/chat/completions`)).text()
      await (await chat(server, userMessage('x'.repeat(200)))).text()
      await nthRequest(lines, 4)
      const entries = requests(lines)
      assert.deepEqual(
        entries.map((e) => [e.status, e.outcome, e.path]),
        [
          [401, 'rejected', '/v1/chat/completions'],
          [404, 'rejected', '/nowhere'],
          [405, 'rejected', '/v1/chat/completions'],
          [413, 'rejected', '/v1/chat/completions'],
        ]
      )
      for (const entry of entries) {
        assert.equal(entry.agent, undefined)
        assert.equal(entry.session, undefined)
        assert.equal(entry.client, '127.0.0.1')
        assert.ok(entry.requestId)
      }
      assertNoSecrets(lines)
    })
  })

  it('logs nothing per request below info, and the prompt only with logging.content at debug', async () => {
    await withLogged(logged('json', { level: 'warn' }), async ({ server, lines }) => {
      await (await chat(server, userMessage(PROMPT))).text()
      await (await chat(server, userMessage(PROMPT))).text()
      assert.deepEqual(lines, [])
    })
    await withLogged(logged('json', { level: 'debug' }), async ({ server, lines }) => {
      await (await chat(server, userMessage(PROMPT))).text()
      await nthRequest(lines, 1)
      assertNoSecrets(lines)
    })
    const config = { logging: { content: true } }
    await withLogged(logged('json', { level: 'debug', config }), async ({ server, lines }) => {
      await (await chat(server, { user: USER, ...userMessage(PROMPT) })).text()
      await nthRequest(lines, 1)
      const input = lines.map((l) => JSON.parse(l)).find((r) => r.msg === 'turn input')
      assert.equal(input.level, 'debug')
      assert.match(input.message, new RegExp(PROMPT))
      assert.match(input.session, /^agent:main:openai-user:#[0-9a-f]{8}$/)
      assert.ok(!lines.join('').includes(TOKEN))
    })
  })
})

describe('the request log, pretty', () => {
  /** `HH:MM:SS.mmm LEVEL …` lines. */
  const LINE = /^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR|DEBUG) /

  it('writes one readable line per request: completed, client gone, failed and 401', async () => {
    const probe = stuck()
    await withLogged(logged('pretty'), async ({ server, lines }) => {
      await (await chat(server, { user: USER, ...userMessage(PROMPT) })).text()
      await (await chat(server, userMessage('/error it broke'))).text()
      await (
        await chat(server, userMessage('hi'), { authorization: `Bearer ${WRONG_TOKEN}` })
      ).text()
      await waitFor(() => lines.length === 3, 'three lines')
      assert.match(
        lines[0],
        /^\d\d:\d\d:\d\d\.\d{3} INFO  POST \/v1\/chat\/completions 200 completed [\d.]+ ms \d+ B agent=main session=agent:main:openai-user:#[0-9a-f]{8} client=127\.0\.0\.1 requestId=\S+ runId=chatcmpl-\S+\n$/
      )
      assert.match(lines[1], / 502 failed [\d.]+ ms \d+ B agent=main /)
      assert.match(
        lines[2],
        /^\S+ INFO  POST \/v1\/chat\/completions 401 rejected [\d.]+ ms \d+ B client=/
      )
      assertNoSecrets(lines)
    })
    await withLogged(
      logged('pretty', { backend: { backend: probe.backend } }),
      async ({ server, lines }) => {
        const leave = await openStream(server)
        leave()
        await waitFor(() => lines.length === 1, 'the stream line')
        assert.match(lines[0], LINE)
        assert.match(
          lines[0],
          / 200 client_gone [\d.]+ ms \(first byte [\d.]+ ms\) \d+ B agent=main /
        )
      }
    )
  })
})
