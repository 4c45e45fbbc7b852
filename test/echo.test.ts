import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentBackend } from '../src/index.ts'
import {
  bodyReader,
  chat,
  deferred,
  sseChunks,
  startServer,
  untilAborted,
  waitFor,
  type TestServer,
} from './helpers.ts'

const HISTORY = '[Chat messages since your last reply - for context]'
const CURRENT = '[Current message - respond to this]'

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object' } },
}
const timeTool = { type: 'function', function: { name: 'get_time' } }

const user = (content: string, extra: Record<string, unknown> = {}) => ({
  messages: [{ role: 'user', content }],
  ...extra,
})

const deltas = (text: string) =>
  sseChunks(text)
    .filter((c) => c.choices?.[0]?.delta?.content !== undefined)
    .map((c) => c.choices[0].delta.content as string)

/** The echo's token estimate: a quarter of the characters, rounded up. */
const tokens = (s: string) => Math.ceil(s.length / 4)

describe('the echo backend', () => {
  let server: TestServer
  before(async () => {
    server = await startServer()
  })
  after(() => server.close())

  const answer = async (body: unknown) => {
    const res = await chat(server, body)
    const json = await res.json()
    assert.equal(res.status, 200, JSON.stringify(json))
    return json
  }

  it('replies with exactly the prompt when there is no system text', async () => {
    const body = await answer(user('hello'))
    assert.equal(body.choices[0].message.content, 'hello')
    assert.equal(body.choices[0].finish_reason, 'stop')
  })

  it('puts the extra system prompt in a [System] block before the prompt', async () => {
    const body = await answer({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Use English.' },
        { role: 'user', content: 'hello' },
      ],
    })
    assert.equal(body.choices[0].message.content, '[System]\nBe brief.\n\nUse English.\n\nhello')
  })

  it('echoes the flattened history with its markers', async () => {
    const body = await answer({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'two' },
        { role: 'user', content: 'three' },
      ],
    })
    assert.equal(
      body.choices[0].message.content,
      `${HISTORY}\nUser: one\nAssistant: two\n\n${CURRENT}\nUser: three`
    )
  })

  it('reports usage as a quarter of the characters, rounded up', async () => {
    const plain = await answer(user('hello'))
    assert.deepEqual(plain.usage, { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 })
    const withSystem = await answer({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello' },
      ],
    })
    // prompt: 'Be brief.' + 'hello' = 14 characters; reply: '[System]\nBe brief.\n\nhello' = 25.
    assert.deepEqual(withSystem.usage, { prompt_tokens: 4, completion_tokens: 7, total_tokens: 11 })
  })

  it('streams the reply in chunks of 8 characters by default', async () => {
    const text = 'abcdefghijklmnopqrstuvwxyz'
    const res = await chat(
      server,
      user(text, { stream: true, stream_options: { include_usage: true } })
    )
    const raw = await res.text()
    assert.deepEqual(deltas(raw), ['', 'abcdefgh', 'ijklmnop', 'qrstuvwx', 'yz'])
    assert.deepEqual(sseChunks(raw).at(-1).usage, {
      prompt_tokens: tokens(text),
      completion_tokens: tokens(text),
      total_tokens: 2 * tokens(text),
    })
  })

  it('calls an offered client tool for /tool <name> <json-args>', async () => {
    const message = '/tool get_weather {"city":"Paris"}'
    const body = await answer(user(message, { tools: [timeTool, weatherTool] }))
    const choice = body.choices[0]
    assert.equal(choice.finish_reason, 'tool_calls')
    assert.equal(choice.message.content, null)
    assert.equal(choice.message.tool_calls.length, 1)
    const call = choice.message.tool_calls[0]
    assert.match(call.id, /^call_[0-9a-f]{24}$/)
    assert.deepEqual(call, {
      id: call.id,
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
    })
    // completion tokens count the tool's name and arguments.
    assert.deepEqual(body.usage, {
      prompt_tokens: tokens(message),
      completion_tokens: tokens('get_weather{"city":"Paris"}'),
      total_tokens: tokens(message) + tokens('get_weather{"city":"Paris"}'),
    })
  })

  it('calls the tool with {} when /tool gives no arguments', async () => {
    const body = await answer(user('/tool get_weather', { tools: [weatherTool] }))
    assert.equal(body.choices[0].message.tool_calls[0].function.arguments, '{}')
  })

  it('streams a /tool call as tool call chunks', async () => {
    const res = await chat(
      server,
      user('/tool get_weather {"city":"Oslo"}', { stream: true, tools: [weatherTool] })
    )
    const chunks = sseChunks(await res.text())
    const calls = chunks.filter((c) => c.choices[0]?.delta?.tool_calls)
    assert.equal(calls[0].choices[0].delta.tool_calls[0].function.name, 'get_weather')
    assert.equal(
      calls.map((c) => c.choices[0].delta.tool_calls[0].function.arguments).join(''),
      '{"city":"Oslo"}'
    )
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls')
  })

  it('echoes /tool as text when that tool was not offered', async () => {
    const message = '/tool get_weather {"city":"Paris"}'
    for (const extra of [
      {},
      { tools: [timeTool] },
      { tools: [weatherTool], tool_choice: 'none' },
    ]) {
      const body = await answer(user(message, extra))
      assert.equal(body.choices[0].message.content, message)
      assert.equal(body.choices[0].message.tool_calls, undefined)
      assert.equal(body.choices[0].finish_reason, 'stop')
    }
  })

  it('fails the run with the text after /error', async () => {
    const res = await chat(server, user('/error boom'))
    assert.equal(res.status, 502)
    assert.deepEqual(await res.json(), {
      error: { message: 'boom', type: 'api_error', param: null, code: null },
    })
    const bare = await chat(server, user('/error'))
    assert.equal(bare.status, 502)
    assert.equal((await bare.json()).error.message, 'echo error')
  })

  it('fails a stream with an error event for /error', async () => {
    const res = await chat(server, user('/error stream boom', { stream: true }))
    assert.equal(res.status, 200)
    const chunks = sseChunks(await res.text())
    assert.deepEqual(chunks.at(-1), {
      error: { message: 'stream boom', type: 'api_error', param: null, code: null },
    })
  })

  it('reads hooks from the current message, not from history or system text', async () => {
    const quiet = await answer({
      messages: [
        { role: 'system', content: '/error from system' },
        { role: 'user', content: '/error from history' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: 'hello' },
      ],
    })
    assert.equal(
      quiet.choices[0].message.content,
      `[System]\n/error from system\n\n${HISTORY}\nUser: /error from history\nAssistant: ok\n\n` +
        `${CURRENT}\nUser: hello`
    )
    // The flattened prompt starts with a marker, yet the current message's own text is the hook.
    const res = await chat(server, {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yes?' },
        { role: 'user', content: '/error late boom' },
      ],
    })
    assert.equal(res.status, 502)
    assert.equal((await res.json()).error.message, 'late boom')
    const tool = await answer({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: '/tool get_weather {}' },
        { role: 'user', content: 'and now?' },
      ],
      tools: [weatherTool],
    })
    assert.equal(tool.choices[0].finish_reason, 'stop')
  })

  it('reads a hook from a current tool result too', async () => {
    const res = await chat(server, {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'tool', tool_call_id: 'call_1', content: '/error tool failed' },
      ],
    })
    assert.equal(res.status, 502)
    assert.equal((await res.json()).error.message, 'tool failed')
  })

  it('answers after /stall with the echo of the message', async () => {
    const body = await answer(user('/stall 1'))
    assert.equal(body.choices[0].message.content, '/stall 1')
  })

  it('stops a /stall when the non-stream client goes away', async () => {
    const controller = new AbortController()
    const pending = chat(server, user('/stall 60000'), {}, { signal: controller.signal }).catch(
      (err: unknown) => err
    )
    await waitFor(() => server.app.stats().activeRuns === 1, 'the run to start')
    controller.abort()
    assert.ok((await pending) instanceof Error)
    await waitFor(() => server.app.stats().activeRuns === 0, 'the stalled run to stop')
    assert.deepEqual(server.app.stats(), { activeRuns: 0, sessionLocks: 0 })
  })

  it('stops a /stall when the stream reader goes away', async () => {
    const res = await chat(server, user('/stall 60000', { stream: true }))
    const reader = bodyReader(res)
    await reader.until((t) => t.includes('\n\n'))
    await waitFor(() => server.app.stats().activeRuns === 1, 'the run to start')
    await reader.cancel()
    await waitFor(() => server.app.stats().activeRuns === 0, 'the stalled run to stop')
    assert.deepEqual(server.app.stats(), { activeRuns: 0, sessionLocks: 0 })
  })
})

describe('the echo backend with chunkChars and delayMs set', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({ config: { backend: { type: 'echo', chunkChars: 3, delayMs: 1 } } })
  })
  after(() => server.close())

  it('streams chunks of the configured size', async () => {
    const res = await chat(server, user('abcdefgh', { stream: true }))
    assert.deepEqual(deltas(await res.text()), ['', 'abc', 'def', 'gh'])
  })

  it('still answers non-stream requests with the whole text', async () => {
    const res = await chat(server, user('abcdefgh'))
    assert.equal((await res.json()).choices[0].message.content, 'abcdefgh')
  })
})

describe('turns of one session', () => {
  let server: TestServer
  const log: string[] = []
  const gates = new Map<string, ReturnType<typeof deferred<void>>>()
  const gate = (key: string) => {
    if (!gates.has(key)) gates.set(key, deferred())
    return gates.get(key)!
  }
  /** Logs `start`/`end` per run and holds each run until the test opens its gate. */
  const backend: AgentBackend = {
    async *run(input, signal) {
      const key = input.message
      log.push(`start ${key}`)
      await Promise.race([gate(key).promise, untilAborted(signal)])
      log.push(signal.aborted ? `aborted ${key}` : `end ${key}`)
      yield { type: 'done', text: key }
    },
  }
  const started = (key: string) => log.includes(`start ${key}`)

  before(async () => {
    server = await startServer({ backend })
  })
  after(() => server.close())

  const ask = (key: string, userId?: string, init: RequestInit = {}) =>
    chat(server, user(key, userId ? { user: userId } : {}), {}, init)
  const expectAnswer = async (pending: Promise<Response>, key: string) => {
    const res = await pending
    assert.equal(res.status, 200)
    assert.equal((await res.json()).choices[0].message.content, key)
    return res
  }

  it('runs two turns with the same user one after the other', async () => {
    log.length = 0
    const first = ask('a1', 'alice')
    await waitFor(() => started('a1'), 'the first turn to start')
    const second = ask('a2', 'Alice')
    await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
    assert.deepEqual(server.app.stats(), { activeRuns: 2, sessionLocks: 1 })
    assert.deepEqual(log, ['start a1'])
    gate('a1').resolve()
    const a1 = await expectAnswer(first, 'a1')
    await waitFor(() => started('a2'), 'the second turn to start')
    assert.deepEqual(log, ['start a1', 'end a1', 'start a2'])
    gate('a2').resolve()
    const a2 = await expectAnswer(second, 'a2')
    assert.equal(a1.headers.get('x-openclaw-session-key'), a2.headers.get('x-openclaw-session-key'))
  })

  it('runs turns of different sessions at the same time', async () => {
    log.length = 0
    const bob = ask('b1', 'bob')
    const carol = ask('c1', 'carol')
    const anon1 = ask('n1')
    const anon2 = ask('n2')
    await waitFor(() => ['b1', 'c1', 'n1', 'n2'].every(started), 'all four turns to start')
    assert.deepEqual(server.app.stats(), { activeRuns: 4, sessionLocks: 4 })
    for (const key of ['b1', 'c1', 'n1', 'n2']) gate(key).resolve()
    await Promise.all([
      expectAnswer(bob, 'b1'),
      expectAnswer(carol, 'c1'),
      expectAnswer(anon1, 'n1'),
      expectAnswer(anon2, 'n2'),
    ])
  })

  it('lets a waiter that gives up leave the queue without blocking those behind it', async () => {
    log.length = 0
    const first = ask('d1', 'dave')
    await waitFor(() => started('d1'), 'the first turn to start')
    const controller = new AbortController()
    const quitter = ask('d2', 'dave', { signal: controller.signal }).catch((err: unknown) => err)
    await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
    const third = ask('d3', 'dave')
    await waitFor(() => server.app.stats().activeRuns === 3, 'the third turn to queue')
    controller.abort()
    assert.ok((await quitter) instanceof Error)
    await waitFor(() => server.app.stats().activeRuns === 2, 'the quitter to leave')
    assert.deepEqual(server.app.stats(), { activeRuns: 2, sessionLocks: 1 })
    assert.deepEqual(log, ['start d1'])
    gate('d1').resolve()
    await expectAnswer(first, 'd1')
    await waitFor(() => started('d3'), 'the third turn to start')
    gate('d3').resolve()
    await expectAnswer(third, 'd3')
    assert.deepEqual(log, ['start d1', 'end d1', 'start d3', 'end d3'])
  })

  it('releases the session at once when a turn fails', async () => {
    log.length = 0
    const first = ask('e1', 'erin')
    await waitFor(() => started('e1'), 'the first turn to start')
    const second = ask('e2', 'erin')
    await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
    gate('e1').reject(new Error('backend exploded'))
    const failed = await first
    assert.equal(failed.status, 500)
    assert.equal((await failed.json()).error.message, 'internal error')
    await waitFor(() => started('e2'), 'the second turn to start')
    gate('e2').resolve()
    await expectAnswer(second, 'e2')
  })

  it('releases the session when a running turn’s client goes away', async () => {
    log.length = 0
    const controller = new AbortController()
    const first = ask('f1', 'frank', { signal: controller.signal }).catch((err: unknown) => err)
    await waitFor(() => started('f1'), 'the first turn to start')
    const second = ask('f2', 'frank')
    await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
    controller.abort()
    assert.ok((await first) instanceof Error)
    // The session goes to the next turn as soon as the first one is aborted, without waiting
    // for its backend to wind down (a backend may ignore its signal).
    await waitFor(() => started('f2') && log.includes('aborted f1'), 'f2 to start, f1 to stop')
    assert.deepEqual(log.slice(0, 1), ['start f1'])
    assert.deepEqual([...log].sort(), ['aborted f1', 'start f1', 'start f2'])
    gate('f2').resolve()
    await expectAnswer(second, 'f2')
  })

  it('leaves no run or session lock behind', async () => {
    await waitFor(() => server.app.stats().activeRuns === 0, 'runs to end')
    assert.deepEqual(server.app.stats(), { activeRuns: 0, sessionLocks: 0 })
  })
})
