import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentBackend, AgentEvent, AgentRunInput, AgentUsage } from '../src/index.ts'
import {
  bodyReader,
  chat,
  deferred,
  sseChunks,
  sseData,
  startServer,
  waitFor,
  type TestServer,
} from './helpers.ts'

type Script = (input: AgentRunInput, signal: AbortSignal) => AsyncIterable<AgentEvent>

/** A backend that runs the script named by the current message's text. */
const scriptedBackend = (scripts: Record<string, Script>): AgentBackend => ({
  name: 'scripted',
  run(input, signal) {
    const key = input.messages.findLast((m) => m.role === 'user' || m.role === 'tool')?.text ?? ''
    const script = scripts[key]
    if (!script) throw new Error(`no script for ${key}`)
    return script(input, signal)
  },
})

/** A script that yields `events` in order. */
const events = (...list: AgentEvent[]): Script =>
  async function* () {
    yield* list
  }

const say = (key: string, extra: Record<string, unknown> = {}) => ({
  model: 'openclaw',
  messages: [{ role: 'user', content: key }],
  ...extra,
})
const stream = (key: string, extra: Record<string, unknown> = {}) =>
  say(key, { stream: true, ...extra })

const LONG_ARGS = JSON.stringify({ path: '/tmp/notes.txt', text: 'lorem ipsum '.repeat(60) })
// A surrogate pair straddles the 256-character fragment boundary.
const EMOJI_ARGS = JSON.stringify({ s: 'a'.repeat(249) + '😀'.repeat(10) })

const usageCase = (usage: AgentUsage): Script =>
  events({ type: 'usage', usage }, { type: 'done', text: 'ok' })

const scripts: Record<string, Script> = {
  'two deltas': events(
    { type: 'text', delta: 'Hello, ' },
    { type: 'text', delta: 'world' },
    { type: 'usage', usage: { input: 42, output: 17 } },
    { type: 'done', stopReason: 'stop' }
  ),
  nothing: events({ type: 'done' }),
  'empty text': events({ type: 'text', delta: '' }, { type: 'done', text: '' }),
  'no done': events({ type: 'text', delta: 'cut short' }),
  'final only': events({ type: 'done', text: 'The final answer.' }),
  length: events({ type: 'text', delta: 'truncat' }, { type: 'done', stopReason: 'length' }),
  'length final': events({ type: 'done', text: 'truncat', stopReason: 'length' }),
  repeat: events({ type: 'text', delta: 'hi' }, { type: 'text', delta: 'hi' }, { type: 'done' }),
  'two calls': events(
    { type: 'text', delta: 'Let me check.' },
    {
      type: 'tool_calls',
      calls: [
        { id: 'call_1', name: 'get_weather', arguments: '{"city":"Taipei"}' },
        { id: 'call_2', name: 'get_time', arguments: '{"tz":"Asia/Taipei"}' },
      ],
    },
    { type: 'usage', usage: { input: 10, output: 5 } },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  'pure call': events(
    { type: 'tool_calls', calls: [{ id: 'call_9', name: 'get_weather', arguments: '{}' }] },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  'long call': events(
    {
      type: 'tool_calls',
      calls: [
        { id: 'call_a', name: 'write_file', arguments: LONG_ARGS },
        { id: 'call_b', name: 'noop', arguments: '' },
      ],
    },
    { type: 'usage', usage: { input: 7, output: 3 } },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  'emoji call': events(
    { type: 'tool_calls', calls: [{ id: 'call_e', name: 'echo', arguments: EMOJI_ARGS }] },
    { type: 'done' }
  ),
  'usage plain': usageCase({ input: 42, output: 17 }),
  'usage cached': usageCase({ input: 10, output: 5, cacheRead: 20, cacheWrite: 3 }),
  'usage total': usageCase({ input: 10, output: 5, total: 100 }),
  'usage only total': usageCase({ total: 123 }),
  'usage broken': usageCase({ input: Infinity, output: NaN, cacheRead: 2 }),
  'usage write': usageCase({ cacheWrite: 10, total: 10 }),
  fail: events({ type: 'error', message: 'Agent run failed: quota' }),
  'fail 504': events({ type: 'error', message: 'Agent timed out.', status: 504, code: 'timeout' }),
  'fail midway': events(
    { type: 'text', delta: 'partial ' },
    { type: 'text', delta: 'answer' },
    { type: 'error', message: 'upstream reset' }
  ),
  throw: async function* () {
    throw new Error('SECRET connection string postgres://admin:hunter2@db')
  },
  'throw midway': async function* () {
    yield { type: 'text', delta: 'so far ' }
    throw new Error('SECRET stack detail')
  },
  malformed: events({ type: 'bogus' } as unknown as AgentEvent, { type: 'done', text: 'never' }),
  prose: events({ type: 'text', delta: 'I would rather just talk.' }, { type: 'done' }),
  'other tool': events(
    { type: 'tool_calls', calls: [{ id: 'call_o', name: 'other', arguments: '{}' }] },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  'calls after prose': events(
    { type: 'text', delta: 'Calling it.' },
    { type: 'tool_calls', calls: [{ id: 'call_w', name: 'get_weather', arguments: '{}' }] },
    { type: 'done', stopReason: 'tool_calls' }
  ),
}

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object' } },
}

/** Reads a stream answer: checks status, headers and framing, and returns raw text and chunks. */
const readStream = async (res: Response, { comments = false } = {}) => {
  const raw = await res.text()
  assert.equal(res.status, 200, raw)
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  assert.equal(res.headers.get('cache-control'), 'no-cache')
  assert.equal(res.headers.get('x-accel-buffering'), 'no')
  assertFraming(raw, comments)
  return { raw, chunks: sseChunks(raw), data: sseData(raw) }
}

/** Only `data: <non-empty>` events (plus keep-alive comment lines when allowed), [DONE] last. */
const assertFraming = (raw: string, comments: boolean) => {
  assert.ok(raw.endsWith('\n\ndata: [DONE]\n\n'), raw)
  const blocks = raw.slice(0, -2).split('\n\n')
  for (const block of blocks) {
    const lines = block.split('\n')
    const data = lines.filter((l) => l.startsWith('data: '))
    assert.equal(data.length, 1, `one data line per event: ${JSON.stringify(block)}`)
    assert.ok(data[0].length > 'data: '.length, 'never an empty data line')
    for (const line of lines) {
      if (line.startsWith('data: ')) continue
      assert.ok(comments && line === ': keep-alive', `unexpected line ${JSON.stringify(line)}`)
    }
  }
}

const content = (chunks: any[]) =>
  chunks
    .filter((c) => c.choices?.[0]?.delta?.content !== undefined)
    .map((c) => c.choices[0].delta.content as string)

describe('chat answers', () => {
  let server: TestServer
  const logged: string[] = []
  before(async () => {
    server = await startServer({
      backend: scriptedBackend(scripts),
      logger: { info() {}, warn() {}, error: (m) => logged.push(m) },
    })
  })
  after(() => server.close())

  describe('non-stream', () => {
    it('answers with exactly the chat.completion shape', async () => {
      const before = Math.floor(Date.now() / 1000)
      const res = await chat(server, say('two deltas', { model: 'OpenClaw/Main' }))
      const after = Math.floor(Date.now() / 1000)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
      const body = await res.json()
      assert.match(
        body.id,
        /^chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
      )
      assert.ok(Number.isInteger(body.created) && body.created >= before && body.created <= after)
      assert.deepEqual(body, {
        id: body.id,
        object: 'chat.completion',
        created: body.created,
        model: 'OpenClaw/Main',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Hello, world', refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 42, completion_tokens: 17, total_tokens: 59 },
      })
    })

    it('gives each request its own id', async () => {
      const a = await (await chat(server, say('final only'))).json()
      const b = await (await chat(server, say('final only'))).json()
      assert.notEqual(a.id, b.id)
    })

    it('says No response from OpenClaw. when the agent returns no text (48)', async () => {
      for (const key of ['nothing', 'empty text']) {
        const body = await (await chat(server, say(key))).json()
        assert.equal(body.choices[0].message.content, 'No response from OpenClaw.')
        assert.equal(body.choices[0].finish_reason, 'stop')
        assert.deepEqual(body.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 })
      }
    })

    it('uses the final text when the agent streamed no deltas', async () => {
      const body = await (await chat(server, say('final only'))).json()
      assert.equal(body.choices[0].message.content, 'The final answer.')
    })

    it('keeps the streamed text of a run that ends without a done event', async () => {
      const body = await (await chat(server, say('no done'))).json()
      assert.equal(body.choices[0].message.content, 'cut short')
      assert.equal(body.choices[0].finish_reason, 'stop')
    })

    it('reports finish_reason length when the run stopped for length', async () => {
      const body = await (await chat(server, say('length'))).json()
      assert.equal(body.choices[0].finish_reason, 'length')
      assert.equal(body.choices[0].message.content, 'truncat')
    })

    it('returns tool calls without index, with the commentary as content (42)', async () => {
      const body = await (await chat(server, say('two calls', { tools: [weatherTool] }))).json()
      assert.deepEqual(body.choices[0], {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Let me check.',
          refusal: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Taipei"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'get_time', arguments: '{"tz":"Asia/Taipei"}' },
            },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      })
    })

    it('answers a pure tool call with content null (43)', async () => {
      const body = await (await chat(server, say('pure call', { tools: [weatherTool] }))).json()
      const { message } = body.choices[0]
      assert.equal(message.content, null)
      assert.equal(message.tool_calls.length, 1)
      assert.equal('index' in message.tool_calls[0], false)
      assert.equal(body.choices[0].finish_reason, 'tool_calls')
    })

    it('answers 502 with the agent’s message when the run fails before any output', async () => {
      const res = await chat(server, say('fail'))
      assert.equal(res.status, 502)
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.deepEqual(await res.json(), {
        error: { message: 'Agent run failed: quota', type: 'api_error', param: null, code: null },
      })
    })

    it('uses the status and code an error event gives', async () => {
      const res = await chat(server, say('fail 504'))
      assert.equal(res.status, 504)
      assert.deepEqual(await res.json(), {
        error: { message: 'Agent timed out.', type: 'api_error', param: null, code: 'timeout' },
      })
    })

    it('answers 502 when the run fails after some text', async () => {
      const res = await chat(server, say('fail midway'))
      assert.equal(res.status, 502)
      assert.equal((await res.json()).error.message, 'upstream reset')
    })

    it('answers 500 internal error for a backend that throws, and logs the cause', async () => {
      logged.length = 0
      for (const key of ['throw', 'throw midway']) {
        const res = await chat(server, say(key))
        const text = await res.text()
        assert.equal(res.status, 500)
        assert.deepEqual(JSON.parse(text), {
          error: { message: 'internal error', type: 'api_error', param: null, code: null },
        })
        assert.equal(text.includes('SECRET'), false)
      }
      assert.equal(logged.length, 2)
    })

    it('answers 500 internal error for a malformed event', async () => {
      const res = await chat(server, say('malformed'))
      assert.equal(res.status, 500)
      assert.equal((await res.json()).error.message, 'internal error')
    })

    it('answers 502 when tool_choice required is not satisfied', async () => {
      const res = await chat(
        server,
        say('prose', { tools: [weatherTool], tool_choice: 'required' })
      )
      assert.equal(res.status, 502)
      assert.deepEqual(await res.json(), {
        error: {
          message: 'tool_choice=required was not satisfied by the agent response',
          type: 'api_error',
          param: null,
          code: null,
        },
      })
    })

    it('answers 502 when a pinned tool_choice function is not the one called', async () => {
      const pinned = { type: 'function', function: { name: 'get_weather' } }
      for (const key of ['prose', 'other tool']) {
        const res = await chat(server, say(key, { tools: [weatherTool], tool_choice: pinned }))
        assert.equal(res.status, 502)
        assert.equal(
          (await res.json()).error.message,
          'tool_choice required a get_weather tool call, but the agent did not produce one'
        )
      }
    })

    it('answers 200 when a required tool_choice is satisfied', async () => {
      const res = await chat(
        server,
        say('calls after prose', { tools: [weatherTool], tool_choice: 'required' })
      )
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.choices[0].message.content, 'Calling it.')
      assert.equal(body.choices[0].message.tool_calls[0].function.name, 'get_weather')
    })
  })

  describe('usage mapping (47)', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['usage plain', { prompt_tokens: 42, completion_tokens: 17, total_tokens: 59 }],
      [
        'usage cached',
        {
          prompt_tokens: 30,
          completion_tokens: 5,
          total_tokens: 35,
          prompt_tokens_details: { cached_tokens: 20 },
        },
      ],
      ['usage total', { prompt_tokens: 10, completion_tokens: 5, total_tokens: 100 }],
      ['usage only total', { prompt_tokens: 0, completion_tokens: 0, total_tokens: 123 }],
      [
        'usage broken',
        {
          prompt_tokens: 2,
          completion_tokens: 0,
          total_tokens: 2,
          prompt_tokens_details: { cached_tokens: 2 },
        },
      ],
      ['usage write', { prompt_tokens: 0, completion_tokens: 0, total_tokens: 10 }],
    ]
    for (const [key, expected] of cases) {
      it(`maps ${key.replace('usage ', '')} backend counts to OpenAI usage`, async () => {
        const body = await (await chat(server, say(key))).json()
        assert.deepEqual(body.usage, expected)
        const { chunks } = await readStream(
          await chat(server, stream(key, { stream_options: { include_usage: true } }))
        )
        assert.deepEqual(chunks.at(-1).usage, expected)
      })
    }
  })

  describe('stream', () => {
    it('streams role, deltas, finish, usage and [DONE] with exactly these chunks', async () => {
      const res = await chat(
        server,
        stream('two deltas', { stream_options: { include_usage: true } })
      )
      const { chunks, data } = await readStream(res)
      const { id, created } = chunks[0]
      assert.match(id, /^chatcmpl-[0-9a-f-]{36}$/)
      const head = { id, object: 'chat.completion.chunk', created, model: 'openclaw' }
      const choice = (delta: unknown, finish_reason: string | null = null) => ({
        ...head,
        choices: [{ index: 0, delta, logprobs: null, finish_reason }],
        usage: null,
      })
      assert.deepEqual(chunks, [
        choice({ role: 'assistant', content: '' }),
        choice({ content: 'Hello, ' }),
        choice({ content: 'world' }),
        choice({}, 'stop'),
        {
          ...head,
          choices: [],
          usage: { prompt_tokens: 42, completion_tokens: 17, total_tokens: 59 },
        },
      ])
      assert.equal(data.at(-1), '[DONE]')
      assert.equal(data.filter((d) => d === '[DONE]').length, 1)
    })

    it('sends no usage field at all unless include_usage is true (51)', async () => {
      for (const extra of [{}, { stream_options: { include_usage: false } }]) {
        const { chunks, raw } = await readStream(await chat(server, stream('two deltas', extra)))
        assert.equal(raw.includes('usage'), false)
        assert.deepEqual(content(chunks), ['', 'Hello, ', 'world'])
        assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop')
      }
    })

    it('keeps id, created and the request’s model string on every chunk', async () => {
      const res = await chat(
        server,
        stream('two calls', { model: 'agent:MAIN', tools: [weatherTool] })
      )
      const { chunks } = await readStream(res)
      assert.ok(chunks.length > 3)
      for (const c of chunks) {
        assert.equal(c.id, chunks[0].id)
        assert.equal(c.created, chunks[0].created)
        assert.equal(c.model, 'agent:MAIN')
        assert.equal(c.object, 'chat.completion.chunk')
      }
    })

    it('emits repeated identical deltas both (52)', async () => {
      const { chunks } = await readStream(await chat(server, stream('repeat')))
      assert.deepEqual(content(chunks), ['', 'hi', 'hi'])
    })

    it('sends the final text in one chunk when the agent streamed no deltas (53)', async () => {
      const { chunks } = await readStream(await chat(server, stream('final only')))
      assert.deepEqual(content(chunks), ['', 'The final answer.'])
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop')
    })

    it('sends No response from OpenClaw. when there is no text at all', async () => {
      for (const key of ['nothing', 'empty text']) {
        const { chunks } = await readStream(await chat(server, stream(key)))
        assert.deepEqual(content(chunks), ['', 'No response from OpenClaw.'])
      }
    })

    it('reports finish_reason length in the finish chunk', async () => {
      for (const key of ['length', 'length final']) {
        const { chunks } = await readStream(await chat(server, stream(key)))
        assert.equal(content(chunks).join(''), 'truncat')
        assert.deepEqual(chunks.at(-1).choices, [
          { index: 0, delta: {}, logprobs: null, finish_reason: 'length' },
        ])
      }
    })

    it('streams tool calls as an opening fragment and pieces of ≤ 256 (54, 55)', async () => {
      const res = await chat(
        server,
        stream('long call', { tools: [weatherTool], stream_options: { include_usage: true } })
      )
      const { chunks } = await readStream(res)
      const calls = chunks.filter((c) => c.choices[0]?.delta?.tool_calls)
      for (const c of calls) assert.equal(c.choices[0].delta.tool_calls.length, 1)
      const parts = calls.map((c) => c.choices[0].delta.tool_calls[0])
      assert.deepEqual(parts[0], {
        index: 0,
        id: 'call_a',
        type: 'function',
        function: { name: 'write_file', arguments: '' },
      })
      const second = parts.findIndex((p) => p.index === 1)
      const fragments = parts.slice(1, second)
      assert.ok(LONG_ARGS.length > 512 && fragments.length >= 3)
      for (const f of fragments) {
        assert.deepEqual(Object.keys(f).sort(), ['function', 'index'])
        assert.deepEqual(Object.keys(f.function), ['arguments'])
        assert.ok(f.function.arguments.length <= 256)
      }
      assert.equal(fragments.map((f) => f.function.arguments).join(''), LONG_ARGS)
      // Even empty arguments get one fragment after the opening one.
      assert.deepEqual(parts.slice(second), [
        { index: 1, id: 'call_b', type: 'function', function: { name: 'noop', arguments: '' } },
        { index: 1, function: { arguments: '' } },
      ])
      const tail = chunks.slice(chunks.indexOf(calls.at(-1)) + 1)
      assert.deepEqual(
        tail.map((c) => [c.choices, c.usage]),
        [
          [[{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }], null],
          [[], { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }],
        ]
      )
      // A pure tool call streams no text, not even the no-response text.
      assert.deepEqual(content(chunks), [''])
    })

    it('never splits a surrogate pair between argument fragments', async () => {
      const { chunks } = await readStream(
        await chat(server, stream('emoji call', { tools: [weatherTool] }))
      )
      const args = chunks
        .filter((c) => c.choices[0]?.delta?.tool_calls)
        .map((c) => c.choices[0].delta.tool_calls[0].function.arguments as string)
        .slice(1)
      assert.ok(args.length >= 2)
      for (const a of args) assert.doesNotMatch(a, /[\ud800-\udbff]$|^[\udc00-\udfff]/)
      assert.equal(args.join(''), EMOJI_ARGS)
    })

    it('streams commentary before the tool calls', async () => {
      const { chunks } = await readStream(
        await chat(server, stream('two calls', { tools: [weatherTool] }))
      )
      const kinds = chunks.map((c) => {
        const d = c.choices[0].delta
        return d.tool_calls
          ? `call${d.tool_calls[0].index}`
          : d.content !== undefined
            ? 'text'
            : 'finish'
      })
      assert.deepEqual(kinds, ['text', 'text', 'call0', 'call0', 'call1', 'call1', 'finish'])
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls')
    })

    it('sends role, error and [DONE] but no finish chunk for an early failure', async () => {
      const { chunks, data } = await readStream(await chat(server, stream('fail')))
      assert.equal(data.length, 3)
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' })
      assert.deepEqual(chunks[1], {
        error: { message: 'Agent run failed: quota', type: 'api_error', param: null, code: null },
      })
      assert.equal(data[2], '[DONE]')
    })

    it('keeps the text sent before a failure and then sends the error', async () => {
      const { chunks } = await readStream(
        await chat(server, stream('fail midway', { stream_options: { include_usage: true } }))
      )
      assert.deepEqual(content(chunks), ['', 'partial ', 'answer'])
      assert.deepEqual(chunks.at(-1), {
        error: { message: 'upstream reset', type: 'api_error', param: null, code: null },
      })
      assert.equal(
        chunks.some((c) => c.choices?.[0]?.finish_reason),
        false
      )
    })

    it('sends internal error for a backend that throws and never its message', async () => {
      for (const [key, text] of [
        ['throw', ['']],
        ['throw midway', ['', 'so far ']],
      ] as const) {
        const { chunks, raw } = await readStream(await chat(server, stream(key)))
        assert.deepEqual(content(chunks), text)
        assert.deepEqual(chunks.at(-1), {
          error: { message: 'internal error', type: 'api_error', param: null, code: null },
        })
        assert.equal(raw.includes('SECRET'), false)
      }
    })

    it('sends an error, not the held prose, when tool_choice is not satisfied', async () => {
      const pinned = { type: 'function', function: { name: 'get_weather' } }
      for (const [tool_choice, message] of [
        ['required', 'tool_choice=required was not satisfied by the agent response'],
        [pinned, 'tool_choice required a get_weather tool call, but the agent did not produce one'],
      ] as const) {
        const res = await chat(server, stream('prose', { tools: [weatherTool], tool_choice }))
        const { chunks, raw } = await readStream(res)
        assert.equal(raw.includes('rather just talk'), false)
        assert.equal(chunks.length, 2)
        assert.deepEqual(chunks[1], {
          error: { message, type: 'api_error', param: null, code: null },
        })
      }
    })

    it('releases the held prose before the tool call when tool_choice is satisfied', async () => {
      const res = await chat(
        server,
        stream('calls after prose', { tools: [weatherTool], tool_choice: 'required' })
      )
      const { chunks } = await readStream(res)
      assert.deepEqual(content(chunks), ['', 'Calling it.'])
      assert.equal(chunks[2].choices[0].delta.tool_calls[0].id, 'call_w')
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls')
    })
  })

  it('leaves no run or session lock behind', async () => {
    await waitFor(() => server.app.stats().activeRuns === 0, 'runs to end')
    assert.deepEqual(server.app.stats(), { activeRuns: 0, sessionLocks: 0 })
  })
})

describe('heartbeats', () => {
  /** A backend whose runs wait for `gate` before they answer; `started` counts them. */
  const gatedBackend = () => {
    const state = { gate: deferred(), started: 0 }
    const backend: AgentBackend = {
      async *run() {
        state.started++
        await state.gate.promise
        yield { type: 'text', delta: 'after the wait' }
        yield { type: 'done' }
      },
    }
    return { state, backend }
  }
  const heartbeat = (seconds: number) => ({
    gateway: { http: { endpoints: { chatCompletions: { heartbeatSeconds: seconds } } } },
  })

  it('sends a keep-alive comment while the agent is silent', async () => {
    const { state, backend } = gatedBackend()
    const server = await startServer({ backend, config: heartbeat(0.05) })
    try {
      const res = await chat(server, stream('wait'))
      const reader = bodyReader(res)
      const seen = await reader.until((t) => t.includes(': keep-alive\n'))
      // The role chunk went out first, at once.
      assert.ok(seen.startsWith('data: {'))
      assert.equal(sseChunks(seen)[0].choices[0].delta.role, 'assistant')
      state.gate.resolve()
      const raw = await reader.rest()
      assertFraming(raw, true)
      assert.deepEqual(content(sseChunks(raw)), ['', 'after the wait'])
      assert.equal(sseData(raw).at(-1), '[DONE]')
    } finally {
      state.gate.resolve()
      await server.close()
    }
  })

  it('keeps sending keep-alives while a turn waits for its session', async () => {
    const { state, backend } = gatedBackend()
    const server = await startServer({ backend, config: heartbeat(0.05) })
    try {
      const first = chat(server, stream('one', { user: 'same' }))
      const firstRes = await first
      await waitFor(() => state.started === 1, 'the first run to start')
      const second = bodyReader(await chat(server, stream('two', { user: 'same' })))
      await second.until((t) => t.includes(': keep-alive\n'))
      assert.equal(state.started, 1, 'the second turn is still waiting')
      state.gate.resolve()
      assert.deepEqual(content(sseChunks(await firstRes.text())), ['', 'after the wait'])
      const raw = await second.rest()
      assert.deepEqual(content(sseChunks(raw)), ['', 'after the wait'])
      assert.equal(state.started, 2)
    } finally {
      state.gate.resolve()
      await server.close()
    }
  })

  it('sends keep-alives while held prose keeps arriving but nothing is written', async () => {
    // With tool_choice required, prose is held back: the client sees silence though the agent
    // talks. This agent talks, one delta per event-loop turn, until the test saw a keep-alive.
    let seen = false
    const backend: AgentBackend = {
      async *run() {
        while (!seen) {
          yield { type: 'text', delta: '.' }
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
        yield {
          type: 'tool_calls',
          calls: [{ id: 'call_h', name: 'get_weather', arguments: '{}' }],
        }
        yield { type: 'done', stopReason: 'tool_calls' }
      },
    }
    const server = await startServer({ backend, config: heartbeat(0.05) })
    try {
      const res = await chat(
        server,
        stream('talk', { tools: [weatherTool], tool_choice: 'required' })
      )
      const reader = bodyReader(res)
      await reader.until((t) => t.includes(': keep-alive\n'))
      seen = true
      const raw = await reader.rest()
      assertFraming(raw, true)
      const chunks = sseChunks(raw)
      assert.match(content(chunks).join(''), /^\.+$/)
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls')
    } finally {
      seen = true
      await server.close()
    }
  })

  it('sends no keep-alive when heartbeatSeconds is 0', async () => {
    const quiet = gatedBackend()
    const clock = gatedBackend()
    const server = await startServer({ backend: quiet.backend, config: heartbeat(0) })
    // Another server's heartbeats show that time passed: several intervals of 20 ms.
    const clockServer = await startServer({ backend: clock.backend, config: heartbeat(0.02) })
    try {
      const reader = bodyReader(await chat(server, stream('quiet')))
      await reader.until((t) => t.includes('\n\n'))
      await waitFor(() => quiet.state.started === 1, 'the quiet run to start')
      const rest = reader.rest()
      const ticks = bodyReader(await chat(clockServer, stream('tick')))
      await ticks.until((t) => t.split(': keep-alive').length > 5)
      quiet.state.gate.resolve()
      const raw = await rest
      assert.equal(raw.includes(':'.concat(' keep-alive')), false)
      assertFraming(raw, false)
      assert.deepEqual(content(sseChunks(raw)), ['', 'after the wait'])
      clock.state.gate.resolve()
      await ticks.rest()
    } finally {
      quiet.state.gate.resolve()
      clock.state.gate.resolve()
      await server.close()
      await clockServer.close()
    }
  })
})
