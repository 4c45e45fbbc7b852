/**
 * The Responses API (`POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`) against real
 * listening servers: the checks before a turn, what the agent receives (flattened as the
 * reference gateway does it: captures 03, 05, 08a–d, 19, 32, 34, 47, 60, 61 of
 * ../shared/reference/openclaw-responses), the answer in both modes, sessions and stored
 * responses, and the turn's lifetime (the session lock, disconnects, the run timeout, the
 * shutdown drain, heartbeats).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent, ConfigInput } from '../src/index.ts'
import { memoryResponseStore } from '../src/responses/store.ts'
import { nodeClientAddress } from '../src/runtimes/node.ts'
import {
  assertError,
  bodyReader,
  deferred,
  settled,
  startBareServer,
  startServer,
  untilAborted,
  waitFor,
  within,
  withServer,
  type TestServer,
} from './helpers.ts'
import {
  base64,
  createResponse,
  deleteResponse,
  events,
  finalResponse,
  getResponse,
  parseEvents,
  readEvents,
  recordingBackend,
  RESPONSES_ON,
  streamedText,
  tinyPdf,
  withoutIds,
  type Script,
  type StreamEvent,
} from './responses-helpers.ts'

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
const HISTORY = '[Chat messages since your last reply - for context]'
const CURRENT = '[Current message - respond to this]'

// A real 1x1 PNG (capture 50).
const PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='
const PNG_URI = `data:image/png;base64,${PNG_BASE64}`
// "Hello from a file.\nLine 2 of the file.\n" (capture 60).
const HELLO_FILE = 'SGVsbG8gZnJvbSBhIGZpbGUuCkxpbmUgMiBvZiB0aGUgZmlsZS4K'

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Get the weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}
const WEATHER_CHAT_SHAPE = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the weather for a city',
    parameters: WEATHER.parameters,
  },
}
const TIME = { type: 'function', name: 'get_time', strict: true }
/** How the agent gets WEATHER, whichever shape it came in. */
const WEATHER_FOR_AGENT = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the weather for a city',
    parameters: WEATHER.parameters,
  },
}

/** The `<file>` block of capture 60, its random id matched (and the same at both ends). */
const fileBlock = (name: string, text: string) =>
  new RegExp(
    `^<file name="${name}">\\n\\n<<<EXTERNAL_UNTRUSTED_CONTENT id="([0-9a-f]{16})">>>\\n` +
      `Source: External\\n---\\n${text}\\n<<<END_EXTERNAL_UNTRUSTED_CONTENT id="\\1">>>\\n</file>$`
  )

const LONG_ARGS = JSON.stringify({ path: '/tmp/notes.txt', text: 'lorem ipsum '.repeat(60) })

/** Answers the echo cannot give, picked by the current message's text. */
const SCRIPTS: Record<string, Script> = {
  'two deltas': events(
    { type: 'text', delta: 'Hello, ' },
    { type: 'text', delta: 'world' },
    { type: 'usage', usage: { input: 42, output: 17 } },
    { type: 'done', stopReason: 'stop' }
  ),
  nothing: events({ type: 'done' }),
  'final only': events({ type: 'done', text: 'The final answer.' }),
  'final extends': events(
    { type: 'text', delta: 'The final' },
    { type: 'done', text: 'The final answer.' }
  ),
  length: events(
    { type: 'text', delta: 'This answer was cut sh' },
    { type: 'usage', usage: { input: 3, output: 16 } },
    { type: 'done', stopReason: 'length' }
  ),
  'text then calls': events(
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
    { type: 'tool_calls', calls: [{ id: 'call_l', name: 'get_weather', arguments: LONG_ARGS }] },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  'usage cached': events(
    { type: 'text', delta: 'from the cache' },
    { type: 'usage', usage: { input: 10, output: 5, cacheRead: 20, cacheWrite: 3 } },
    { type: 'done' }
  ),
  'usage total': events(
    { type: 'text', delta: 'counted' },
    { type: 'usage', usage: { input: 10, output: 5, total: 100 } },
    { type: 'done' }
  ),
  fail: events({ type: 'error', message: 'Agent run failed: quota' }),
  'fail 429': events({ type: 'error', message: 'Slow down.', status: 429 }),
  'fail 400': events({ type: 'error', message: 'The prompt is too long.', status: 400 }),
  'fail 504': events({ type: 'error', message: 'Agent timed out.', status: 504 }),
  'fail midway': events(
    { type: 'text', delta: 'partial ' },
    { type: 'text', delta: 'answer' },
    { type: 'error', message: 'upstream reset' }
  ),
  throw: async function* () {
    throw new Error('SECRET connection string')
  },
}

/** Resolves when the client's request fails (as an aborted fetch does); fails if it succeeds. */
const rejected = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('expected the request to fail on the client side'),
    () => {}
  )

describe('the Responses endpoint', () => {
  it('is off by default: 404 on every route, saying how to turn it on', async () => {
    await withServer({}, async (server) => {
      const message = /`gateway\.http\.endpoints\.responses\.enabled: true`/
      for (const res of [
        await createResponse(server, { input: 'hi' }),
        await createResponse(server, { input: 'hi' }, { authorization: '' }),
        await getResponse(server, 'resp_x'),
        await deleteResponse(server, 'resp_x'),
        await fetch(`${server.url}/v1/responses`),
      ]) {
        await assertError(res, 404, { message, code: 'endpoint_disabled' })
      }
    })
  })

  describe('when on', () => {
    let server: TestServer
    before(async () => {
      server = await startServer({ config: RESPONSES_ON })
    })
    after(() => server.close())

    it('answers other methods 405 with Allow, before auth', async () => {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
        const res = await fetch(`${server.url}/v1/responses`, { method })
        assert.equal(res.headers.get('allow'), 'POST')
        await assertError(res, 405, { code: 'method_not_allowed', message: /use POST/ })
      }
      for (const method of ['POST', 'PUT', 'PATCH']) {
        const res = await fetch(`${server.url}/v1/responses/resp_x`, { method })
        assert.equal(res.headers.get('allow'), 'GET, DELETE')
        await assertError(res, 405, { code: 'method_not_allowed' })
      }
    })

    it('answers 401 without the token or with a wrong one, on every route', async () => {
      for (const authorization of ['', 'Bearer wrong-token']) {
        await assertError(await createResponse(server, { input: 'hi' }, { authorization }), 401, {
          code: 'invalid_api_key',
        })
        await assertError(await getResponse(server, 'resp_x', { authorization }), 401)
        await assertError(await deleteResponse(server, 'resp_x', { authorization }), 401)
      }
    })

    it('answers a plain string input with the prompt the echo agent got', async () => {
      const res = await createResponse(server, { model: 'openclaw', input: 'hello there' })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'main')
      const body = await res.json()
      assert.equal(body.status, 'completed')
      assert.equal(body.output[0].content[0].text, 'hello there')
    })

    it('refuses a request the schema does not allow, naming the field', async () => {
      const cases: [unknown, string | null, string | RegExp][] = [
        [{}, 'input', 'Missing required field `input`.'],
        [{ input: null }, 'input', 'Missing required field `input`.'],
        [[], null, 'The request body must be a JSON object.'],
        [{ input: 42 }, 'input', '`input` must be a string or an array of items.'],
        [{ input: 'hi', stream: 'true' }, 'stream', '`stream` must be a boolean.'],
        [{ input: 'hi', temperature: 5 }, 'temperature', '`temperature` must be between 0 and 2.'],
        [{ input: 'hi', top_p: 1.5 }, 'top_p', '`top_p` must be between 0 and 1.'],
        [{ input: 'hi', max_output_tokens: 0 }, 'max_output_tokens', /positive integer/],
        [{ input: 'hi', metadata: { n: 1 } }, 'metadata.n', '`metadata` values must be strings.'],
        [{ input: 'hi', text: { format: { type: 'xml' } } }, 'text.format.type', /text\.format/],
        [{ input: 'hi', model: 'gpt-4o' }, 'model', /Invalid `model`/],
        [
          { input: 'hi', model: 'openclaw/nobody' },
          'model',
          "Unknown agent 'nobody'. Agents: main, beta.",
        ],
        [{ input: '' }, 'input', 'Missing user message in `input`.'],
        [{ input: [] }, 'input', 'Missing user message in `input`.'],
        [{ input: [{ role: 'system', content: 'only system' }] }, 'input', /Missing user message/],
      ]
      for (const [body, param, message] of cases) {
        await assertError(await createResponse(server, body), 400, { param, message })
      }
      // Validation comes before any SSE byte: a stream request gets the JSON error (capture 09).
      const res = await createResponse(server, { input: 'hi', stream: true, top_p: 2 })
      await assertError(res, 400, { param: 'top_p' })
    })
  })

  describe('operator scopes (auth mode none, x-openclaw-scopes)', () => {
    let server: TestServer
    const probe = recordingBackend()
    before(async () => {
      server = await startBareServer({
        config: { gateway: { auth: { mode: 'none' }, ...RESPONSES_ON.gateway } },
        backend: probe.backend,
      })
    })
    after(() => server.close())

    const scoped = (scopes: string) => ({ 'x-openclaw-scopes': scopes })
    const missing = (scope: string) => ({
      message: `missing scope: ${scope}`,
      type: 'permission_error',
      code: 'missing_scope',
    })

    it('needs operator.write to create, and runs the turn as the owner only with admin', async () => {
      const runs = probe.inputs.length
      for (const scopes of ['', 'operator.read', 'operator.approvals']) {
        await assertError(
          await createResponse(server, { input: 'hi' }, scoped(scopes)),
          403,
          missing('operator.write')
        )
      }
      assert.equal(probe.inputs.length, runs, 'no turn ran')
      for (const [scopes, owner] of [
        ['operator.write', false],
        ['operator.sessions.write', false],
        ['operator.admin', true],
      ] as const) {
        const res = await createResponse(server, { input: 'hi' }, scoped(scopes))
        assert.equal(res.status, 200, await res.text())
        assert.equal(probe.last().senderIsOwner, owner, scopes)
      }
    })

    it('needs operator.read to read a stored response and operator.write to delete it', async () => {
      const { id } = await (await createResponse(server, { input: 'keep me' })).json()
      await assertError(await getResponse(server, id, scoped('')), 403, missing('operator.read'))
      assert.equal((await getResponse(server, id, scoped('operator.read'))).status, 200)
      assert.equal((await getResponse(server, id, scoped('operator.write'))).status, 200)
      await assertError(
        await deleteResponse(server, id, scoped('operator.read')),
        403,
        missing('operator.write')
      )
      assert.equal((await deleteResponse(server, id, scoped('operator.write'))).status, 200)
    })
  })
})

describe('what the agent receives', () => {
  let server: TestServer
  const probe = recordingBackend()
  before(async () => {
    server = await startServer({ config: RESPONSES_ON, backend: probe.backend })
  })
  after(() => server.close())

  /** Sends `body`, expects 200 and one turn; returns its input and the answer. */
  const run = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const before = probe.inputs.length
    const res = await createResponse(server, body, headers)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.equal(probe.inputs.length, before + 1, 'one turn ran')
    return { input: probe.last(), body: JSON.parse(text), res }
  }

  /** Sends `body`, expects a 400 naming `param` and that no turn ran; returns the error. */
  const refused = async (body: Record<string, unknown>, param: string | null, message?: RegExp) => {
    const before = probe.inputs.length
    const error = await assertError(await createResponse(server, body), 400, { param, message })
    assert.equal(probe.inputs.length, before, 'no turn ran')
    return error
  }

  const user = (content: unknown) => ({ type: 'message', role: 'user', content })

  describe('the prompt, flattened as the reference gateway does it', () => {
    it('a string input: the bare text, on a fresh session, with nothing else', async () => {
      const { input, body } = await run({ model: 'openclaw', input: 'hello there' })
      assert.equal(input.runId, body.id)
      assert.match(input.runId, /^resp_[0-9a-f]{32}$/)
      assert.equal(input.agentId, 'main')
      assert.match(input.sessionKey, new RegExp(`^agent:main:openresponses:${UUID}$`))
      assert.equal(input.messageChannel, 'webchat')
      assert.equal(input.message, 'hello there')
      assert.equal('extraSystemPrompt' in input, false)
      assert.deepEqual(input.messages, [{ role: 'user', text: 'hello there' }])
      assert.deepEqual(input.images, [])
      assert.deepEqual(input.clientTools, [])
      assert.equal(input.toolChoice, undefined)
      assert.deepEqual(input.streamParams, {})
      assert.equal(input.senderIsOwner, true)
    })

    it('passes x-openclaw-model (an admin may send it) and the message channel on', async () => {
      const { input } = await run(
        { input: 'hi' },
        { 'x-openclaw-model': 'openai/gpt-5.4', 'x-openclaw-message-channel': 'Slack' }
      )
      assert.equal(input.modelOverride, 'openai/gpt-5.4')
      assert.equal(input.messageChannel, 'slack')
      const runs = probe.inputs.length
      const bad = await createResponse(server, { input: 'hi' }, { 'x-openclaw-model': 'a b' })
      await assertError(bad, 400, { message: 'Invalid `x-openclaw-model`.' })
      assert.equal(probe.inputs.length, runs)
    })

    it('instructions first, then system and developer items; history between markers (03)', async () => {
      const items = [
        { type: 'message', role: 'system', content: 'SYS: be terse' },
        {
          type: 'message',
          role: 'developer',
          content: [{ type: 'input_text', text: 'DEV: use plain words' }],
        },
        { type: 'message', role: 'user', content: 'q1' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'a1' }] },
        user([
          { type: 'input_text', text: 'q2 part one' },
          { type: 'input_text', text: 'q2 part two' },
        ]),
      ]
      const expected = {
        extraSystemPrompt: 'INSTR top-level\n\nSYS: be terse\n\nDEV: use plain words',
        message: `${HISTORY}\nUser: q1\nAssistant: a1\n\n${CURRENT}\nUser: q2 part one\nq2 part two`,
        messages: [
          { role: 'system', text: 'INSTR top-level' },
          { role: 'system', text: 'SYS: be terse' },
          { role: 'developer', text: 'DEV: use plain words' },
          { role: 'user', text: 'q1' },
          { role: 'assistant', text: 'a1' },
          { role: 'user', text: 'q2 part one\nq2 part two' },
        ],
      }
      const { input, body } = await run({ instructions: 'INSTR top-level', input: items })
      assert.deepEqual(
        {
          extraSystemPrompt: input.extraSystemPrompt,
          message: input.message,
          messages: input.messages,
        },
        expected
      )
      assert.equal(body.instructions, 'INSTR top-level')
      // OpenAI's own shape: messages without `type` (what the AI SDK sends) read the same.
      const untyped = items.map(({ type: _, ...rest }) => rest)
      const again = (await run({ instructions: 'INSTR top-level', input: untyped })).input
      assert.deepEqual(
        {
          extraSystemPrompt: again.extraSystemPrompt,
          message: again.message,
          messages: again.messages,
        },
        expected
      )
    })

    it('instructions alone become the system prompt (02)', async () => {
      const { input } = await run({ input: 'hi', instructions: 'INSTR: always answer politely.' })
      assert.equal(input.extraSystemPrompt, 'INSTR: always answer politely.')
      assert.equal(input.message, 'hi')
    })

    it('the system prompt: instructions, system items, the tool_choice sentence, then files', async () => {
      const { input } = await run({
        instructions: 'INSTR',
        tools: [WEATHER],
        tool_choice: 'required',
        input: [
          { role: 'developer', content: 'DEV' },
          user([
            { type: 'input_text', text: '/tool get_weather {}' },
            {
              type: 'input_file',
              filename: 'hello.txt',
              file_data: `data:text/plain;base64,${HELLO_FILE}`,
            },
          ]),
        ],
      })
      const prompt = input.extraSystemPrompt!
      const at = prompt.indexOf('<file ')
      assert.equal(
        prompt.slice(0, at),
        'INSTR\n\nDEV\n\nYou must call one of the available tools before responding.\n\n'
      )
      const file = prompt.slice(at)
      assert.match(file, fileBlock('hello.txt', 'Hello from a file.\nLine 2 of the file.\n'))
    })

    it('assistant-only input is the message (05)', async () => {
      const { input } = await run({
        input: [{ type: 'message', role: 'assistant', content: 'only an assistant item' }],
      })
      assert.equal(input.message, 'only an assistant item')
    })

    it('a trailing assistant item is dropped (08a)', async () => {
      const { input } = await run({
        input: [user('q1'), { type: 'message', role: 'assistant', content: 'a1 (trailing)' }],
      })
      assert.equal(input.message, 'q1')
    })

    it('an empty last user item makes the one before it current (08b)', async () => {
      const { input } = await run({
        input: [user('q1'), { type: 'message', role: 'assistant', content: 'a1' }, user('')],
      })
      assert.equal(input.message, 'q1')
    })

    it('two user items in a row: the first is history (08c)', async () => {
      const { input } = await run({ input: [user('first user item'), user('second user item')] })
      assert.equal(
        input.message,
        `${HISTORY}\nUser: first user item\n\n${CURRENT}\nUser: second user item`
      )
    })

    it('a tool output before the user item is a Tool:<call_id> line (08d)', async () => {
      const { input } = await run({
        input: [
          { type: 'function_call_output', call_id: 'c1', output: 'out1' },
          user('user after tool output'),
        ],
      })
      assert.equal(
        input.message,
        `${HISTORY}\nTool:c1: out1\n\n${CURRENT}\nUser: user after tool output`
      )
    })

    it('a function_call with only an id names the call by it (19)', async () => {
      const { input } = await run({
        input: [
          user('q'),
          { type: 'function_call', id: 'fc_only_id', name: 'get_weather', arguments: '{}' },
          { type: 'function_call_output', call_id: 'fc_only_id', output: '42' },
          user('and now?'),
        ],
      })
      assert.equal(
        input.message,
        `${HISTORY}\nUser: q\nAssistant: tool_call id=fc_only_id name=get_weather arguments={}\n` +
          `Tool:fc_only_id: 42\n\n${CURRENT}\nUser: and now?`
      )
    })

    it('a full tool round trip: the output is the current message (32, 34)', async () => {
      const call = {
        type: 'function_call',
        id: 'call_1df78c54-da1e-4ab0-9cef-fe865ae25c87',
        call_id: '5170f4ded',
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
      }
      const history =
        `${HISTORY}\nUser: MOCK_TOOL what is the weather?\n` +
        `Assistant: tool_call id=5170f4ded name=get_weather arguments={"city":"Paris"}\n\n${CURRENT}\n`
      for (const [output, last] of [
        ['sunny 21C', 'Tool:5170f4ded: sunny 21C'],
        ['', 'Tool:5170f4ded: '],
      ]) {
        const { input } = await run({
          tools: [WEATHER],
          input: [
            user('MOCK_TOOL what is the weather?'),
            call,
            { type: 'function_call_output', call_id: '5170f4ded', output },
          ],
        })
        assert.equal(input.message, history + last)
        assert.deepEqual(input.messages, [
          { role: 'user', text: 'MOCK_TOOL what is the weather?' },
          {
            role: 'assistant',
            text: '',
            toolCalls: [{ id: '5170f4ded', name: 'get_weather', arguments: '{"city":"Paris"}' }],
          },
          { role: 'tool', text: output, toolCallId: '5170f4ded' },
        ])
      }
    })

    it('a lone function_call_output keeps its Tool:<call_id> label (47)', async () => {
      const { input } = await run({
        input: [{ type: 'function_call_output', call_id: 'call_x', output: 'sunny 22C' }],
      })
      assert.equal(input.message, 'Tool:call_x: sunny 22C')
    })

    it("takes a tool output given as a list of parts (OpenAI's shape; 46)", async () => {
      const { input } = await run({
        input: [
          {
            type: 'function_call_output',
            call_id: 'call_x',
            output: [
              { type: 'input_text', text: 'sunny' },
              { type: 'input_text', text: '22C' },
            ],
          },
        ],
      })
      assert.equal(input.message, 'Tool:call_x: sunny\n22C')
    })

    it('passes max_output_tokens, temperature, top_p and text.format on (07)', async () => {
      const schema = { type: 'object', properties: { a: { type: 'string' } } }
      const { input, body } = await run({
        input: 'hi',
        max_output_tokens: 77,
        temperature: 0.3,
        top_p: 0.9,
        text: { format: { type: 'json_schema', name: 'thing', schema, strict: true } },
      })
      assert.deepEqual(input.streamParams, {
        maxTokens: 77,
        temperature: 0.3,
        topP: 0.9,
        responseFormat: {
          type: 'json_schema',
          json_schema: { name: 'thing', schema, strict: true },
        },
      })
      assert.equal(body.max_output_tokens, 77)
      assert.equal(body.temperature, 0.3)
      assert.equal(body.top_p, 0.9)
      const json = await run({ input: 'hi', text: { format: { type: 'json_object' } } })
      assert.deepEqual(json.input.streamParams, { responseFormat: { type: 'json_object' } })
    })

    it("accepts OpenAI's other fields (ignored) and null for absent (77)", async () => {
      const { input, body } = await run({
        model: 'openclaw',
        input: 'hi',
        parallel_tool_calls: false,
        service_tier: 'auto',
        include: ['message.output_text.logprobs'],
        prompt_cache_key: 'k',
        safety_identifier: 's',
        background: false,
        truncation: 'auto',
        reasoning: { effort: 'minimal', summary: 'auto' },
        max_tool_calls: 3,
        top_logprobs: 2,
        stream_options: { include_obfuscation: false },
        prompt: { id: 'pmpt_1' },
        conversation: 'conv_1',
        text: { format: { type: 'text' }, verbosity: 'low' },
        metadata: { trace: 'abc' },
        frobnicate: { anything: true },
        user: null,
        instructions: null,
        temperature: null,
        previous_response_id: null,
      })
      assert.equal(input.message, 'hi')
      assert.deepEqual(input.streamParams, {})
      assert.equal(body.parallel_tool_calls, false)
      assert.deepEqual(body.metadata, { trace: 'abc' })
    })
  })

  describe('items', () => {
    it('skips reasoning, an unknown item_reference and unknown item types (06)', async () => {
      const { input } = await run({
        input: [
          { type: 'reasoning', summary: 'ignored' },
          { type: 'item_reference', id: 'msg_whatever' },
          { type: 'web_search_call', id: 'ws_1', status: 'completed' },
          { type: 'frobnicate', text: 'ignored' },
          user('after ignored items'),
        ],
      })
      assert.equal(input.message, 'after ignored items')
      assert.deepEqual(input.messages, [{ role: 'user', text: 'after ignored items' }])
    })

    it('resolves an item_reference to an output item of an earlier response', async () => {
      const first = (await run({ input: 'first question' })).body
      const called = (await run({ tools: [WEATHER], input: '/tool get_weather {"city":"Oslo"}' }))
        .body
      const [message] = first.output
      const [call] = called.output
      assert.equal(message.type, 'message')
      assert.equal(call.type, 'function_call')
      const { input } = await run({
        input: [
          user('first question'),
          { type: 'item_reference', id: message.id },
          { type: 'item_reference', id: call.id },
          { type: 'function_call_output', call_id: call.call_id, output: 'cold' },
          user('and now?'),
        ],
      })
      assert.equal(
        input.message,
        `${HISTORY}\nUser: first question\nAssistant: first question\n` +
          `Assistant: tool_call id=${call.call_id} name=get_weather arguments={"city":"Oslo"}\n` +
          `Tool:${call.call_id}: cold\n\n${CURRENT}\nUser: and now?`
      )
    })

    it('reads custom tool calls like function calls, and refusal parts as text', async () => {
      const { input } = await run({
        input: [
          user('patch it'),
          {
            type: 'custom_tool_call',
            call_id: 'c7',
            name: 'apply_patch',
            input: '*** Begin Patch',
          },
          { type: 'custom_tool_call_output', call_id: 'c7', output: 'applied' },
          { role: 'assistant', content: [{ type: 'refusal', refusal: 'I will not do more.' }] },
          user('why?'),
        ],
      })
      assert.equal(
        input.message,
        `${HISTORY}\nUser: patch it\nAssistant: tool_call id=c7 name=apply_patch arguments=*** Begin Patch\n` +
          `Tool:c7: applied\nAssistant: I will not do more.\n\n${CURRENT}\nUser: why?`
      )
    })

    it('refuses items without a type or role, and message items without a valid role', async () => {
      await refused(
        { input: [user('hi'), { content: 'no type, no role' }] },
        'input[1]',
        /needs a `type` \(or a `role`, for a message\)/
      )
      await refused({ input: [{ type: 'message', content: 'no role' }] }, 'input[0].role')
      await refused({ input: [{ role: 'tool', content: 'x' }] }, 'input[0].role', /Invalid role/)
      await refused({ input: ['just a string'] }, 'input[0]', /must be an object/)
      await refused({ input: [{ type: 'function_call', name: 'x' }] }, 'input[0]', /call_id/)
      await refused({ input: [{ type: 'function_call_output', output: 'x' }] }, 'input[0].call_id')
      await refused(
        { input: [user([{ type: 'input_audio', input_audio: {} }])] },
        'input[0].content[0]',
        /Unsupported content part type 'input_audio'/
      )
      await refused({ input: [user([{ type: 'input_text' }])] }, 'input[0].content[0]', /string/)
      await refused({ input: [user({ text: 'an object' })] }, 'input[0].content')
    })
  })

  describe('images', () => {
    const imagePart = (extra: Record<string, unknown>) => ({ type: 'input_image', ...extra })
    const base64Source = (media_type: string, data: string) => ({
      source: { type: 'base64', media_type, data },
    })

    it('takes an input_image as a source (50) or as an image_url data URI (55)', async () => {
      for (const image of [
        imagePart(base64Source('image/png', PNG_BASE64)),
        imagePart({ image_url: PNG_URI, detail: 'auto' }),
      ]) {
        const { input } = await run({
          input: [user([{ type: 'input_text', text: 'what is this?' }, image])],
        })
        assert.equal(input.message, 'what is this?')
        assert.deepEqual(input.images, [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }])
        assert.deepEqual(input.messages[0].imageUrls, [PNG_URI])
      }
    })

    it('an image-only message gets the placeholder text (51)', async () => {
      const { input } = await run({
        input: [user([imagePart(base64Source('image/png', PNG_BASE64))])],
      })
      assert.equal(input.message, 'User sent image(s) with no text.')
      assert.equal(input.images.length, 1)
    })

    it('decodes only the current message’s images (57)', async () => {
      const { input } = await run({
        input: [
          user([
            { type: 'input_text', text: 'old' },
            imagePart({ image_url: 'data:image/png;base64,!!' }),
          ]),
          { role: 'assistant', content: 'seen' },
          user('new question'),
        ],
      })
      assert.deepEqual(input.images, [])
      assert.equal(
        input.message,
        `${HISTORY}\nUser: old\nAssistant: seen\n\n${CURRENT}\nUser: new question`
      )
    })

    it('refuses a bad image with a 400 that says what is wrong and where (52–54)', async () => {
      const text = { type: 'input_text', text: 'look' }
      const cases: [Record<string, unknown>, RegExp][] = [
        [base64Source('image/png', '!!not base64!!'), /payload is not valid base64/],
        [base64Source('image/bmp', PNG_BASE64), /The image type 'image\/bmp' is not allowed/],
        [base64Source('image/png', btoa('just some text, no image')), /bytes are not image\/png/],
        [{ image_url: 'data:image/png,notbase64' }, /must be base64 encoded/],
        [{ image_url: 'ftp://host/a.png' }, /Only data: URIs and http\(s\) URLs/],
        [{ file_id: 'file_123' }, /`file_id` images are not supported here: send `image_url`/],
      ]
      for (const [extra, message] of cases) {
        const error = await refused(
          { input: [user('hi'), user([text, imagePart(extra)])] },
          'input[1].content[1]',
          message
        )
        if (!('file_id' in extra))
          assert.match(error.message, /^Invalid input_image content in `input`\. /)
      }
    })
  })

  describe('files', () => {
    const filePart = (extra: Record<string, unknown>) => ({ type: 'input_file', ...extra })
    const hello = {
      source: { type: 'base64', media_type: 'text/plain', data: HELLO_FILE, filename: 'hello.txt' },
    }
    const HELLO_TEXT = 'Hello from a file.\nLine 2 of the file.\n'

    it('puts a text file into the system prompt in untrusted-content markers (60)', async () => {
      const { input } = await run({
        input: [user([{ type: 'input_text', text: 'summarise the file' }, filePart(hello)])],
      })
      assert.equal(input.message, 'summarise the file')
      assert.match(input.extraSystemPrompt!, fileBlock('hello.txt', HELLO_TEXT))
      // Backends that keep roles get the block as a system message just before the turn.
      assert.equal(input.messages.length, 2)
      assert.deepEqual(input.messages[0], { role: 'system', text: input.extraSystemPrompt })
      assert.deepEqual(input.messages[1], { role: 'user', text: 'summarise the file', files: 1 })
    })

    it("takes OpenAI's file_data data URI (64), after the instructions", async () => {
      const { input } = await run({
        instructions: 'be brief',
        input: [
          user([
            { type: 'input_text', text: 'read it' },
            filePart({
              filename: 'notes.md',
              file_data: `data:text/markdown;base64,${HELLO_FILE}`,
            }),
          ]),
        ],
      })
      const [instructions, block] = input.extraSystemPrompt!.split(/\n\n(?=<file )/)
      assert.equal(instructions, 'be brief')
      assert.match(block, fileBlock('notes.md', HELLO_TEXT))
    })

    it('takes a declared type with parameters (text/plain; charset=utf-8) as its type', async () => {
      const source = { type: 'base64', media_type: 'Text/Plain; charset=utf-8', data: HELLO_FILE }
      const { input } = await run({
        input: [user([{ type: 'input_text', text: 'read' }, filePart({ source })])],
      })
      assert.match(input.extraSystemPrompt!, fileBlock('file', HELLO_TEXT))
    })

    it('takes file_data as bare base64, its type from the filename', async () => {
      const { input } = await run({
        input: [
          user([
            { type: 'input_text', text: 'read' },
            filePart({ filename: 'data.csv', file_data: btoa('a,b\n1,2\n') }),
          ]),
        ],
      })
      assert.match(input.extraSystemPrompt!, fileBlock('data.csv', 'a,b\n1,2\n'))
    })

    it('a file-only message gets the placeholder, and an unnamed file is "file" (61)', async () => {
      const { input } = await run({
        input: [
          user([
            filePart({ source: { type: 'base64', media_type: 'text/plain', data: HELLO_FILE } }),
          ]),
        ],
      })
      assert.equal(input.message, 'User sent file(s) with no text.')
      assert.match(input.extraSystemPrompt!, fileBlock('file', HELLO_TEXT))
    })

    it('reads the text layer of a PDF', async () => {
      const pdf = base64(tinyPdf('Hello from a PDF.'))
      const { input } = await run({
        input: [
          user([
            { type: 'input_text', text: 'what does it say?' },
            filePart({ filename: 'hello.pdf', file_data: `data:application/pdf;base64,${pdf}` }),
          ]),
        ],
      })
      assert.match(input.extraSystemPrompt!, fileBlock('hello.pdf', 'Hello from a PDF\\.\\s*'))
    })

    it('refuses a file it cannot read as text, saying why (62, 63)', async () => {
      const text = { type: 'input_text', text: 'read it' }
      const source = (media_type: string, data: string) => ({
        source: { type: 'base64', media_type, data },
      })
      const cases: [Record<string, unknown>, RegExp][] = [
        [source('image/png', PNG_BASE64), /The file type 'image\/png' is not allowed/],
        [source('application/zip', HELLO_FILE), /The file type 'application\/zip' is not allowed/],
        [source('text/plain', '!!!'), /not valid base64/],
        [
          { filename: 'scan.pdf', file_data: `data:application/pdf;base64,${base64(tinyPdf())}` },
          /The PDF has no text layer/,
        ],
        [
          { file_data: `data:application/pdf;base64,${btoa('%PDF-1.4 garbage')}` },
          /The PDF could not be read/,
        ],
        [{ file_id: 'file_1' }, /`file_id` files are not supported here: send `file_data`/],
        [{ file_url: 'https://files.example/a.txt' }, /not in files\.urlAllowlist/],
      ]
      for (const [extra, message] of cases) {
        const error = await refused(
          { input: [user([text, filePart(extra)])] },
          'input[0].content[1]',
          message
        )
        if (!('file_id' in extra))
          assert.match(error.message, /^Invalid input_file content in `input`\. /)
      }
    })

    it('fetches an allow-listed file URL, named by its last segment; maxUrlParts counts the whole input', async () => {
      const fetched: string[] = []
      const fakeFetch = (async (url: URL | string) => {
        fetched.push(String(url))
        const headers = { 'content-type': 'text/plain; charset=utf-8' }
        return new Response('Fetched text.', { headers })
      }) as typeof fetch
      const config = {
        gateway: {
          http: {
            endpoints: {
              responses: {
                enabled: true,
                maxUrlParts: 1,
                files: { urlAllowlist: ['files.example'] },
              },
            },
          },
        },
      }
      const local = recordingBackend()
      await withServer({ config, backend: local.backend, fetch: fakeFetch }, async (other) => {
        const url = (name: string) => filePart({ file_url: `https://files.example/${name}` })
        const res = await createResponse(other, {
          input: [user([{ type: 'input_text', text: 'read' }, url('a.txt')])],
        })
        assert.equal(res.status, 200, await res.text())
        assert.deepEqual(fetched, ['https://files.example/a.txt'])
        assert.match(local.last().extraSystemPrompt!, fileBlock('a.txt', 'Fetched text\\.'))

        // Named by the URL's last segment, decoded; kept as sent when it does not decode.
        for (const [name, shown] of [
          ['r%C3%A9sum%C3%A9.txt', 'résumé.txt'],
          ['%E0%A4%A', '%E0%A4%A'],
        ]) {
          const res = await createResponse(other, {
            input: [user([{ type: 'input_text', text: 'read' }, url(name)])],
          })
          assert.equal(res.status, 200, await res.text())
          assert.match(local.last().extraSystemPrompt!, fileBlock(shown, 'Fetched text\\.'))
        }

        // One URL in an earlier message and one in the current: two in the input.
        const twice = await createResponse(other, {
          input: [
            user([{ type: 'input_image', image_url: 'https://img.example/a.png' }]),
            user([{ type: 'input_text', text: 'read' }, url('b.txt')]),
          ],
        })
        await assertError(twice, 400, {
          param: 'input',
          message: 'At most 1 images and files may be given by URL per request.',
        })
        assert.equal(fetched.length, 3, 'nothing fetched for a refused request')
        assert.equal(local.inputs.length, 3)
      })
    })
  })

  describe('tools and tool_choice', () => {
    it('gives the agent flat function tools and the chat shape alike; others are left out', async () => {
      for (const tools of [
        [WEATHER, TIME],
        [
          WEATHER_CHAT_SHAPE,
          { type: 'web_search' },
          { type: 'namespace', name: 'ns', tools: [] },
          TIME,
        ],
      ]) {
        const { input, body } = await run({ input: 'hi', tools })
        assert.deepEqual(input.clientTools, [
          WEATHER_FOR_AGENT,
          { type: 'function', function: { name: 'get_time', strict: true } },
        ])
        assert.equal(input.toolChoice, 'auto')
        assert.equal('extraSystemPrompt' in input, false)
        assert.deepEqual(body.tools, [
          { ...WEATHER, strict: null },
          { type: 'function', name: 'get_time', description: null, parameters: null, strict: true },
        ])
        assert.equal(body.tool_choice, 'auto')
      }
    })

    it('tool_choice auto gives every tool and adds nothing to the prompt (41)', async () => {
      const { input, body } = await run({ input: 'hi', tools: [WEATHER], tool_choice: 'auto' })
      assert.deepEqual(input.clientTools, [WEATHER_FOR_AGENT])
      assert.equal(input.toolChoice, 'auto')
      assert.equal('extraSystemPrompt' in input, false)
      assert.equal(body.tool_choice, 'auto')
    })

    it('tool_choice none hides the tools (40)', async () => {
      const { input, body } = await run({ input: 'hi', tools: [WEATHER], tool_choice: 'none' })
      assert.deepEqual(input.clientTools, [])
      assert.equal(input.toolChoice, 'none')
      assert.equal(body.tool_choice, 'none')
    })

    it('tool_choice required asks for a call in the system prompt (42a)', async () => {
      const { input, body } = await run({
        input: '/tool get_time {}',
        tools: [WEATHER, TIME],
        tool_choice: 'required',
      })
      assert.equal(input.toolChoice, 'required')
      assert.equal(input.clientTools.length, 2)
      assert.equal(
        input.extraSystemPrompt,
        'You must call one of the available tools before responding.'
      )
      assert.equal(body.output[0].name, 'get_time')
    })

    it('a named tool_choice, in either shape, gives only that tool (43a, 43b)', async () => {
      for (const choice of [
        { type: 'function', name: 'get_weather' },
        { type: 'function', function: { name: 'get_weather' } },
      ]) {
        const { input, body } = await run({
          instructions: 'be brief',
          input: '/tool get_weather {"city":"Paris"}',
          tools: [WEATHER, TIME],
          tool_choice: choice,
        })
        assert.deepEqual(input.clientTools, [WEATHER_FOR_AGENT])
        assert.deepEqual(input.toolChoice, { type: 'function', function: { name: 'get_weather' } })
        assert.equal(
          input.extraSystemPrompt,
          'be brief\n\nYou must call the get_weather tool before responding.'
        )
        // Echoed in the Responses shape, whichever came in (the spec has only that one).
        assert.deepEqual(body.tool_choice, { type: 'function', name: 'get_weather' })
        assert.equal(body.output[0].arguments, '{"city":"Paris"}')
      }
    })

    it('refuses a tool_choice that cannot be met, before the turn (44a–d)', async () => {
      const cases: [unknown, unknown[], RegExp][] = [
        [{ type: 'function', name: 'nope' }, [WEATHER], /unknown tool: nope/],
        ['required', [], /required but no tools were provided/],
        ['sometimes', [WEATHER], /unsupported tool_choice type/],
        [{ type: 'web_search' }, [WEATHER], /tool_choice web_search is not supported/],
      ]
      for (const [tool_choice, tools, message] of cases) {
        await refused({ input: 'hi', tools, tool_choice }, 'tool_choice', message)
      }
      await refused({ input: 'hi', tools: [{ type: 'function' }] }, 'tools[0].name', /is required/)
      await refused({ input: 'hi', tools: [{ name: 'x' }] }, 'tools[0].type')
    })

    it('holds the agent to tool_choice: 502 non-stream, response.failed in a stream (42b, 42c, 43c)', async () => {
      const unmet = [
        ['required', 'tool_choice=required was not satisfied by the agent response'],
        [
          { type: 'function', name: 'get_weather' },
          'tool_choice required a get_weather tool call, but the agent did not produce one',
        ],
      ] as const
      for (const [tool_choice, message] of unmet) {
        const body = { input: 'no tool for you', tools: [WEATHER], tool_choice }
        const res = await createResponse(server, body)
        assert.equal(res.headers.get('x-should-retry'), 'false')
        await assertError(res, 502, { message, param: null })
        const { events: list } = await readEvents(
          await createResponse(server, { ...body, stream: true })
        )
        assert.deepEqual(
          list.map((e) => e.type),
          ['response.created', 'response.in_progress', 'response.failed'],
          'no text is streamed while a call is still required'
        )
        const failed = finalResponse(list)
        assert.equal(failed.status, 'failed')
        assert.deepEqual(failed.error, { code: 'server_error', message })
        assert.deepEqual(failed.output, [])
      }
    })

    it('refuses client tools up front when the backend cannot take them', async () => {
      const local = recordingBackend()
      const backend = { ...local.backend, capabilities: { clientTools: false } }
      await withServer({ config: RESPONSES_ON, backend }, async (other) => {
        await assertError(await createResponse(other, { input: 'hi', tools: [WEATHER] }), 400, {
          param: 'tools',
          code: 'unsupported_parameter',
          message: /Client tools are not available with the recording backend/,
        })
        assert.equal(local.inputs.length, 0)
        // Hiding them passes; so do tools of other types, which never reach the agent.
        for (const body of [
          { input: 'hi', tools: [WEATHER], tool_choice: 'none' },
          { input: 'hi', tools: [{ type: 'web_search' }] },
        ]) {
          const res = await createResponse(other, body)
          assert.equal(res.status, 200, await res.text())
        }
      })
    })
  })
})

describe('answers', () => {
  let server: TestServer
  const logged: string[] = []
  before(async () => {
    server = await startServer({
      config: RESPONSES_ON,
      backend: recordingBackend(SCRIPTS).backend,
      logger: { info() {}, warn() {}, error: (m) => logged.push(m) },
    })
  })
  after(() => server.close())

  const TOOLS = [WEATHER, TIME]
  const ask = (key: string, extra: Record<string, unknown> = {}) =>
    createResponse(server, { model: 'openclaw', input: key, tools: TOOLS, ...extra })
  const answer = async (key: string, extra: Record<string, unknown> = {}) => {
    const res = await ask(key, extra)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    return JSON.parse(text)
  }
  const stream = async (key: string, extra: Record<string, unknown> = {}) =>
    (await readEvents(await ask(key, { stream: true, ...extra }))).events
  const types = (list: StreamEvent[]) => list.map((e) => e.type)

  const usage = (
    input: number,
    output: number,
    cached = 0,
    written = 0,
    total = input + output
  ) => ({
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached, cache_write_tokens: written },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: total,
  })
  const text = (t: string) => ({ type: 'output_text', text: t, annotations: [], logprobs: [] })
  const message = (id: string, t: string, phase = 'final_answer', status = 'completed') => ({
    type: 'message',
    id,
    status,
    role: 'assistant',
    content: [text(t)],
    phase,
  })

  describe('non-stream', () => {
    it('is a whole Response object with a message item', async () => {
      const before = Math.floor(Date.now() / 1000)
      const res = await ask('two deltas', {
        model: 'openclaw/beta',
        tools: undefined,
        instructions: 'be kind',
        metadata: { k: 'v' },
        max_output_tokens: 50,
      })
      const after = Math.floor(Date.now() / 1000)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'beta')
      const body = await res.json()
      assert.match(body.id, /^resp_[0-9a-f]{32}$/)
      assert.match(body.output[0].id, /^msg_[0-9a-f]{32}$/)
      assert.ok(body.created_at >= before && body.created_at <= after)
      assert.ok(body.completed_at >= body.created_at && body.completed_at <= after)
      assert.deepEqual(body, {
        id: body.id,
        object: 'response',
        created_at: body.created_at,
        status: 'completed',
        error: null,
        incomplete_details: null,
        instructions: 'be kind',
        max_output_tokens: 50,
        model: 'openclaw/beta',
        output: [message(body.output[0].id, 'Hello, world')],
        parallel_tool_calls: true,
        previous_response_id: null,
        store: true,
        temperature: null,
        text: { format: { type: 'text' } },
        tool_choice: 'auto',
        tools: [],
        top_p: null,
        truncation: 'disabled',
        usage: usage(42, 17),
        metadata: { k: 'v' },
        completed_at: body.completed_at,
      })
    })

    it('gives each response its own id', async () => {
      const a = await answer('final only')
      const b = await answer('final only')
      assert.notEqual(a.id, b.id)
      assert.notEqual(a.output[0].id, b.output[0].id)
    })

    it('uses the final text when nothing streamed, or what extends it; a placeholder for nothing', async () => {
      assert.equal((await answer('final only')).output[0].content[0].text, 'The final answer.')
      assert.equal((await answer('final extends')).output[0].content[0].text, 'The final answer.')
      const empty = await answer('nothing')
      assert.deepEqual(empty.output, [message(empty.output[0].id, 'No response from OpenClaw.')])
      assert.deepEqual(empty.usage, usage(0, 0))
    })

    it('lists tool calls as function_call items, after the text the agent wrote first (35)', async () => {
      const body = await answer('text then calls')
      const [msg, first, second] = body.output
      assert.deepEqual(body.output, [
        message(msg.id, 'Let me check.', 'commentary'),
        {
          type: 'function_call',
          id: first.id,
          call_id: 'call_1',
          name: 'get_weather',
          arguments: '{"city":"Taipei"}',
          status: 'completed',
        },
        {
          type: 'function_call',
          id: second.id,
          call_id: 'call_2',
          name: 'get_time',
          arguments: '{"tz":"Asia/Taipei"}',
          status: 'completed',
        },
      ])
      assert.match(first.id, /^fc_[0-9a-f]{32}$/)
      assert.notEqual(first.id, second.id)
      assert.equal(body.status, 'completed')
      assert.deepEqual(body.usage, usage(10, 5))
    })

    it('has no empty message item before a tool-only answer (30)', async () => {
      const body = await answer('pure call')
      assert.deepEqual(
        body.output.map((item: { type: string }) => item.type),
        ['function_call']
      )
      assert.equal(body.output[0].call_id, 'call_9')
    })

    it('is incomplete when the agent stopped for length (82a)', async () => {
      const res = await ask('length')
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.status, 'incomplete')
      assert.deepEqual(body.incomplete_details, { reason: 'max_output_tokens' })
      assert.deepEqual(body.output, [
        message(body.output[0].id, 'This answer was cut sh', 'final_answer', 'incomplete'),
      ])
      assert.ok(body.completed_at)
    })

    it('counts input as input + cache reads + cache writes, with both in the details', async () => {
      assert.deepEqual((await answer('usage cached')).usage, usage(33, 5, 20, 3))
      assert.deepEqual((await answer('usage total')).usage, usage(10, 5, 0, 0, 100))
    })

    it('answers a failed turn with the error envelope and the status it came with', async () => {
      const cases: [string, number, string][] = [
        ['fail', 502, 'Agent run failed: quota'],
        ['fail 429', 429, 'Slow down.'],
        ['fail 400', 400, 'The prompt is too long.'],
        ['fail 504', 504, 'Agent timed out.'],
        ['fail midway', 502, 'upstream reset'],
        ['throw', 500, 'internal error'],
      ]
      for (const [key, status, message] of cases) {
        const res = await ask(key)
        assert.equal(res.headers.get('x-openclaw-agent-id'), 'main', 'still says where it went')
        // The agent ran: SDKs must not run it again on their own, but after a rate limit.
        const retry = status === 429 ? null : 'false'
        assert.equal(res.headers.get('x-should-retry'), retry, key)
        await assertError(res, status, { message, param: null })
      }
      assert.ok(logged.some((line) => /backend failed/.test(line)))
    })
  })

  describe('stream', () => {
    it('sends the events in order, named by their type and numbered from 0 (20)', async () => {
      const res = await ask('two deltas', { stream: true })
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'main')
      assert.match(res.headers.get('x-openclaw-session-key')!, /^agent:main:openresponses:/)
      const { events: list, heartbeats } = await readEvents(res)
      assert.equal(heartbeats, 0)
      assert.deepEqual(types(list), [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ])
      const [created, inProgress, added, partAdded, d1, d2, textDone, partDone, itemDone, done] =
        list
      const id = added.item.id
      for (const snapshot of [created, inProgress]) {
        assert.equal(snapshot.response.status, 'in_progress')
        assert.deepEqual(snapshot.response.output, [])
        // Counted when the answer is done: the spec's usage is optional, not nullable.
        assert.equal('usage' in snapshot.response, false)
        assert.equal(snapshot.response.error, null)
      }
      assert.equal(created.response.id, done.response.id)
      assert.deepEqual(added.item, {
        type: 'message',
        id,
        status: 'in_progress',
        role: 'assistant',
        content: [],
      })
      assert.equal(added.output_index, 0)
      const at = { item_id: id, output_index: 0, content_index: 0 }
      assert.deepEqual(partAdded, {
        type: partAdded.type,
        sequence_number: 3,
        ...at,
        part: text(''),
      })
      assert.deepEqual([d1.delta, d2.delta], ['Hello, ', 'world'])
      for (const { sequence_number: _, ...delta } of [d1, d2]) {
        const fields = {
          type: 'response.output_text.delta',
          ...at,
          delta: delta.delta,
          logprobs: [],
        }
        assert.deepEqual(delta, fields)
      }
      assert.equal(textDone.text, 'Hello, world')
      assert.deepEqual(textDone.logprobs, [])
      assert.deepEqual(partDone.part, text('Hello, world'))
      assert.deepEqual(itemDone.item, message(id, 'Hello, world'))
      assert.equal(done.response.status, 'completed')
      assert.deepEqual(done.response.output, [itemDone.item])
      assert.deepEqual(done.response.usage, usage(42, 17))
    })

    it('streams text, then each call with its argument events (36, 31)', async () => {
      const list = await stream('text then calls')
      assert.deepEqual(types(list), [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.completed',
      ])
      assert.equal(list[7].item.phase, 'commentary')
      const [added, delta, argsDone, itemDone] = list.slice(8, 12)
      const fc = added.item.id
      assert.deepEqual(added.item, {
        type: 'function_call',
        id: fc,
        call_id: 'call_1',
        name: 'get_weather',
        arguments: '',
        status: 'in_progress',
      })
      assert.equal(added.output_index, 1)
      assert.deepEqual(
        [delta.item_id, delta.output_index, delta.delta],
        [fc, 1, '{"city":"Taipei"}']
      )
      assert.deepEqual(
        [argsDone.item_id, argsDone.output_index, argsDone.name, argsDone.arguments],
        [fc, 1, 'get_weather', '{"city":"Taipei"}']
      )
      assert.deepEqual(itemDone.item, {
        ...added.item,
        arguments: '{"city":"Taipei"}',
        status: 'completed',
      })
      assert.equal(list[12].output_index, 2)
      assert.equal(list[12].item.call_id, 'call_2')
      assert.equal(finalResponse(list).output.length, 3)
    })

    it('sends long arguments in fragments of at most 256 characters', async () => {
      const list = await stream('long call')
      const deltas = list.filter((e) => e.type === 'response.function_call_arguments.delta')
      assert.ok(deltas.length > 1)
      assert.ok(deltas.every((d) => d.delta.length <= 256))
      assert.equal(deltas.map((d) => d.delta).join(''), LONG_ARGS)
      // No message item: a tool-only answer opens none (unlike the reference's empty one).
      assert.equal(list[2].item.type, 'function_call')
      assert.equal(list[2].output_index, 0)
    })

    it('ends with response.incomplete when the agent stopped for length (82b)', async () => {
      const list = await stream('length')
      assert.equal(list.at(-1)!.type, 'response.incomplete')
      const response = finalResponse(list)
      assert.equal(response.status, 'incomplete')
      assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' })
      assert.equal(list.at(-2)!.item.status, 'incomplete')
      assert.equal(streamedText(list), 'This answer was cut sh')
    })

    it('gives the same output, text and usage as the non-stream answer', async () => {
      for (const key of [
        'two deltas',
        'final only',
        'final extends',
        'nothing',
        'length',
        'text then calls',
        'pure call',
        'long call',
        'usage cached',
      ]) {
        const whole = await answer(key)
        const streamed = finalResponse(await stream(key))
        assert.deepEqual(withoutIds(streamed), withoutIds(whole), key)
      }
      // With a call required, prose is held until the call came: the same items in the end.
      const required = { tool_choice: 'required' }
      const whole = await answer('text then calls', required)
      const list = await stream('text then calls', required)
      assert.deepEqual(withoutIds(finalResponse(list)), withoutIds(whole))
      assert.equal(whole.output[0].phase, 'commentary')
      const firstDelta = list.findIndex((e) => e.type === 'response.output_text.delta')
      assert.ok(firstDelta > 0, 'the held prose is sent, at the end')
    })

    it('ends a turn that fails midway with response.failed, closing the open message', async () => {
      const list = await stream('fail midway')
      assert.deepEqual(types(list).slice(2), [
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.failed',
      ])
      const failed = finalResponse(list)
      assert.equal(failed.status, 'failed')
      assert.deepEqual(failed.error, { code: 'server_error', message: 'upstream reset' })
      assert.deepEqual(failed.output, [
        message(list[2].item.id, 'partial answer', 'commentary', 'incomplete'),
      ])
      assert.equal(failed.incomplete_details, null)
    })

    it("gives a failed response the spec's error code for its status", async () => {
      const cases: [string, string, string][] = [
        ['fail', 'server_error', 'Agent run failed: quota'],
        ['fail 429', 'rate_limit_exceeded', 'Slow down.'],
        ['fail 400', 'invalid_prompt', 'The prompt is too long.'],
        ['fail 504', 'server_error', 'Agent timed out.'],
        ['throw', 'server_error', 'internal error'],
      ]
      for (const [key, code, message] of cases) {
        const list = await stream(key)
        assert.deepEqual(types(list), [
          'response.created',
          'response.in_progress',
          'response.failed',
        ])
        assert.deepEqual(finalResponse(list).error, { code, message })
        assert.deepEqual(finalResponse(list).output, [])
      }
    })
  })
})

describe('sessions and stored responses', () => {
  let server: TestServer
  const probe = recordingBackend(SCRIPTS)
  before(async () => {
    server = await startServer({ config: RESPONSES_ON, backend: probe.backend })
  })
  after(() => server.close())

  /** Creates a response (200 expected); returns its body, the turn's input and the headers. */
  const turn = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await createResponse(server, body, headers)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    const json = JSON.parse(text)
    assert.equal(probe.last().runId, json.id)
    return { body: json, input: probe.last(), headers: res.headers }
  }
  const notFound = (id: string) => ({
    message: `Previous response with id '${id}' not found.`,
    param: 'previous_response_id',
    code: 'previous_response_not_found',
  })

  it('a fresh session per request without user or key; the key is in the answer', async () => {
    const a = await turn({ input: 'hi' })
    const b = await turn({ input: 'hi' })
    assert.match(a.input.sessionKey, new RegExp(`^agent:main:openresponses:${UUID}$`))
    assert.notEqual(a.input.sessionKey, b.input.sessionKey)
    assert.equal(a.headers.get('x-openclaw-session-key'), a.input.sessionKey)
  })

  it('user: one session per agent and lower-cased user (10a/b, 15a/b)', async () => {
    const a = await turn({ input: 'hi', user: 'RESP-User-X' })
    const b = await turn({ input: 'hi', user: ' resp-user-x ' })
    assert.equal(a.input.sessionKey, 'agent:main:openresponses-user:resp-user-x')
    assert.equal(b.input.sessionKey, a.input.sessionKey)
    assert.equal(a.input.user, 'RESP-User-X')
    const beta = await turn({ input: 'hi', user: 'resp-user-x', model: 'openclaw/beta' })
    assert.equal(beta.input.sessionKey, 'agent:beta:openresponses-user:resp-user-x')
  })

  it('x-openclaw-session-key is taken verbatim and wins over user; reserved keys get 400 (12e)', async () => {
    const { input, headers } = await turn(
      { input: 'hi', user: 'someone' },
      { 'x-openclaw-session-key': 'Team-Room-1' }
    )
    assert.equal(input.sessionKey, 'Team-Room-1')
    assert.equal(headers.get('x-openclaw-session-key'), 'Team-Room-1')
    const runs = probe.inputs.length
    for (const key of [
      'subagent:x',
      'agent:main:cron:nightly',
      'agent:main:harness:codex:1',
      'ACP:y',
    ]) {
      await assertError(
        await createResponse(server, { input: 'hi' }, { 'x-openclaw-session-key': key }),
        400,
        { message: '`x-openclaw-session-key` cannot use reserved internal session namespaces.' }
      )
    }
    assert.equal(probe.inputs.length, runs)
  })

  it('previous_response_id continues the stored session, over user, and chains (11a, 11b, 11d)', async () => {
    const first = await turn({ input: 'one' })
    const second = await turn({ input: 'two', previous_response_id: first.body.id, user: 'bob' })
    assert.equal(second.input.sessionKey, first.input.sessionKey)
    assert.equal(second.headers.get('x-openclaw-session-key'), first.input.sessionKey)
    assert.equal(second.body.previous_response_id, first.body.id)
    const third = await turn({ input: 'three', previous_response_id: second.body.id })
    assert.equal(third.input.sessionKey, first.input.sessionKey)
    // The session carries the history: only the new input is sent (33).
    assert.equal(third.input.message, 'three')
    // A user session goes on by its response id, without the user (11f).
    const alice = await turn({ input: 'hi', user: 'alice' })
    const again = await turn({ input: 'again', previous_response_id: alice.body.id })
    assert.equal(again.input.sessionKey, 'agent:main:openresponses-user:alice')
  })

  it('an unknown previous_response_id is a 400, not a silent new session (11c)', async () => {
    const runs = probe.inputs.length
    await assertError(
      await createResponse(server, { input: 'hi', previous_response_id: 'resp_nope' }),
      400,
      notFound('resp_nope')
    )
    assert.equal(probe.inputs.length, runs)
  })

  it('continues on the previous agent; naming another is a 400', async () => {
    const first = await turn({ input: 'hi', model: 'openclaw/beta', user: 'carol' })
    assert.equal(first.input.agentId, 'beta')
    const next = await turn({
      input: 'more',
      model: 'openclaw',
      previous_response_id: first.body.id,
    })
    assert.equal(next.input.agentId, 'beta')
    assert.equal(next.headers.get('x-openclaw-agent-id'), 'beta')
    assert.equal(next.input.sessionKey, 'agent:beta:openresponses-user:carol')
    const runs = probe.inputs.length
    for (const [body, headers] of [
      [{ model: 'openclaw/main' }, {}],
      [{}, { 'x-openclaw-agent-id': 'main' }],
    ] as const) {
      await assertError(
        await createResponse(
          server,
          { input: 'x', previous_response_id: first.body.id, ...body },
          headers
        ),
        400,
        {
          param: 'previous_response_id',
          message: `Previous response '${first.body.id}' was made by agent 'beta', not 'main'.`,
        }
      )
    }
    assert.equal(probe.inputs.length, runs)
  })

  it('with x-openclaw-session-key: the same key goes on, another is a 400 (12c, 11e)', async () => {
    const key = { 'x-openclaw-session-key': 'room-42' }
    const first = await turn({ input: 'hi' }, key)
    const next = await turn({ input: 'more', previous_response_id: first.body.id }, key)
    assert.equal(next.input.sessionKey, 'room-42')
    // Without the header, the response's own session goes on (12d).
    const bare = await turn({ input: 'more', previous_response_id: first.body.id })
    assert.equal(bare.input.sessionKey, 'room-42')
    await assertError(
      await createResponse(
        server,
        { input: 'x', previous_response_id: first.body.id },
        { 'x-openclaw-session-key': 'room-43' }
      ),
      400,
      { param: 'previous_response_id', message: /another session/ }
    )
  })

  it('GET returns the stored response; DELETE removes it, then both are 404', async () => {
    const { body } = await turn({ input: 'keep me', metadata: { a: 'b' } })
    const got = await getResponse(server, body.id)
    assert.equal(got.status, 200)
    assert.equal(got.headers.get('content-type'), 'application/json; charset=utf-8')
    assert.deepEqual(await got.json(), body)

    const deleted = await deleteResponse(server, body.id)
    assert.equal(deleted.status, 200)
    assert.deepEqual(await deleted.json(), { id: body.id, object: 'response', deleted: true })
    const gone = {
      message: `Response with id '${body.id}' not found.`,
      code: null,
      param: null,
    }
    await assertError(await getResponse(server, body.id), 404, gone)
    await assertError(await deleteResponse(server, body.id), 404, gone)
    await assertError(
      await createResponse(server, { input: 'x', previous_response_id: body.id }),
      400,
      notFound(body.id)
    )
    await assertError(await getResponse(server, 'resp_never'), 404, { code: null })
  })

  it('GET gives a streamed response as its last event had it', async () => {
    const { events: list } = await readEvents(
      await createResponse(server, { input: 'streamed', stream: true })
    )
    const final = finalResponse(list)
    assert.deepEqual(await (await getResponse(server, final.id)).json(), final)
  })

  it('GET ?stream=true is a 400 (a stored response is not replayed)', async () => {
    const { body } = await turn({ input: 'hi' })
    await assertError(await getResponse(server, body.id, {}, '?stream=true'), 400, {
      param: 'stream',
    })
  })

  it('store: false keeps nothing: no GET, no continuing, no item_reference', async () => {
    const { body } = await turn({ input: 'forget me', store: false })
    assert.equal(body.store, false)
    await assertError(await getResponse(server, body.id), 404)
    await assertError(
      await createResponse(server, { input: 'x', previous_response_id: body.id }),
      400,
      notFound(body.id)
    )
    const { input } = await turn({
      input: [
        { type: 'item_reference', id: body.output[0].id },
        { role: 'user', content: 'q' },
      ],
    })
    assert.equal(input.message, 'q')
  })

  it('a failed streamed response is stored, and can be continued (16a, 16b)', async () => {
    const { events: list } = await readEvents(
      await createResponse(server, { input: 'fail', stream: true })
    )
    const failed = finalResponse(list)
    assert.equal(failed.status, 'failed')
    const stored = await (await getResponse(server, failed.id)).json()
    assert.deepEqual(stored, failed)
    const before = probe.inputs.length
    const next = await turn({ input: 'try again', previous_response_id: failed.id })
    assert.equal(probe.inputs.length, before + 1)
    assert.equal(next.input.sessionKey, probe.inputs[before - 1].sessionKey)
  })

  it('an incomplete and a tool-call response can be continued too', async () => {
    const cut = await turn({ input: 'length' })
    assert.equal(cut.body.status, 'incomplete')
    const more = await turn({ input: 'go on', previous_response_id: cut.body.id })
    assert.equal(more.input.sessionKey, cut.input.sessionKey)

    const call = await turn({ input: '/tool get_weather {"city":"Paris"}', tools: [WEATHER] })
    const [fc] = call.body.output
    const result = await turn({
      previous_response_id: call.body.id,
      tools: [WEATHER],
      input: [{ type: 'function_call_output', call_id: fc.call_id, output: 'sunny 21C' }],
    })
    assert.equal(result.input.sessionKey, call.input.sessionKey)
    assert.equal(result.input.message, `Tool:${fc.call_id}: sunny 21C`)
  })
})

describe('retention', () => {
  it('keeps at most retention.maxResponses, dropping the oldest first', async () => {
    const config = {
      gateway: {
        http: { endpoints: { responses: { enabled: true, retention: { maxResponses: 2 } } } },
      },
    }
    await withServer({ config }, async (server) => {
      const ids: string[] = []
      for (const input of ['one', 'two', 'three']) {
        ids.push((await (await createResponse(server, { input })).json()).id)
      }
      await assertError(await getResponse(server, ids[0]), 404)
      for (const id of ids.slice(1)) assert.equal((await getResponse(server, id)).status, 200)
    })
  })
})

describe('the memory store', () => {
  const stored = (id: string, itemIds: string[]) => ({
    response: { id, output: itemIds.map((itemId) => ({ id: itemId, type: 'message' })) },
    input: [],
    subject: 'shared-secret',
    agentId: 'main',
    sessionKey: 'agent:main:openresponses:x',
  })

  it('forgets a response ttlMs after it was stored, reads or not, with its items', async () => {
    let now = 0
    const store = memoryResponseStore({ maxResponses: 10, ttlMs: 1000, now: () => now })
    await store.put('resp_a', stored('resp_a', ['msg_a']))
    now = 999
    assert.equal((await store.get('resp_a'))?.agentId, 'main')
    assert.equal((await store.item('msg_a'))?.item.id, 'msg_a')
    now = 1000
    assert.equal(await store.get('resp_a'), undefined)
    assert.equal(await store.item('msg_a'), undefined)
    assert.equal(await store.delete('resp_a'), false)
  })

  it('drops the oldest beyond maxResponses, and a deleted response’s items', async () => {
    const store = memoryResponseStore({ maxResponses: 2, ttlMs: 60_000 })
    for (const id of ['a', 'b', 'c'])
      await store.put(`resp_${id}`, stored(`resp_${id}`, [`msg_${id}`]))
    assert.equal(await store.get('resp_a'), undefined)
    assert.equal(await store.item('msg_a'), undefined)
    assert.equal((await store.item('msg_b'))?.owner.response.id, 'resp_b')
    assert.equal(await store.delete('resp_b'), true)
    assert.equal(await store.item('msg_b'), undefined)
    assert.equal(await store.delete('resp_b'), false)
  })
})

describe('sessions when every request must name its agent (ownership explicit)', () => {
  it('an ownerless request continuing a response runs on that response’s agent', async () => {
    const probe = recordingBackend()
    const config = {
      ...RESPONSES_ON,
      agents: { ownership: 'explicit', list: [{ id: 'main' }, { id: 'beta' }] },
    } as ConfigInput
    await withServer({ config, backend: probe.backend }, async (server) => {
      await assertError(await createResponse(server, { input: 'hi' }), 400, {
        code: 'agent_required',
      })
      const first = await (
        await createResponse(server, { input: 'hi', model: 'openclaw/beta' })
      ).json()
      const res = await createResponse(server, { input: 'more', previous_response_id: first.id })
      assert.equal(res.status, 200, await res.text())
      assert.equal(probe.last().agentId, 'beta')
    })
  })
})

describe('stored responses belong to their caller (auth subjects)', () => {
  // Under trusted-proxy each proxied user is a subject of their own, and the gateway's password
  // (from its own host) is one more: the shared secret's.
  const PASSWORD = 'proxy-fallback-password'
  let server: TestServer
  const probe = recordingBackend()
  before(async () => {
    server = await startBareServer({
      config: {
        gateway: {
          trustedProxies: ['10.0.0.0/8'],
          auth: {
            mode: 'trusted-proxy',
            password: PASSWORD,
            trustedProxy: { userHeader: 'x-forwarded-user' },
          },
          ...RESPONSES_ON.gateway,
        },
      },
      backend: probe.backend,
      // The peer is the socket's address unless the test says which proxy it plays.
      clientAddress: (c) => c.req.header('x-test-peer') ?? nodeClientAddress(c),
    })
  })
  after(() => server.close())

  const as = (user: string) => ({
    authorization: '',
    'x-test-peer': '10.1.2.3',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-user': user,
  })
  const secret = { authorization: `Bearer ${PASSWORD}` }

  it("another caller can neither read, delete, continue nor reference one's response", async () => {
    const res = await createResponse(server, { input: 'alice asks' }, as('alice'))
    assert.equal(res.status, 200)
    const mine = await res.json()
    for (const other of [as('bob'), secret]) {
      await assertError(await getResponse(server, mine.id, other), 404, { code: null })
      await assertError(await deleteResponse(server, mine.id, other), 404, { code: null })
      await assertError(
        await createResponse(server, { input: 'x', previous_response_id: mine.id }, other),
        400,
        { code: 'previous_response_not_found', param: 'previous_response_id' }
      )
      const ref = await createResponse(
        server,
        {
          input: [
            { type: 'item_reference', id: mine.output[0].id },
            { role: 'user', content: 'q' },
          ],
        },
        other
      )
      assert.equal(ref.status, 200)
      assert.equal(probe.last().message, 'q', "another's item is not resolved")
    }
    // Still there for its owner.
    assert.deepEqual(await (await getResponse(server, mine.id, as('alice'))).json(), mine)
    const next = await createResponse(
      server,
      { input: 'more', previous_response_id: mine.id },
      as('alice')
    )
    assert.equal(next.status, 200)
    assert.equal((await deleteResponse(server, mine.id, as('alice'))).status, 200)
  })

  it('the shared secret’s responses are its own', async () => {
    const mine = await (await createResponse(server, { input: 'operator asks' }, secret)).json()
    assert.equal((await getResponse(server, mine.id, secret)).status, 200)
    await assertError(await getResponse(server, mine.id, as('alice')), 404)
  })
})

describe("a turn's lifetime", () => {
  for (const stream of [false, true]) {
    it(`turns of one session run one at a time (stream: ${stream})`, async () => {
      const gate = deferred()
      const firstStarted = deferred()
      const probe = recordingBackend({
        first: async function* () {
          firstStarted.resolve()
          await gate.promise
          yield { type: 'done', text: 'first done' }
        },
      })
      await withServer({ config: RESPONSES_ON, backend: probe.backend }, async (server) => {
        const ask = (input: string) => createResponse(server, { input, user: 'Dana', stream })
        const first = ask('first')
        await within(firstStarted.promise, 'the first turn to start')
        const second = ask('second')
        await waitFor(() => server.app.stats().activeRuns === 2, 'the second turn to queue')
        assert.deepEqual(server.app.stats(), { activeRuns: 2, sessionLocks: 1 })
        assert.equal(probe.inputs.length, 1, 'the second turn waits for the session')
        // Another session is not held up.
        const other = await createResponse(server, { input: 'elsewhere', user: 'Eve' })
        assert.equal(other.status, 200)
        assert.equal(probe.inputs.length, 2)
        gate.resolve()
        const text = async (res: Response) =>
          stream
            ? streamedText((await readEvents(res)).events)
            : (await res.json()).output[0].content[0].text
        assert.equal(await within(first.then(text), 'the first answer'), 'first done')
        assert.equal(await within(second.then(text), 'the second answer'), 'second')
        assert.deepEqual(
          probe.inputs.map((i) => i.message),
          ['first', 'elsewhere', 'second']
        )
        await settled(server)
      })
    })
  }

  it('a client that drops a stream aborts the turn and frees everything; nothing is stored', async () => {
    const aborted = deferred()
    const probe = recordingBackend({
      stuck: async function* (_input, signal) {
        signal.addEventListener('abort', () => aborted.resolve(), { once: true })
        yield { type: 'text', delta: 'first words' } satisfies AgentEvent
        await untilAborted(signal)
      },
    })
    await withServer({ config: RESPONSES_ON, backend: probe.backend }, async (server) => {
      const client = new AbortController()
      const res = await createResponse(
        server,
        { input: 'stuck', stream: true },
        {},
        { signal: client.signal }
      )
      assert.equal(res.status, 200)
      const body = bodyReader(res)
      const text = await body.until((t) => t.includes('"delta":"first words"'))
      const id = /"id":"(resp_[0-9a-f]{32})"/.exec(text)![1]
      client.abort()
      await within(aborted.promise, 'the backend signal to fire')
      await settled(server)
      await assertError(await getResponse(server, id), 404)
    })
  })

  it('a client that drops a non-stream request aborts the turn and frees everything', async () => {
    const aborted = deferred()
    const started = deferred()
    const probe = recordingBackend({
      stuck: async function* (_input, signal) {
        signal.addEventListener('abort', () => aborted.resolve(), { once: true })
        started.resolve()
        await untilAborted(signal)
        yield { type: 'done', text: 'too late' } satisfies AgentEvent
      },
    })
    await withServer({ config: RESPONSES_ON, backend: probe.backend }, async (server) => {
      const client = new AbortController()
      const pending = createResponse(server, { input: 'stuck' }, {}, { signal: client.signal })
      await within(started.promise, 'the backend to start')
      client.abort()
      await within(rejected(pending), 'the request to fail')
      await within(aborted.promise, 'the backend signal to fire')
      await settled(server)
    })
  })

  it('a turn past the run timeout: 504, or response.failed once streaming', async () => {
    const probe = recordingBackend({
      hang: async function* (_input, signal) {
        await untilAborted(signal)
      },
    })
    const config = { ...RESPONSES_ON, agents: { defaults: { timeoutSeconds: 0.2 } } } as ConfigInput
    await withServer({ config, backend: probe.backend }, async (server) => {
      const message = 'The agent did not finish within 0.2 seconds.'
      const res = await createResponse(server, { input: 'hang' })
      assert.equal(res.headers.get('x-should-retry'), 'false')
      await assertError(res, 504, { message })
      const { events: list } = await readEvents(
        await createResponse(server, { input: 'hang', stream: true })
      )
      assert.deepEqual(finalResponse(list).error, { code: 'server_error', message })
      await settled(server)
    })
  })

  it('a shutdown past the drain time ends a stream with response.failed, and a non-stream request with 503', async () => {
    const probe = recordingBackend({
      stuck: async function* (_input, signal) {
        yield { type: 'text', delta: 'first words' } satisfies AgentEvent
        await untilAborted(signal)
      },
    })
    const config = { ...RESPONSES_ON, gateway: { ...RESPONSES_ON.gateway, drainTimeoutMs: 0 } }
    await withServer({ config, backend: probe.backend }, async (server) => {
      const streamed = await createResponse(server, { input: 'stuck', stream: true })
      const body = bodyReader(streamed)
      await body.until((t) => t.includes('"delta":"first words"'))
      const pending = createResponse(server, { input: 'stuck', user: 'other' })
      await waitFor(() => server.app.stats().activeRuns === 2, 'both turns to run')
      server.shutdown.abort()
      const { events: list } = parseEvents(await within(body.rest(), 'the stream to end'))
      assert.deepEqual(finalResponse(list).error, {
        code: 'server_error',
        message: 'The server is shutting down.',
      })
      await assertError(await within(pending, 'the answer'), 503, { message: /shutting down/ })
      await settled(server)
      await assertError(await createResponse(server, { input: 'hi' }), 503)
    })
  })

  it('sends keep-alive comments while the agent is silent, never as an event of their own', async () => {
    const speak = deferred()
    const probe = recordingBackend({
      quiet: async function* () {
        await speak.promise
        yield { type: 'text', delta: 'at last' } satisfies AgentEvent
        yield { type: 'done' } satisfies AgentEvent
      },
    })
    const config = {
      gateway: { http: { endpoints: { responses: { enabled: true, heartbeatSeconds: 0.05 } } } },
    }
    await withServer({ config, backend: probe.backend }, async (server) => {
      const res = await createResponse(server, { input: 'quiet', stream: true })
      const body = bodyReader(res)
      await body.until((t) => t.includes('event: response.in_progress'))
      await body.until((t) => t.includes(': keep-alive\n'))
      speak.resolve()
      const raw = await within(body.rest(), 'the stream to end')
      assert.ok(!raw.includes(': keep-alive\n\n'), 'a comment never stands alone as an event')
      const { events: list, heartbeats } = parseEvents(raw)
      assert.ok(heartbeats >= 1)
      assert.equal(streamedText(list), 'at last')
      assert.equal(list.at(-1)!.type, 'response.completed')
      await settled(server)
    })
  })
})
