import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type { AgentEvent, AgentRunInput } from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  startServer,
  userMessage,
  type TestServer,
} from './helpers.ts'

const TOOLS = 'Invalid tools/tool_choice: '

const weather = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
    strict: true,
  },
}
const clock = { type: 'function', function: { name: 'get_time' } }

/** Calls the first offered tool when tool_choice demands a call; otherwise answers `ok`. */
const answer = async function* (input: AgentRunInput): AsyncIterable<AgentEvent> {
  const tool = input.clientTools[0]
  if (
    tool &&
    input.toolChoice !== undefined &&
    input.toolChoice !== 'auto' &&
    input.toolChoice !== 'none'
  ) {
    yield {
      type: 'tool_calls',
      calls: [{ id: 'call_1', name: tool.function.name, arguments: '{}' }],
    }
    yield { type: 'done', stopReason: 'tool_calls' }
    return
  }
  yield { type: 'done', text: 'ok' }
}

describe('request validation', () => {
  let server: TestServer
  const probe = probeBackend(answer)
  before(async () => {
    server = await startServer({ backend: probe.backend })
  })
  after(() => server.close())

  /** Sends `body`; expects 200 and returns what the backend received. */
  const accepted = async (body: unknown, headers: Record<string, string> = {}) => {
    const runs = probe.inputs.length
    const res = await chat(server, body, headers)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.equal(probe.inputs.length, runs + 1)
    return { input: probe.inputs.at(-1)!, body: JSON.parse(text) }
  }

  /** Sends `body`; expects a 400 with this message and param, and no agent run. */
  const rejected = async (body: unknown, message: string | RegExp, param: string | null) => {
    const runs = probe.inputs.length
    await assertError(await chat(server, body), 400, { message, param })
    assert.equal(probe.inputs.length, runs, 'the agent must not run')
  }

  const hi = userMessage('hi')

  describe('the body', () => {
    it('must be a JSON object', async () => {
      for (const body of ['[]', '[{"role":"user","content":"hi"}]', '"hi"', '42', 'null', 'true']) {
        await rejected(body, 'The request body must be a JSON object.', null)
      }
    })

    it('may carry unknown fields, at the top and in messages', async () => {
      const { input } = await accepted({
        messages: [{ role: 'user', content: 'hi', extra: 1, audio: null }],
        logprobs: true,
        metadata: { a: 'b' },
        parallel_tool_calls: false,
        store: false,
        service_tier: 'auto',
        reasoning_effort: 'low',
        something_new: { nested: [1, 2] },
      })
      assert.equal(input.message, 'hi')
    })

    it('treats null in every optional field as absent', async () => {
      const { input, body } = await accepted({
        model: null,
        messages: [
          { role: 'user', content: 'hi', name: null, tool_call_id: null, tool_calls: null },
        ],
        stream: null,
        stream_options: null,
        user: null,
        tools: null,
        tool_choice: null,
        max_tokens: null,
        max_completion_tokens: null,
        temperature: null,
        top_p: null,
        frequency_penalty: null,
        presence_penalty: null,
        seed: null,
        stop: null,
        response_format: null,
        n: null,
      })
      assert.equal(body.object, 'chat.completion')
      assert.equal(body.model, 'openclaw')
      assert.equal(input.agentId, 'main')
      assert.match(input.sessionKey, /^agent:main:openai:/)
      assert.deepEqual(input.streamParams, {})
      assert.deepEqual(input.clientTools, [])
      assert.equal(input.toolChoice, undefined)
      assert.equal(input.user, undefined)
    })

    it('treats a null include_usage as absent', async () => {
      const { body } = await accepted({ ...hi, stream_options: { include_usage: null } })
      assert.equal(body.object, 'chat.completion')
    })
  })

  describe('messages', () => {
    it('must be present and non-empty', async () => {
      await rejected({}, 'Missing user message in `messages`.', 'messages')
      await rejected({ model: 'openclaw' }, 'Missing user message in `messages`.', 'messages')
      await rejected({ messages: [] }, 'Missing user message in `messages`.', 'messages')
    })

    it('must be an array', async () => {
      for (const messages of ['hi', 42, { role: 'user', content: 'hi' }]) {
        await rejected({ messages }, '`messages` must be an array of message objects.', 'messages')
      }
    })

    it('must hold objects', async () => {
      await rejected(
        { messages: [hi.messages[0], 'hi'] },
        'Each message must be an object.',
        'messages[1]'
      )
      await rejected({ messages: [42] }, 'Each message must be an object.', 'messages[0]')
    })

    it('must each have a known role', async () => {
      for (const role of ['robot', 'User', '', 42]) {
        await rejected({ messages: [{ role, content: 'hi' }] }, /role/, 'messages[0].role')
      }
      await rejected(
        { messages: [hi.messages[0], { content: 'no role' }] },
        /messages\[1\]\.role/,
        'messages[1].role'
      )
    })

    it('accept every known role', async () => {
      const { input } = await accepted({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'developer', content: 'be kind' },
          { role: 'user', content: 'weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'w', arguments: '{}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
          { role: 'function', name: 'w', content: 'still sunny' },
          { role: 'user', content: 'thanks' },
        ],
      })
      assert.deepEqual(
        input.messages.map((m) => m.role),
        ['system', 'developer', 'user', 'assistant', 'tool', 'tool', 'user']
      )
    })

    it('take content as a string, null or an array of parts', async () => {
      await accepted({ messages: [{ role: 'user', content: 'plain' }] })
      await accepted({
        messages: [
          { role: 'assistant', content: null },
          { role: 'user', content: 'x' },
        ],
      })
      const { input } = await accepted({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hello' },
              { type: 'input_text', text: 'world' },
            ],
          },
        ],
      })
      assert.equal(input.message, 'hello\nworld')
    })

    it('name the message whose content has the wrong type', async () => {
      const messages = [
        { role: 'system', content: 'x' },
        { role: 'user', content: 'y' },
        { role: 'user', content: 42 },
      ]
      await rejected({ messages }, /content/, 'messages[2].content')
      await rejected(
        { messages: [{ role: 'user', content: { text: 'hi' } }] },
        /content/,
        'messages[0].content'
      )
      await rejected(
        { messages: [{ role: 'user', content: true }] },
        /content/,
        'messages[0].content'
      )
    })

    it('name the content part that is not supported', async () => {
      await rejected(
        { messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'audio' }] }] },
        /audio/,
        'messages[0].content[1].type'
      )
      await rejected(
        { messages: [{ role: 'user', content: [{ type: 'text', text: 42 }] }] },
        /text/,
        'messages[0].content[0].text'
      )
      await rejected(
        { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 42 }] }] },
        /image_url/,
        'messages[0].content[0].image_url'
      )
    })

    it('need a string name, tool_call_id and an array of tool_calls when given', async () => {
      await rejected(
        { messages: [{ role: 'user', content: 'x', name: 1 }] },
        /name/,
        'messages[0].name'
      )
      await rejected(
        { messages: [{ role: 'tool', content: 'x', tool_call_id: 1 }] },
        /tool_call_id/,
        'messages[0].tool_call_id'
      )
      await rejected(
        { messages: [{ role: 'assistant', content: 'x', tool_calls: {} }, hi.messages[0]] },
        /tool_calls/,
        'messages[0].tool_calls'
      )
    })

    it('must say something: only a system message is a missing user message', async () => {
      await rejected(
        { messages: [{ role: 'system', content: 'be brief' }] },
        'Missing user message in `messages`.',
        'messages'
      )
    })
  })

  describe('scalar fields', () => {
    it('need model, stream, user and include_usage of the right type', async () => {
      await rejected({ ...hi, model: 42 }, /model/, 'model')
      await rejected({ ...hi, stream: 'yes' }, /stream/, 'stream')
      await rejected({ ...hi, stream: 1 }, /stream/, 'stream')
      await rejected({ ...hi, stream_options: 'usage' }, /stream_options/, 'stream_options')
      await rejected(
        { ...hi, stream: true, stream_options: { include_usage: 'yes' } },
        /include_usage/,
        'stream_options.include_usage'
      )
      await rejected({ ...hi, user: 42 }, /user/, 'user')
    })

    it('need max_completion_tokens and max_tokens to be positive safe integers', async () => {
      for (const value of [0, -1, 1.5, '10', 2 ** 53]) {
        await rejected(
          { ...hi, max_tokens: value },
          'max_tokens must be a positive safe integer',
          'max_tokens'
        )
        await rejected(
          { ...hi, max_completion_tokens: value },
          'max_completion_tokens must be a positive safe integer',
          'max_completion_tokens'
        )
      }
    })

    it('let max_completion_tokens win over max_tokens', async () => {
      assert.equal((await accepted({ ...hi, max_tokens: 10 })).input.streamParams.maxTokens, 10)
      const both = await accepted({ ...hi, max_tokens: 10, max_completion_tokens: 20 })
      assert.equal(both.input.streamParams.maxTokens, 20)
    })

    it('keep temperature within 0 to 2', async () => {
      for (const value of [-0.1, 2.1, 5]) {
        await rejected(
          { ...hi, temperature: value },
          '`temperature` must be between 0 and 2.',
          'temperature'
        )
      }
      await rejected(
        { ...hi, temperature: 'hot' },
        '`temperature` must be a finite number.',
        'temperature'
      )
      const huge = JSON.stringify({ ...hi, temperature: 0 }).replace(
        '"temperature":0',
        '"temperature":1e999'
      )
      await rejected(huge, '`temperature` must be a finite number.', 'temperature')
      for (const value of [0, 1, 2]) await accepted({ ...hi, temperature: value })
    })

    it('keep top_p within 0 to 1', async () => {
      for (const value of [-0.1, 1.1]) {
        await rejected({ ...hi, top_p: value }, '`top_p` must be between 0 and 1.', 'top_p')
      }
      for (const value of [0, 1]) await accepted({ ...hi, top_p: value })
    })

    it('keep both penalties within -2 and 2', async () => {
      for (const name of ['frequency_penalty', 'presence_penalty']) {
        for (const value of [-2.5, 2.5]) {
          await rejected(
            { ...hi, [name]: value },
            `\`${name}\` must be between -2.0 and 2.0.`,
            name
          )
        }
        await rejected({ ...hi, [name]: 'x' }, `\`${name}\` must be a finite number.`, name)
        for (const value of [-2, 0, 2]) await accepted({ ...hi, [name]: value })
      }
    })

    it('need seed to be an integer', async () => {
      await rejected({ ...hi, seed: 1.5 }, '`seed` must be an integer.', 'seed')
      await rejected({ ...hi, seed: '7' }, '`seed` must be a finite number.', 'seed')
      assert.equal((await accepted({ ...hi, seed: -7 })).input.streamParams.seed, -7)
    })

    it('take stop as a string or at most 4 non-empty strings', async () => {
      await rejected(
        { ...hi, stop: 42 },
        'Invalid stop: stop must be a string or array of strings',
        'stop'
      )
      await rejected(
        { ...hi, stop: { a: 1 } },
        'Invalid stop: stop must be a string or array of strings',
        'stop'
      )
      await rejected(
        { ...hi, stop: ['a', 'b', 'c', 'd', 'e'] },
        'Invalid stop: stop supports at most 4 sequences',
        'stop'
      )
      await rejected(
        { ...hi, stop: '' },
        'Invalid stop: stop entries must be non-empty strings',
        'stop'
      )
      await rejected(
        { ...hi, stop: ['a', ''] },
        'Invalid stop: stop entries must be non-empty strings',
        'stop[1]'
      )
      await rejected(
        { ...hi, stop: ['a', 7] },
        'Invalid stop: stop entries must be non-empty strings',
        'stop[1]'
      )
      assert.deepEqual((await accepted({ ...hi, stop: 'END' })).input.streamParams.stop, ['END'])
      const four = ['a', 'b', 'c', 'd']
      assert.deepEqual((await accepted({ ...hi, stop: four })).input.streamParams.stop, four)
    })

    it('take response_format with type text, json_object or json_schema', async () => {
      await rejected(
        { ...hi, response_format: 'json' },
        'Invalid response_format: response_format must be an object',
        'response_format'
      )
      await rejected(
        { ...hi, response_format: { type: 'xml' } },
        'Invalid response_format: response_format.type must be text, json_object, or json_schema',
        'response_format.type'
      )
      await rejected({ ...hi, response_format: {} }, /type/, 'response_format.type')
      const format = { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } }
      const { input } = await accepted({ ...hi, response_format: format })
      assert.deepEqual(input.streamParams.responseFormat, format)
      for (const type of ['text', 'json_object'])
        await accepted({ ...hi, response_format: { type } })
    })

    it('forward every sampling parameter to the backend', async () => {
      const { input } = await accepted({
        ...hi,
        max_completion_tokens: 64,
        temperature: 0.5,
        top_p: 0.9,
        frequency_penalty: -1,
        presence_penalty: 1,
        seed: 42,
        stop: ['\n\n'],
        response_format: { type: 'json_object' },
      })
      assert.deepEqual(input.streamParams, {
        maxTokens: 64,
        temperature: 0.5,
        topP: 0.9,
        frequencyPenalty: -1,
        presencePenalty: 1,
        seed: 42,
        stop: ['\n\n'],
        responseFormat: { type: 'json_object' },
      })
    })

    it('answer n > 1 with 400, since there is only one choice', async () => {
      for (const n of [2, 5]) await rejected({ ...hi, n }, /n/, 'n')
      for (const n of [0, 1.5, 'one']) await rejected({ ...hi, n }, /n/, 'n')
      const { body } = await accepted({ ...hi, n: 1 })
      assert.equal(body.choices.length, 1)
    })

    it('are checked before the model', async () => {
      await rejected({ ...hi, model: 'gpt-4o', temperature: 5 }, /temperature/, 'temperature')
    })
  })

  describe('tools and tool_choice', () => {
    it('need tools to be an array of function tools', async () => {
      await rejected({ ...hi, tools: {} }, `${TOOLS}tools must be an array`, 'tools')
      await rejected({ ...hi, tools: 'get_weather' }, `${TOOLS}tools must be an array`, 'tools')
      await rejected(
        { ...hi, tools: ['get_weather'] },
        `${TOOLS}each tool must be an object`,
        'tools[0]'
      )
      await rejected(
        { ...hi, tools: [weather, { type: 'retrieval' }] },
        `${TOOLS}only function tools are supported`,
        'tools[1].type'
      )
    })

    it('reject the flat tool shape: tool.function is required', async () => {
      const flat = { type: 'function', name: 'get_weather', parameters: {} }
      await rejected({ ...hi, tools: [flat] }, `${TOOLS}tool.function is required`, 'tools[0]')
      await rejected(
        { ...hi, tools: [{ type: 'function', function: 'get_weather' }] },
        `${TOOLS}tool.function is required`,
        'tools[0].function'
      )
    })

    it('need a non-empty function name', async () => {
      for (const fn of [{}, { name: '' }, { name: '   ' }, { name: 42 }]) {
        await rejected(
          { ...hi, tools: [{ type: 'function', function: fn }] },
          `${TOOLS}tool.function.name is required`,
          'tools[0].function.name'
        )
      }
    })

    it('pass the tools as given with tool_choice auto or absent (type, name, strict kept)', async () => {
      for (const choice of [{ tool_choice: 'auto' }, {}]) {
        const { input } = await accepted({ ...hi, tools: [weather, clock], ...choice })
        assert.deepEqual(input.clientTools, [weather, clock])
        assert.equal(input.toolChoice, 'auto')
      }
    })

    it('drop the tools with tool_choice none', async () => {
      const { input } = await accepted({ ...hi, tools: [weather], tool_choice: 'none' })
      assert.deepEqual(input.clientTools, [])
      assert.equal(input.toolChoice, 'none')
    })

    it('accept tool_choice required with tools, adding the instruction', async () => {
      const { input, body } = await accepted({
        ...hi,
        tools: [weather, clock],
        tool_choice: 'required',
      })
      assert.equal(input.toolChoice, 'required')
      assert.deepEqual(input.clientTools, [weather, clock])
      assert.ok(
        input.extraSystemPrompt?.endsWith(
          'You must call one of the available tools before responding.'
        ),
        input.extraSystemPrompt
      )
      assert.equal(body.choices[0].finish_reason, 'tool_calls')
    })

    it('reject tool_choice required without tools', async () => {
      const message = `${TOOLS}tool_choice=required but no tools were provided`
      await rejected({ ...hi, tool_choice: 'required' }, message, 'tool_choice')
      await rejected({ ...hi, tools: [], tool_choice: 'required' }, message, 'tool_choice')
    })

    it('accept a pinned function, narrowing the tools to it', async () => {
      const choice = { type: 'function', function: { name: 'get_time' } }
      const { input } = await accepted({ ...hi, tools: [weather, clock], tool_choice: choice })
      assert.deepEqual(input.toolChoice, choice)
      assert.deepEqual(input.clientTools, [clock])
      assert.ok(
        input.extraSystemPrompt?.endsWith('You must call the get_time tool before responding.'),
        input.extraSystemPrompt
      )
    })

    it('reject a pinned function that was not offered', async () => {
      await rejected(
        { ...hi, tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } },
        `${TOOLS}tool_choice requested unknown tool: nope`,
        'tool_choice'
      )
    })

    it('reject a pinned function without a name', async () => {
      for (const choice of [{ type: 'function' }, { type: 'function', function: { name: ' ' } }]) {
        await rejected(
          { ...hi, tools: [weather], tool_choice: choice },
          `${TOOLS}tool_choice.function.name is required`,
          'tool_choice'
        )
      }
    })

    it('reject other tool_choice object types by name', async () => {
      for (const type of ['allowed_tools', 'custom']) {
        await rejected(
          { ...hi, tools: [weather], tool_choice: { type, tools: [] } },
          `${TOOLS}tool_choice ${type} is not supported`,
          'tool_choice'
        )
      }
    })

    it('reject tool_choice values of other shapes', async () => {
      await rejected(
        { ...hi, tools: [weather], tool_choice: 'any' },
        `${TOOLS}unsupported tool_choice type`,
        'tool_choice'
      )
      await rejected(
        { ...hi, tools: [weather], tool_choice: {} },
        `${TOOLS}unsupported tool_choice type`,
        'tool_choice'
      )
      for (const choice of [42, true, ['auto']]) {
        await rejected(
          { ...hi, tools: [weather], tool_choice: choice },
          `${TOOLS}tool_choice must be a string or object`,
          'tool_choice'
        )
      }
    })
  })

  describe('plain chat bodies, which skip the schema', () => {
    // Plain bodies and near misses: wrong types, `null`s, unknown roles, empty messages.
    const odd = fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant([]),
      fc.constant({})
    )
    const text = fc.oneof(fc.string(), fc.constantFrom('', ' ', '  hi  ', 'josé', 'a\nb'))
    /** Mostly `good`, sometimes `odd`. */
    const mostly = <T>(good: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: odd, weight: 1 })
    const role = fc.constantFrom(
      'user',
      'user',
      'user',
      'system',
      'developer',
      'assistant',
      'tool',
      'function',
      'User',
      ''
    )
    const message = mostly(
      fc.record(
        { role: mostly(role), content: mostly(text), name: mostly(text) },
        { requiredKeys: ['role'] }
      )
    )
    const body = fc.record(
      {
        model: mostly(fc.constantFrom('openclaw', 'openclaw/default', 'OpenClaw', '', 'gpt-4o')),
        messages: mostly(fc.array(message, { maxLength: 4 })),
        stream: mostly(fc.boolean()),
        user: mostly(text),
      },
      { requiredKeys: ['messages'] }
    )

    /** The answer's status, and the agent's input (200) or the error body (else). */
    const outcome = async (value: unknown) => {
      const runs = probe.inputs.length
      const res = await chat(server, value, { 'x-openclaw-session-key': 'plain-vs-schema' })
      const text = await res.text()
      if (res.status !== 200) return { status: res.status, error: JSON.parse(text) }
      assert.equal(probe.inputs.length, runs + 1)
      const { runId: _, ...input } = probe.inputs.at(-1)!
      return { status: 200, input }
    }

    it('get the answer and agent input the schema gives them', { timeout: 60_000 }, async () => {
      let plain = 0
      await fc.assert(
        fc.asyncProperty(body, async (value) => {
          // An unknown key is allowed, and sends the same body through the schema.
          const viaSchema = await outcome({ ...value, metadata: { via: 'schema' } })
          const direct = await outcome(value)
          assert.deepEqual(direct, viaSchema)
          if (direct.status === 200) plain++
        }),
        { numRuns: 300, seed: 20261124 }
      )
      // The generator must reach both sides: accepted plain bodies and rejected near misses.
      assert.ok(plain >= 20 && plain <= 280, `${plain} of 300 accepted`)
    })
  })
})
