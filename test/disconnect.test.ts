/**
 * A client that goes away stops its agent run, and a server that shuts down ends every run: after
 * either, no run is counted and no session lock is held.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ApiError, type AgentEvent, type AgentRunInput } from '../src/index.ts'
import {
  bodyReader,
  chat,
  deferred,
  probeBackend,
  settled,
  sseChunks,
  sseData,
  untilAborted,
  userMessage,
  waitFor,
  within,
  withServer,
} from './helpers.ts'

/** A probe whose runs say `first` and then wait until they are aborted. */
const stuckProbe = () =>
  probeBackend(async function* (_input: AgentRunInput, signal: AbortSignal) {
    yield { type: 'text', delta: 'first' } satisfies AgentEvent
    await untilAborted(signal)
  })

/** Resolves when the client's request fails (as an aborted fetch does); fails if it succeeds. */
const rejected = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('expected the request to fail on the client side'),
    () => {}
  )

describe('a client that disconnects', () => {
  it('aborts the backend run when it drops a stream after the first bytes', async () => {
    const probe = stuckProbe()
    await withServer({ backend: probe.backend }, async (server) => {
      const client = new AbortController()
      const init = { signal: client.signal }
      const res = await chat(server, { stream: true, ...userMessage('hi') }, {}, init)
      assert.equal(res.status, 200)
      const body = bodyReader(res)
      await body.until((text) => text.includes('"content":"first"'))
      client.abort()
      await within(probe.aborted, 'the backend signal to fire')
      await settled(server)
    })
  })

  it('aborts the backend run when it drops a non-stream request', async () => {
    const probe = probeBackend(async function* (_input: AgentRunInput, signal: AbortSignal) {
      await untilAborted(signal)
      yield { type: 'done', text: 'too late' } satisfies AgentEvent
    })
    await withServer({ backend: probe.backend }, async (server) => {
      const client = new AbortController()
      const pending = chat(server, userMessage('hi'), {}, { signal: client.signal })
      await within(probe.started, 'the backend to start')
      client.abort()
      await within(rejected(pending), 'the request to fail')
      await within(probe.aborted, 'the backend signal to fire')
      await settled(server)
    })
  })

  it('stops the echo stalling before its first chunk of a stream', async () => {
    await withServer({}, async (server) => {
      const client = new AbortController()
      const res = await chat(
        server,
        { stream: true, ...userMessage('/stall 60000') },
        {},
        { signal: client.signal }
      )
      const body = bodyReader(res)
      await body.until((text) => text.includes('"role":"assistant"'))
      await waitFor(() => server.app.stats().activeRuns === 1, 'the run to start')
      client.abort()
      await settled(server)
    })
  })

  it('stops the echo stalling on a non-stream request', async () => {
    await withServer({}, async (server) => {
      const client = new AbortController()
      const pending = chat(server, userMessage('/stall 60000'), {}, { signal: client.signal })
      await waitFor(() => server.app.stats().activeRuns === 1, 'the run to start')
      client.abort()
      await within(rejected(pending), 'the request to fail')
      await settled(server)
    })
  })

  for (const stream of [false, true]) {
    it(`gives up its place in the session queue while waiting (stream: ${stream})`, async () => {
      const gate = deferred()
      const probe = probeBackend(async function* (input: AgentRunInput) {
        if (input.message === 'first') await gate.promise
        yield { type: 'text', delta: `answer to ${input.message}` } satisfies AgentEvent
        yield { type: 'done' } satisfies AgentEvent
      })
      await withServer({ backend: probe.backend }, async (server) => {
        const ask = (message: string, init: RequestInit = {}) =>
          chat(server, { user: 'Alice', stream, ...userMessage(message) }, {}, init)
        const first = ask('first')
        await within(probe.started, 'the first turn to start')
        const client = new AbortController()
        const second = ask('second', { signal: client.signal })
        await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
        const third = ask('third')
        await waitFor(() => server.app.stats().activeRuns === 3, 'the third turn to queue')
        assert.deepEqual(server.app.stats(), { activeRuns: 3, sessionLocks: 1 })

        if (stream) {
          // The stream's headers and role chunk go out before the turn gets the lock.
          const body = bodyReader(await second)
          await body.until((text) => text.includes('"role":"assistant"'))
          client.abort()
        } else {
          client.abort()
          await within(rejected(second), 'the second request to fail')
        }
        await waitFor(() => server.app.stats().activeRuns === 2, 'the aborted turn to leave')
        assert.equal(probe.inputs.length, 1)

        gate.resolve()
        const answer = async (res: Response) => {
          assert.equal(res.status, 200)
          if (!stream) return (await res.json()).choices[0].message.content
          return sseChunks(await res.text())
            .map((c) => c.choices[0]?.delta?.content ?? '')
            .join('')
        }
        assert.equal(await within(first.then(answer), 'the first answer'), 'answer to first')
        assert.equal(await within(third.then(answer), 'the third answer'), 'answer to third')
        assert.deepEqual(
          probe.inputs.map((i) => i.message),
          ['first', 'third']
        )
        await settled(server)
      })
    })
  }
})

/** A drain of 0 ms: runs still going when shutdown starts are aborted at once. */
const NO_DRAIN = { gateway: { drainTimeoutMs: 0 } }

describe('a server that shuts down', () => {
  it('lets an answer in flight finish within the drain time, while refusing new ones', async () => {
    const release = deferred()
    const probe = probeBackend(async function* () {
      yield { type: 'text', delta: 'first' } satisfies AgentEvent
      await release.promise
      yield { type: 'text', delta: ' second' } satisfies AgentEvent
      yield { type: 'done' } satisfies AgentEvent
    })
    await withServer({ backend: probe.backend }, async (server) => {
      const res = await chat(server, { stream: true, ...userMessage('hi') })
      const body = bodyReader(res)
      await body.until((text) => text.includes('"content":"first"'))
      server.shutdown.abort()
      const refused = await chat(server, userMessage('too late'))
      assert.equal(refused.status, 503)
      release.resolve()
      const text = await within(body.rest(), 'the stream to end')
      const chunks = sseChunks(text)
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'first second')
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop')
      assert.equal(sseData(text).at(-1), '[DONE]')
      assert.equal(probe.inputs.length, 1)
      await settled(server)
    })
  })

  it('ends a stream still going after the drain time with an error event and [DONE]', async () => {
    const probe = stuckProbe()
    await withServer({ backend: probe.backend, config: NO_DRAIN }, async (server) => {
      const res = await chat(server, { stream: true, ...userMessage('hi') })
      const body = bodyReader(res)
      await body.until((text) => text.includes('"content":"first"'))
      server.shutdown.abort()
      const data = sseData(await within(body.rest(), 'the stream to end'))
      assert.equal(data.at(-1), '[DONE]')
      const error = JSON.parse(data.at(-2)!)
      assert.equal(error.error.type, 'api_error')
      assert.match(error.error.message, /shutting down/)
      const reason = await within(probe.aborted, 'the backend signal to fire')
      assert.ok(reason instanceof ApiError)
      assert.equal(reason.status, 503)
      await settled(server)

      const after = await chat(server, userMessage('hi again'))
      assert.equal(after.status, 503)
      assert.equal((await after.json()).error.type, 'api_error')
      assert.equal(probe.inputs.length, 1)
    })
  })

  it('answers a non-stream request still going after the drain time with 503', async () => {
    const probe = stuckProbe()
    await withServer({ backend: probe.backend, config: NO_DRAIN }, async (server) => {
      const pending = chat(server, userMessage('hi'))
      await within(probe.started, 'the backend to start')
      server.shutdown.abort()
      const res = await within(pending, 'the answer')
      assert.equal(res.status, 503)
      assert.match((await res.json()).error.message, /shutting down/)
      await settled(server)
    })
  })
})
