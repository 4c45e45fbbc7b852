/**
 * Every kind of answer the Responses API gives, against the official OpenAI OpenAPI spec (see
 * `openapi.ts`): each non-stream body and stored response is a `Response`, each streamed event a
 * `ResponseStreamEvent`, each error body an `ErrorResponse`, and `DELETE`'s answer is the spec's
 * example shape. Each scenario also checks that it produced what it is named after (a tool call,
 * an incomplete answer, a failure…), so one that quietly became another fails instead of
 * validating the wrong thing. The requests in OpenAI's own shapes are checked to be valid
 * `CreateResponse` bodies too: they are what real clients send.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent, AgentRunInput } from '../src/index.ts'
import { startBareServer, startServer, TOKEN, untilAborted, type TestServer } from './helpers.ts'
import { assertValid, violations } from './openapi.ts'
import {
  base64,
  createResponse,
  deleteResponse,
  events,
  finalResponse,
  getResponse,
  readEvents,
  recordingBackend,
  RESPONSES_ON,
  tinyPdf,
  type Script,
  type StreamEvent,
} from './responses-helpers.ts'

const RESPONSE = 'Response'
const EVENT = 'ResponseStreamEvent'
const ERROR = 'ErrorResponse'

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQG' +
  'AhKmMIQAAAABJRU5ErkJggg=='

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Get the weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: true,
}
const TIME = { type: 'function', function: { name: 'get_time' } }
const TOOLS = [WEATHER, TIME, { type: 'web_search' }]
const LONG_ARGS = JSON.stringify({ city: 'Paris', note: 'x'.repeat(600) })

const SCRIPTS: Record<string, Script> = {
  'hit the limit': events(
    { type: 'text', delta: 'This answer was cut sh' },
    { type: 'usage', usage: { input: 3, output: 16 } },
    { type: 'done', stopReason: 'length' }
  ),
  'cached usage': events(
    { type: 'text', delta: 'from the cache' },
    { type: 'usage', usage: { input: 10, output: 4, cacheRead: 30, cacheWrite: 2, total: 50 } },
    { type: 'done' }
  ),
  'fractional usage': events(
    { type: 'text', delta: 'counted in halves' },
    { type: 'usage', usage: { input: 1.5, output: 2.25, cacheRead: 0.5 } },
    { type: 'done' }
  ),
  'text then calls': events(
    { type: 'text', delta: 'Let me check.' },
    {
      type: 'tool_calls',
      calls: [
        { id: 'call_1', name: 'get_weather', arguments: LONG_ARGS },
        { id: 'call_2', name: 'get_time', arguments: '{}' },
      ],
    },
    { type: 'done', stopReason: 'tool_calls' }
  ),
  nothing: events({ type: 'done' }),
  'fail at once': events({ type: 'error', message: 'Agent run failed: quota' }),
  'fail 429': events({ type: 'error', message: 'Slow down.', status: 429 }),
  'fail 400': events({ type: 'error', message: 'The prompt is too long.', status: 400 }),
  'fail later': events(
    { type: 'text', delta: 'Once upon ' },
    { type: 'error', message: 'upstream reset' }
  ),
  'throw at once': async function* () {
    throw new Error('the agent broke')
  },
  'throw later': async function* () {
    yield { type: 'text', delta: 'Once upon ' } satisfies AgentEvent
    throw new Error('the agent broke')
  },
  hang: async function* (_input: AgentRunInput, signal: AbortSignal) {
    await untilAborted(signal)
  },
}

/** Validates each event, and says which kinds of event the stream held. */
const assertEvents = (list: StreamEvent[], what: string) => {
  for (const event of list) assertValid(EVENT, event, `${what}: ${event.type}`)
  return new Set(list.map((e) => e.type))
}

/** An error answer: its status, and its body an `ErrorResponse`. */
const assertErrorBody = async (res: Response, status: number, what: string) => {
  const text = await res.text()
  assert.equal(res.status, status, `${what}: ${text}`)
  const body = JSON.parse(text)
  assertValid(ERROR, body, what)
  // The inner object is the spec's `Error` too (what DELETE's 404 names).
  assertValid('Error', body.error, what)
  return body.error as { message: string; code: string | null }
}

describe('Responses API answers against the OpenAI OpenAPI spec', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({
      config: { ...RESPONSES_ON, agents: { defaults: { timeoutSeconds: 0.5 } } },
      backend: recordingBackend(SCRIPTS).backend,
    })
  })
  after(() => server.close())

  /** Both modes for one request: the non-stream body (200) and the stream's events. */
  const both = async (body: Record<string, unknown>, what: string) => {
    const res = await createResponse(server, body)
    const text = await res.text()
    assert.equal(res.status, 200, `${what}: ${text}`)
    const whole = JSON.parse(text)
    assertValid(RESPONSE, whole, what)
    const { events: list } = await readEvents(
      await createResponse(server, { ...body, stream: true })
    )
    const kinds = assertEvents(list, `${what} (stream)`)
    return { whole, list, kinds }
  }

  const scenarios: [
    string,
    Record<string, unknown>,
    (r: Awaited<ReturnType<typeof both>>) => void,
  ][] = [
    [
      'plain text',
      { input: 'hello there' },
      ({ whole, kinds }) => {
        assert.equal(whole.output[0].type, 'message')
        assert.ok(kinds.has('response.output_text.delta'))
      },
    ],
    [
      'every echoed field set',
      {
        model: 'openclaw/beta',
        instructions: 'be brief',
        input: [
          { role: 'system', content: 'SYS' },
          { role: 'user', content: [{ type: 'input_text', text: 'q1' }] },
          { role: 'assistant', content: [{ type: 'output_text', text: 'a1' }] },
          { role: 'user', content: 'q2' },
        ],
        metadata: { trace: 'abc' },
        temperature: 0.7,
        top_p: 0.9,
        max_output_tokens: 100,
        user: 'alice',
        parallel_tool_calls: false,
        text: {
          format: { type: 'json_schema', name: 'thing', schema: { type: 'object' }, strict: true },
        },
      },
      ({ whole }) => {
        assert.equal(whole.instructions, 'be brief')
        assert.deepEqual(whole.metadata, { trace: 'abc' })
        assert.equal(whole.text.format.type, 'json_schema')
      },
    ],
    [
      'json_object text format',
      { input: 'hi', text: { format: { type: 'json_object' } } },
      () => {},
    ],
    [
      'tools offered, none called',
      { input: 'no call', tools: TOOLS },
      ({ whole }) => {
        assert.equal(whole.tools.length, 2)
      },
    ],
    [
      'tool_choice none',
      { input: 'no call', tools: TOOLS, tool_choice: 'none' },
      ({ whole }) => {
        assert.equal(whole.tool_choice, 'none')
      },
    ],
    [
      'a tool call (tool_choice required)',
      { input: '/tool get_weather {"city":"Paris"}', tools: TOOLS, tool_choice: 'required' },
      ({ whole, kinds }) => {
        assert.equal(whole.output[0].type, 'function_call')
        assert.ok(kinds.has('response.function_call_arguments.done'))
      },
    ],
    [
      'a named tool_choice in the chat shape',
      {
        input: '/tool get_time {}',
        tools: TOOLS,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      },
      ({ whole }) => assert.deepEqual(whole.tool_choice, { type: 'function', name: 'get_time' }),
    ],
    [
      'a named tool_choice in the Responses shape',
      {
        input: '/tool get_weather {}',
        tools: TOOLS,
        tool_choice: { type: 'function', name: 'get_weather' },
      },
      ({ whole }) => assert.equal(whole.output[0].name, 'get_weather'),
    ],
    [
      'text, then two calls with long arguments',
      { input: 'text then calls', tools: TOOLS },
      ({ whole, list }) => {
        assert.deepEqual(
          whole.output.map((i: { type: string }) => i.type),
          ['message', 'function_call', 'function_call']
        )
        assert.ok(
          list.filter((e) => e.type === 'response.function_call_arguments.delta').length > 2
        )
      },
    ],
    [
      'incomplete (length)',
      { input: 'hit the limit' },
      ({ whole, kinds }) => {
        assert.equal(whole.status, 'incomplete')
        assert.ok(kinds.has('response.incomplete'))
      },
    ],
    [
      'usage with cache reads and writes',
      { input: 'cached usage' },
      ({ whole }) => {
        assert.equal(whole.usage.input_tokens_details.cached_tokens, 30)
      },
    ],
    [
      'fractional usage',
      { input: 'fractional usage' },
      ({ whole }) => {
        assert.ok(Number.isInteger(whole.usage.input_tokens))
      },
    ],
    [
      'no text at all',
      { input: 'nothing' },
      ({ whole }) => {
        assert.equal(whole.output[0].content[0].text, 'No response from OpenClaw.')
      },
    ],
    [
      'an image and a file',
      {
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'look' },
              { type: 'input_image', image_url: PNG, detail: 'auto' },
              {
                type: 'input_file',
                filename: 'a.pdf',
                file_data: `data:application/pdf;base64,${base64(tinyPdf('Some text.'))}`,
              },
            ],
          },
        ],
      },
      ({ whole }) => assert.equal(whole.status, 'completed'),
    ],
    [
      'store: false',
      { input: 'hi', store: false },
      ({ whole }) => assert.equal(whole.store, false),
    ],
  ]

  describe('non-stream bodies and stream events', () => {
    for (const [what, body, check] of scenarios) {
      it(what, async () => check(await both(body, what)))
    }

    it('a continued response (previous_response_id)', async () => {
      const first = await (await createResponse(server, { input: 'one' })).json()
      const result = await both({ input: 'two', previous_response_id: first.id }, 'continued')
      assert.equal(result.whole.previous_response_id, first.id)
    })
  })

  describe('failed streams', () => {
    const failures: [string, Record<string, unknown>, string][] = [
      ['a failure before any output', { input: 'fail at once' }, 'server_error'],
      ['a failure after the first words', { input: 'fail later' }, 'server_error'],
      ['a 429 from the agent', { input: 'fail 429' }, 'rate_limit_exceeded'],
      ['a 400 from the agent', { input: 'fail 400' }, 'invalid_prompt'],
      ['a backend that throws at once', { input: 'throw at once' }, 'server_error'],
      ['a backend that throws midway', { input: 'throw later' }, 'server_error'],
      [
        'an unmet tool_choice',
        { input: 'no call', tools: TOOLS, tool_choice: 'required' },
        'server_error',
      ],
      ['the run timeout', { input: 'hang' }, 'server_error'],
    ]
    for (const [what, body, code] of failures) {
      it(what, async () => {
        const { events: list } = await readEvents(
          await createResponse(server, { ...body, stream: true })
        )
        const kinds = assertEvents(list, what)
        assert.ok(kinds.has('response.failed'))
        assert.equal(finalResponse(list).error.code, code)
        // Stored as it failed, and served so.
        const stored = await (await getResponse(server, finalResponse(list).id)).json()
        assertValid(RESPONSE, stored, `${what} (GET)`)
        assert.equal(stored.status, 'failed')
      })
    }
  })

  describe('GET and DELETE /v1/responses/{id}', () => {
    it('GET answers a Response for completed, incomplete and tool-call responses', async () => {
      for (const body of [
        { input: 'hi' },
        { input: 'hit the limit' },
        { input: 'text then calls', tools: TOOLS },
      ]) {
        const created = await (await createResponse(server, body)).json()
        const res = await getResponse(server, created.id)
        assert.equal(res.status, 200)
        const stored = await res.json()
        assertValid(RESPONSE, stored, `GET after ${body.input}`)
        assert.deepEqual(stored, created)
      }
    })

    it('GET …/input_items answers a ResponseItemList', async () => {
      const { id } = await (
        await createResponse(server, {
          tools: TOOLS,
          input: [
            { role: 'system', content: 'Be brief.' },
            { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'q1' }] },
            { role: 'assistant', content: 'a1' },
            { type: 'function_call', call_id: 'call_1', name: 'get_time', arguments: '{}' },
            { type: 'function_call_output', call_id: 'call_1', output: '12:00' },
            { role: 'user', content: [{ type: 'input_image', image_url: PNG }] },
          ],
        })
      ).json()
      const res = await fetch(`${server.url}/v1/responses/${id}/input_items?order=asc`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      const list = await res.json()
      assert.equal(res.status, 200, JSON.stringify(list))
      assertValid('ResponseItemList', list, 'input_items')
      assert.equal(list.data.length, 6)
      assert.equal(JSON.stringify(list).includes('base64'), false, 'no inline image bytes')
    })

    it("DELETE answers the spec's example shape; its 404 is an ErrorResponse", async () => {
      const { id } = await (await createResponse(server, { input: 'hi' })).json()
      const res = await deleteResponse(server, id)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.deepEqual(await res.json(), { id, object: 'response', deleted: true })
      await assertErrorBody(await deleteResponse(server, id), 404, 'DELETE twice')
      await assertErrorBody(await getResponse(server, id), 404, 'GET after DELETE')
    })
  })

  describe('error bodies', () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      createResponse(server, body, headers)
    const cases: [string, number, () => Promise<Response>][] = [
      ['400: invalid JSON', 400, () => post('{"input": ')],
      ['400: a field of the wrong type', 400, () => post({ input: 'hi', stream: 'yes' })],
      ['400: an item without type or role', 400, () => post({ input: [{ content: 'x' }] })],
      [
        '400: a bad image',
        400,
        () =>
          post({
            input: [
              {
                role: 'user',
                content: [{ type: 'input_image', image_url: 'data:image/png;base64,!!' }],
              },
            ],
          }),
      ],
      [
        '400: a file type not allowed',
        400,
        () =>
          post({ input: [{ role: 'user', content: [{ type: 'input_file', file_data: PNG }] }] }),
      ],
      [
        '400: a tool_choice naming no offered tool',
        400,
        () => post({ input: 'hi', tools: TOOLS, tool_choice: { type: 'function', name: 'nope' } }),
      ],
      [
        '400: an unknown previous_response_id',
        400,
        () => post({ input: 'hi', previous_response_id: 'resp_nope' }),
      ],
      [
        '400: a reserved session key',
        400,
        () => post({ input: 'hi' }, { 'x-openclaw-session-key': 'subagent:x' }),
      ],
      ['400: GET ?stream=true', 400, () => getResponse(server, 'resp_x', {}, '?stream=true')],
      ['401: no token', 401, () => post({ input: 'hi' }, { authorization: '' })],
      ['404: GET of an unknown id', 404, () => getResponse(server, 'resp_nope')],
      ['404: DELETE of an unknown id', 404, () => deleteResponse(server, 'resp_nope')],
      ['405: GET /v1/responses', 405, () => fetch(`${server.url}/v1/responses`)],
      [
        '405: POST /v1/responses/{id}',
        405,
        () => fetch(`${server.url}/v1/responses/resp_x`, { method: 'POST' }),
      ],
      ['500: a backend that throws', 500, () => post({ input: 'throw at once' })],
      ['502: a failed turn', 502, () => post({ input: 'fail at once' })],
      [
        '502: an unmet tool_choice',
        502,
        () => post({ input: 'no call', tools: TOOLS, tool_choice: 'required' }),
      ],
      ['504: the run timeout', 504, () => post({ input: 'hang' })],
    ]
    for (const [what, status, send] of cases) {
      it(what, async () => {
        await assertErrorBody(await send(), status, what)
      })
    }

    it('403: a missing scope (auth mode none)', async () => {
      const other = await startBareServer({
        config: { gateway: { auth: { mode: 'none' }, ...RESPONSES_ON.gateway } },
      })
      try {
        const headers = { 'x-openclaw-scopes': 'operator.read' }
        await assertErrorBody(
          await createResponse(other, { input: 'hi' }, headers),
          403,
          '403 POST'
        )
        await assertErrorBody(
          await getResponse(other, 'resp_x', { 'x-openclaw-scopes': '' }),
          403,
          '403 GET'
        )
      } finally {
        await other.close()
      }
    })

    it('404: the endpoint disabled; 413: a body over the limit; 503: shutting down', async () => {
      const off = await startServer()
      try {
        await assertErrorBody(await createResponse(off, { input: 'hi' }), 404, 'disabled')
        await assertErrorBody(await getResponse(off, 'resp_x'), 404, 'disabled GET')
      } finally {
        await off.close()
      }
      const small = await startServer({
        config: {
          gateway: { http: { endpoints: { responses: { enabled: true, maxBodyBytes: 100 } } } },
        },
      })
      try {
        const res = await createResponse(small, { input: 'x'.repeat(200) })
        await assertErrorBody(res, 413, 'too large')
        small.shutdown.abort()
        await assertErrorBody(await createResponse(small, { input: 'hi' }), 503, 'shutting down')
      } finally {
        await small.close()
      }
    })
  })

  describe("requests in OpenAI's own shapes", () => {
    // What the AI SDK and the openai SDK send (research notes §2.4): each a valid CreateResponse,
    // and each answered 200.
    const requests: [string, Record<string, unknown>][] = [
      [
        'messages without type, system and user parts',
        {
          model: 'openclaw',
          input: [
            { role: 'system', content: 'be terse' },
            { role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
          ],
        },
      ],
      [
        'an item_reference and a function call round trip',
        {
          model: 'openclaw',
          input: [
            { role: 'user', content: [{ type: 'input_text', text: 'weather?' }] },
            { type: 'item_reference', id: 'msg_abc' },
            {
              type: 'function_call',
              call_id: 'call_1',
              name: 'get_weather',
              arguments: '{"city":"Paris"}',
            },
            { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
          ],
          tools: [WEATHER],
          tool_choice: 'auto',
        },
      ],
      [
        'a tool output as a list of parts',
        {
          model: 'openclaw',
          input: [
            { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{}' },
            {
              type: 'function_call_output',
              call_id: 'call_1',
              output: [{ type: 'input_text', text: 'sunny' }],
            },
          ],
        },
      ],
      [
        'an image_url data URI and a file_data PDF',
        {
          model: 'openclaw',
          input: [
            {
              role: 'user',
              content: [
                { type: 'input_text', text: 'look' },
                { type: 'input_image', image_url: PNG, detail: 'auto' },
                {
                  type: 'input_file',
                  filename: 'a.pdf',
                  file_data: `data:application/pdf;base64,${base64(tinyPdf('Some text.'))}`,
                },
              ],
            },
          ],
        },
      ],
      [
        'structured output and provider options',
        {
          model: 'openclaw',
          input: 'hi',
          text: {
            format: { type: 'json_schema', name: 'x', schema: { type: 'object' }, strict: true },
          },
          store: false,
          include: ['message.output_text.logprobs'],
          parallel_tool_calls: false,
          reasoning: { effort: 'minimal' },
          service_tier: 'auto',
          prompt_cache_key: 'k',
          safety_identifier: 'u1',
          truncation: 'auto',
          top_logprobs: 2,
        },
      ],
    ]
    /**
     * A valid CreateResponse body. Its items are checked one by one against the branches of the
     * spec's `InputItem`: its `oneOf` overlaps (a user message with a list of parts is both an
     * EasyInputMessage and an InputMessage, told apart only by the `discriminator` the helper
     * does not enforce), so an item must match at least one branch, not exactly one.
     */
    const assertValidRequest = (body: Record<string, unknown>, what: string) => {
      const items = Array.isArray(body.input) ? body.input : []
      assertValid('CreateResponse', { ...body, input: 'checked item by item' }, what)
      items.forEach((item, i) => {
        const branches = ['EasyInputMessage', 'Item', 'ItemReferenceParam']
        const found = branches.map((name) => violations(name, item))
        if (found.some((v) => !v.length)) return
        assert.fail(`${what}: input[${i}] matches no InputItem branch:\n${found.flat().join('\n')}`)
      })
    }

    for (const [what, body] of requests) {
      it(what, async () => {
        assertValidRequest(body, `${what} (request)`)
        const res = await createResponse(server, body)
        const text = await res.text()
        assert.equal(res.status, 200, text)
        assertValid(RESPONSE, JSON.parse(text), what)
      })
    }
  })
})
