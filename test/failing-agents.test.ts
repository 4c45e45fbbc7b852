/**
 * Agents that fail: they throw (before or after their first words, or while closing), report an
 * error, never answer (with or without honouring their signal) or yield nonsense. The client
 * always hears a clean error (never a thrown message), the server keeps serving, and afterwards
 * no run is counted and no session lock is held.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ApiError,
  type AgentBackend,
  type AgentEvent,
  type AgentRunInput,
  type ConfigInput,
} from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  sseChunks,
  sseData,
  startServer,
  untilAborted,
  userMessage,
  settled,
  waitFor,
  within,
  type TestServer,
} from './helpers.ts'

const SECRET = 'db password is hunter2'
const LONG = { timeout: 60_000 }

type Script = (input: AgentRunInput, signal: AbortSignal) => AsyncIterable<AgentEvent>

/**
 * Starts a server on `backend` (or, after each of its runs, a healthy one: the first call of a
 * session keeps failing), runs `body`, then checks the server is idle and still answers.
 */
const withServer = async (
  backend: AgentBackend,
  body: (server: TestServer) => Promise<void>,
  config: ConfigInput = {}
) => {
  let failing = true
  const healthy: AgentBackend = {
    name: 'failing-then-healthy',
    run: (input, signal) => (failing ? backend.run(input, signal) : okScript(input, signal)),
  }
  const server = await startServer({ backend: healthy, config })
  try {
    await body(server)
    await settled(server)
    failing = false
    // The same session again: a lock left behind would make this wait forever.
    const res = await within(
      chat(server, { user: 'alice', ...userMessage('again') }),
      'a later request on the same session'
    )
    assert.equal(res.status, 200)
    assert.equal((await res.json()).choices[0].message.content, 'fine')
    await settled(server)
  } finally {
    await server.close()
  }
}

const okScript: Script = async function* () {
  yield { type: 'text', delta: 'fine' }
  yield { type: 'done' }
}

const ask = (server: TestServer, stream: boolean) =>
  chat(server, { user: 'alice', stream, ...userMessage('hi') })

/** The events of a stream that answered 200: its text, its error (if any) and its end. */
const readStream = async (res: Response) => {
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const text = await res.text()
  const data = sseData(text)
  const chunks = sseChunks(text)
  const errors = chunks.filter((c) => 'error' in c)
  const content = chunks
    .filter((c) => !('error' in c))
    .map((c) => c.choices[0]?.delta?.content ?? '')
    .join('')
  return { text, data, chunks, errors, content }
}

/** A stream that ends with exactly one error event (with the envelope) and then [DONE]. */
const assertStreamError = async (res: Response, message: string | RegExp) => {
  const stream = await readStream(res)
  assert.equal(stream.data.at(-1), '[DONE]', stream.text)
  assert.equal(stream.errors.length, 1, stream.text)
  const last = JSON.parse(stream.data.at(-2)!)
  assert.deepEqual(Object.keys(last), ['error'])
  assert.deepEqual(Object.keys(last.error).sort(), ['code', 'message', 'param', 'type'])
  if (message instanceof RegExp) assert.match(last.error.message, message)
  else assert.equal(last.error.message, message)
  assert.ok(!stream.text.includes(SECRET), 'the thrown message must not reach the client')
  return stream
}

for (const stream of [false, true]) {
  describe(`a failing agent (stream: ${stream})`, () => {
    it('that throws before any output: internal error, nothing of the throw', async () => {
      const probe = probeBackend(async function* () {
        throw new Error(SECRET)
      })
      await withServer(probe.backend, async (server) => {
        const res = await ask(server, stream)
        if (stream) {
          const { content } = await assertStreamError(res, 'internal error')
          assert.equal(content, '')
        } else {
          const text = await res.clone().text()
          assert.ok(!text.includes(SECRET))
          await assertError(res, 500, { message: 'internal error' })
        }
      })
    })

    it('whose run() throws at once, or returns nothing iterable', async () => {
      for (const run of [
        () => {
          throw new Error(SECRET)
        },
        () => null as unknown as AsyncIterable<AgentEvent>,
        () => ({
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error(SECRET)) }),
        }),
      ]) {
        await withServer({ run }, async (server) => {
          const res = await ask(server, stream)
          if (stream) await assertStreamError(res, 'internal error')
          else await assertError(res, 500, { message: 'internal error' })
        })
      }
    })

    it('that yields an error event before any output: its message', async () => {
      const probe = probeBackend(async function* () {
        yield { type: 'error', message: 'the model is overloaded' }
      })
      await withServer(probe.backend, async (server) => {
        const res = await ask(server, stream)
        if (stream) await assertStreamError(res, 'the model is overloaded')
        else await assertError(res, 502, { message: 'the model is overloaded' })
      })
    })

    it('that throws mid-stream: the text so far, then an error', async () => {
      const probe = probeBackend(async function* () {
        yield { type: 'text', delta: 'Once upon ' }
        yield { type: 'text', delta: 'a time' }
        throw new Error(SECRET)
      })
      await withServer(probe.backend, async (server) => {
        const res = await ask(server, stream)
        if (stream) {
          const { content, data } = await assertStreamError(res, 'internal error')
          assert.equal(content, 'Once upon a time')
          assert.equal(data.length, 5) // role, two texts, the error, [DONE]
        } else {
          const text = await res.clone().text()
          assert.ok(!text.includes(SECRET))
          assert.ok(!text.includes('Once upon'))
          await assertError(res, 500, { message: 'internal error' })
        }
      })
    })

    it('that never answers: the run timeout ends it and fires its signal', LONG, async () => {
      const probe = probeBackend(async function* (_input, signal) {
        await untilAborted(signal)
      })
      const config = { agents: { defaults: { timeoutSeconds: 0.2 } } }
      await withServer(
        probe.backend,
        async (server) => {
          const res = await within(ask(server, stream), 'the answer')
          if (stream) await assertStreamError(res, /did not finish within 0.2 seconds/)
          else await assertError(res, 504, { message: /did not finish within 0.2 seconds/ })
          const reason = await within(probe.aborted, 'the backend signal to fire')
          assert.ok(reason instanceof ApiError)
          assert.equal(reason.status, 504)
        },
        config
      )
    })

    it('that never answers and ignores its signal: the timeout still ends it', LONG, async () => {
      const probe = probeBackend(async function* () {
        yield* []
        await new Promise(() => {})
      })
      const config = { agents: { defaults: { timeoutSeconds: 0.2 } } }
      await withServer(
        probe.backend,
        async (server) => {
          const res = await within(ask(server, stream), 'the answer')
          if (stream) await assertStreamError(res, /did not finish within 0.2 seconds/)
          else await assertError(res, 504, { message: /did not finish within 0.2 seconds/ })
          await within(probe.aborted, 'the backend signal to fire')
        },
        config
      )
    })

    it('whose cleanup throws after it is done: the answer stands', async () => {
      const probe = probeBackend(async function* () {
        try {
          yield { type: 'text', delta: 'all done' }
          yield { type: 'done' }
        } finally {
          // eslint-disable-next-line no-unsafe-finally
          throw new Error(SECRET)
        }
      })
      await withServer(probe.backend, async (server) => {
        const res = await ask(server, stream)
        if (stream) {
          const { content, errors, data } = await readStream(res)
          assert.equal(content, 'all done')
          assert.deepEqual(errors, [])
          assert.equal(data.at(-1), '[DONE]')
        } else {
          assert.equal(res.status, 200)
          assert.equal((await res.json()).choices[0].message.content, 'all done')
        }
      })
    })

    const malformed: [string, unknown][] = [
      ['an unknown type', { type: 'bogus' }],
      ['a text with a number', { type: 'text', delta: 5 }],
      ['null', null],
      ['a string', 'text'],
      [
        'tool calls with object arguments',
        { type: 'tool_calls', calls: [{ id: 'c', name: 'f', arguments: {} }] },
      ],
      ['tool calls that are not an array', { type: 'tool_calls', calls: 'f()' }],
      ['usage without counts', { type: 'usage', usage: null }],
      ['a done with a number as text', { type: 'done', text: 42 }],
      ['an error without a message', { type: 'error' }],
      ['an error with a success status', { type: 'error', message: 'fine', status: 200 }],
      ['an error with a status that is not one', { type: 'error', message: 'x', status: 'bad' }],
      ['an error with an impossible status', { type: 'error', message: 'x', status: 999 }],
      ['an error with a number as code', { type: 'error', message: 'x', code: 7 }],
    ]
    for (const [what, event] of malformed) {
      it(`that yields ${what}: an error, not a crash`, async () => {
        for (const before of [[], [{ type: 'text', delta: 'so far' }]] as AgentEvent[][]) {
          const probe = probeBackend(async function* () {
            yield* before
            yield event as AgentEvent
            yield { type: 'done' }
          })
          await withServer(probe.backend, async (server) => {
            const res = await ask(server, stream)
            if (stream) {
              const { content } = await assertStreamError(res, 'internal error')
              assert.equal(content, before.length ? 'so far' : '')
            } else await assertError(res, 500, { message: 'internal error' })
          })
        }
      })
    }
  })
}
