/**
 * Every kind of answer the server gives, against the official OpenAI OpenAPI spec (see
 * `openapi.ts`): completions, every stream chunk and stream error event, the models routes, and
 * every error body, each from a real listening server. Each scenario also checks that it really
 * produced what it is named after (a tool call, a usage chunk, an error event…), so a scenario
 * that quietly turned into another one fails instead of validating the wrong thing.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import { echoBackend, type AgentBackend, type AgentEvent } from '../src/index.ts'
import worker from '../src/runtimes/worker.ts'
import {
  chat,
  startServer,
  TOKEN,
  untilAborted,
  userMessage,
  within,
  type TestServer,
} from './helpers.ts'
import { assertValid, schemaNames, specSchema, validator, violations } from './openapi.ts'

const COMPLETION = 'CreateChatCompletionResponse'
const CHUNK = 'CreateChatCompletionStreamResponse'
const ERROR = 'ErrorResponse'

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
}
const TIME = { type: 'function', function: { name: 'get_time' } }
const TOOLS = [WEATHER, TIME]
const CALL_WEATHER = '/tool get_weather {"city":"Paris"}'
// Arguments longer than one stream fragment (256 characters): several argument chunks.
const LONG_ARGS = JSON.stringify({ city: 'Paris', note: 'x'.repeat(600) })

/**
 * The echo backend, plus a few scripted answers the echo cannot give, picked by the current
 * message's text.
 */
const scripted = (): AgentBackend => {
  const echo = echoBackend()
  const scripts: Record<string, (signal: AbortSignal) => AsyncIterable<AgentEvent>> = {
    async *'hit the limit'() {
      yield { type: 'text', delta: 'This answer was cut sh' }
      yield { type: 'usage', usage: { input: 3, output: 16 } }
      yield { type: 'done', stopReason: 'length' }
    },
    async *'cached usage'() {
      yield { type: 'text', delta: 'from the cache' }
      yield { type: 'usage', usage: { input: 10, output: 4, cacheRead: 30, total: 50 } }
      yield { type: 'done' }
    },
    async *'fractional usage'() {
      yield { type: 'text', delta: 'counted in halves' }
      yield { type: 'usage', usage: { input: 1.5, output: 2.25, cacheRead: 0.5 } }
      yield { type: 'done' }
    },
    async *'two tools'() {
      yield {
        type: 'tool_calls',
        calls: [
          { id: 'call_1', name: 'get_weather', arguments: LONG_ARGS },
          { id: 'call_2', name: 'get_time', arguments: '{}' },
        ],
      }
      yield { type: 'done', stopReason: 'tool_calls' }
    },
    async *'throw at once'() {
      throw new Error('the agent broke')
    },
    async *'throw later'() {
      yield { type: 'text', delta: 'Once upon ' }
      throw new Error('the agent broke')
    },
    async *'fail later'() {
      yield { type: 'text', delta: 'Once upon ' }
      yield { type: 'error', message: 'the model is overloaded', code: 'overloaded' }
    },
    async *hang(signal) {
      await untilAborted(signal)
    },
  }
  return {
    name: 'scripted',
    run(input, signal) {
      const text = input.messages.findLast((m) => m.role === 'user')?.text ?? ''
      return Object.hasOwn(scripts, text) ? scripts[text](signal) : echo.run(input, signal)
    },
  }
}

const authorization = { authorization: `Bearer ${TOKEN}` }

const request = (server: TestServer, path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, { headers: authorization, ...init })

/** A JSON answer: its status, a JSON content type, then its body against the spec's `schema`. */
const assertJson = async (res: Response, status: number, schema: string, what: string) => {
  const text = await res.text()
  assert.equal(res.status, status, `${what}: ${text}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, what)
  const body = JSON.parse(text)
  assertValid(schema, body, what)
  return body
}

/**
 * A 200 stream: only `data:` lines and comments, `[DONE]` last and only there; every other event
 * is a chunk valid against the spec, or an error event (`{"error": …}`, nothing else) valid
 * against `ErrorResponse`.
 */
const assertStream = async (res: Response, what: string) => {
  const text = await res.text()
  assert.equal(res.status, 200, `${what}: ${text}`)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/, what)
  const data: string[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith(':')) continue
    assert.ok(line.startsWith('data: '), `${what}: not a data line or a comment: ${line}`)
    data.push(line.slice('data: '.length))
  }
  assert.equal(data.at(-1), '[DONE]', `${what}: [DONE] last:\n${text}`)
  assert.equal(data.indexOf('[DONE]'), data.length - 1, `${what}: [DONE] once:\n${text}`)
  const chunks: any[] = []
  const errors: any[] = []
  data.slice(0, -1).forEach((payload, i) => {
    const event = JSON.parse(payload)
    if ('error' in event) {
      assert.deepEqual(Object.keys(event), ['error'], `${what}: event ${i}`)
      assertValid(ERROR, event, `${what}: error event ${i}`)
      errors.push(event)
    } else {
      assertValid(CHUNK, event, `${what}: chunk ${i}`)
      chunks.push(event)
    }
  })
  return { chunks, errors }
}

const streamed = (extra: Record<string, unknown> = {}) => ({ stream: true, ...extra })
const withUsage = { stream: true, stream_options: { include_usage: true } }

describe('the OpenAPI helper', () => {
  const chunk = (patch: Record<string, unknown> = {}, choice: Record<string, unknown> = {}) => ({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'openclaw',
    choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: null, ...choice }],
    ...patch,
  })

  it('reads nullable: true as "or null", beside enum, $ref and type alike', () => {
    // finish_reason: enum + nullable; usage: $ref + nullable; logprobs: type object + nullable.
    assert.deepEqual(violations(CHUNK, chunk({ usage: null })), [])
    assert.deepEqual(violations(CHUNK, chunk({}, { finish_reason: 'stop' })), [])
    // …and "or null" only: the schema beside the marker still applies.
    assert.ok(violations(CHUNK, chunk({ usage: 'none' })).length)
    assert.ok(violations(CHUNK, chunk({}, { finish_reason: 'done' })).length)
    assert.ok(violations(CHUNK, chunk({}, { logprobs: 'none' })).length)
  })

  it('lists each violation with its instance path, the reason and the schema path', () => {
    const found = violations(
      CHUNK,
      chunk({ created: Date.now(), id: undefined }, { finish_reason: 'done' })
    )
    const expected = [
      "(root) must have required property 'id' (#/components/schemas/" + CHUNK + '/required)',
      '/created must match format "unixtime" (#/components/schemas/' +
        CHUNK +
        '/properties/created/format)',
    ]
    for (const line of expected) assert.ok(found.includes(line), found.join('\n'))
    assert.ok(
      found.some((line) => line.startsWith('/choices/0/finish_reason must be equal to one of')),
      found.join('\n')
    )
    assert.throws(
      () => assertValid(CHUNK, chunk({ object: 'chat.completion' }), 'the chunk'),
      (err: Error) =>
        err.message.includes("the chunk does not match the OpenAI spec's " + CHUNK) &&
        err.message.includes('/object must be equal to one of the allowed values')
    )
  })

  it('resolves $ref across the spec', () => {
    // `usage` is a $ref to CompletionUsage: its own fields are checked.
    const found = violations(CHUNK, chunk({ choices: [], usage: { prompt_tokens: 1 } }))
    assert.ok(
      found.includes(
        "/usage must have required property 'completion_tokens'" +
          ' (#/components/schemas/CompletionUsage/required)'
      ),
      found.join('\n')
    )
  })

  it('compiles every schema of the spec in strict mode (no keyword left unread)', () => {
    const names = schemaNames()
    assert.ok(names.length > 1000, `${names.length} schemas`)
    for (const name of names) assert.equal(typeof validator(name), 'function', name)
  })

  it('fails clearly on a schema name the spec does not have', () => {
    assert.throws(() => validator('NoSuchSchema'), /the spec has no schema named NoSuchSchema/)
  })

  it("the spec's Model leaves extra properties open (so `permission: []` validates)", () => {
    assert.equal((specSchema('Model') as Record<string, unknown>).additionalProperties, undefined)
    const model = { id: 'm', object: 'model', created: 0, owned_by: 'openclaw' }
    assert.deepEqual(violations('Model', { ...model, permission: [] }), [])
    assert.ok(violations('Model', { ...model, created: '0' }).length)
  })
})

describe('answers against the OpenAI OpenAPI spec', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({ backend: scripted() })
  })
  after(() => server.close())

  describe('non-stream completions', () => {
    it('a plain text answer', async () => {
      const body = await assertJson(
        await chat(server, userMessage('hello')),
        200,
        COMPLETION,
        'text'
      )
      assert.equal(body.choices[0].message.content, 'hello')
      assert.equal(body.choices[0].finish_reason, 'stop')
    })

    it('with system text, history and the x-openclaw-agent-id header (any model name)', async () => {
      const res = await chat(
        server,
        {
          model: 'gpt-4o',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'one' },
            { role: 'assistant', content: 'two' },
            { role: 'user', content: [{ type: 'text', text: 'three' }] },
          ],
        },
        { 'x-openclaw-agent-id': 'beta' }
      )
      const body = await assertJson(res, 200, COMPLETION, 'history')
      assert.equal(body.model, 'gpt-4o')
    })

    it('a tool call (content null, finish_reason tool_calls)', async () => {
      const res = await chat(server, userMessage(CALL_WEATHER))
      assert.equal(res.status, 200)
      const plain = await res.json()
      // Without the tool offered, the hook is echoed as text; offered, it is a call.
      assert.equal(plain.choices[0].message.content, CALL_WEATHER)
      const body = await assertJson(
        await chat(server, { ...userMessage(CALL_WEATHER), tools: TOOLS }),
        200,
        COMPLETION,
        'tool call'
      )
      assert.equal(body.choices[0].finish_reason, 'tool_calls')
      assert.equal(body.choices[0].message.content, null)
      assert.equal(body.choices[0].message.tool_calls[0].function.name, 'get_weather')
    })

    it('two tool calls at once', async () => {
      const res = await chat(server, { ...userMessage('two tools'), tools: TOOLS })
      const body = await assertJson(res, 200, COMPLETION, 'two tool calls')
      assert.equal(body.choices[0].message.tool_calls.length, 2)
    })

    it('finish_reason length', async () => {
      const res = await chat(server, userMessage('hit the limit'))
      const body = await assertJson(res, 200, COMPLETION, 'length')
      assert.equal(body.choices[0].finish_reason, 'length')
    })

    it('usage with prompt_tokens_details', async () => {
      const res = await chat(server, userMessage('cached usage'))
      const body = await assertJson(res, 200, COMPLETION, 'usage details')
      assert.deepEqual(body.usage, {
        prompt_tokens: 40,
        completion_tokens: 4,
        total_tokens: 50,
        prompt_tokens_details: { cached_tokens: 30 },
      })
    })

    it('whole token counts when a backend reports fractions', async () => {
      const res = await chat(server, userMessage('fractional usage'))
      const body = await assertJson(res, 200, COMPLETION, 'fractional usage')
      assert.deepEqual(body.usage, {
        prompt_tokens: 3,
        completion_tokens: 2,
        total_tokens: 5,
        prompt_tokens_details: { cached_tokens: 1 },
      })
    })
  })

  describe('stream chunks', () => {
    for (const [label, options] of [
      ['without usage', streamed()],
      ['with include_usage', withUsage],
    ] as const) {
      const usageChunk = (chunks: any[]) => {
        const last = chunks.at(-1)
        if (label === 'without usage') {
          assert.ok(chunks.every((c) => !('usage' in c)))
          return undefined
        }
        assert.deepEqual(last.choices, [])
        assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
        return last.usage
      }
      const finishOf = (chunks: any[]) =>
        chunks.findLast((c) => c.choices.length).choices[0].finish_reason

      it(`text, ${label}`, async () => {
        const res = await chat(server, { ...userMessage('a longer text in pieces'), ...options })
        const { chunks, errors } = await assertStream(res, `text stream ${label}`)
        assert.deepEqual(errors, [])
        assert.ok(chunks.length > 3)
        assert.equal(finishOf(chunks), 'stop')
        const usage = usageChunk(chunks)
        if (usage) assert.equal(usage.total_tokens, 12)
      })

      it(`tool calls (one, and two with long arguments), ${label}`, async () => {
        for (const message of [CALL_WEATHER, 'two tools']) {
          const res = await chat(server, { ...userMessage(message), tools: TOOLS, ...options })
          const { chunks, errors } = await assertStream(res, `${message} ${label}`)
          assert.deepEqual(errors, [])
          const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? [])
          assert.ok(calls.some((call) => call.id && call.function.name === 'get_weather'))
          if (message === 'two tools') {
            assert.ok(calls.some((call) => call.index === 1 && call.id === 'call_2'))
            const fragments = calls.filter((call) => call.index === 0 && !call.id)
            assert.ok(fragments.length > 1, 'the long arguments come in several chunks')
          }
          assert.equal(finishOf(chunks), 'tool_calls')
          usageChunk(chunks)
        }
      })

      it(`finish_reason length and usage details, ${label}`, async () => {
        const res = await chat(server, { ...userMessage('hit the limit'), ...options })
        const { chunks } = await assertStream(res, `length ${label}`)
        assert.equal(finishOf(chunks), 'length')
        usageChunk(chunks)
        const cached = await chat(server, { ...userMessage('cached usage'), ...options })
        const usage = usageChunk((await assertStream(cached, `cached ${label}`)).chunks)
        if (usage) assert.deepEqual(usage.prompt_tokens_details, { cached_tokens: 30 })
      })

      it(`error events (before and after the first words), ${label}`, async () => {
        for (const [message, extra, expected] of [
          ['/error the agent gave up', {}, 'the agent gave up'],
          ['throw at once', {}, 'internal error'],
          ['throw later', {}, 'internal error'],
          ['fail later', {}, 'the model is overloaded'],
          ['no tool call', { tools: TOOLS, tool_choice: 'required' }, /tool_choice=required/],
        ] as const) {
          const res = await chat(server, { ...userMessage(message), ...extra, ...options })
          const { chunks, errors } = await assertStream(res, `${message} ${label}`)
          assert.equal(errors.length, 1, message)
          if (typeof expected === 'string') assert.equal(errors[0].error.message, expected)
          else assert.match(errors[0].error.message, expected)
          assert.ok(chunks.length >= 1, 'the role chunk came first')
        }
      })
    }
  })

  describe('the models routes', () => {
    it('GET /v1/models is a ListModelsResponse', async () => {
      const body = await assertJson(
        await request(server, '/v1/models'),
        200,
        'ListModelsResponse',
        '/v1/models'
      )
      assert.ok(body.data.some((m: { id: string }) => m.id === 'openclaw/beta'))
      for (const model of body.data) assertValid('Model', model, `model ${model.id}`)
    })

    it('GET /v1/models/{id} is a Model', async () => {
      for (const id of ['openclaw', 'openclaw%2Fdefault', 'openclaw%2Fbeta', 'agent:main']) {
        await assertJson(await request(server, `/v1/models/${id}`), 200, 'Model', id)
      }
    })
  })

  describe('error bodies', () => {
    const post = (body: string, headers: Record<string, string> = {}) => chat(server, body, headers)
    const json = (body: unknown) => JSON.stringify(body)

    const cases: [string, number, () => Promise<Response>][] = [
      ['bad JSON', 400, () => post('{"messages": [')],
      ['an empty body', 400, () => post('')],
      ['a JSON array', 400, () => post('[]')],
      ['no messages', 400, () => post(json({ model: 'openclaw' }))],
      ['a bad field', 400, () => post(json({ ...userMessage('hi'), temperature: 5 }))],
      ['n > 1', 400, () => post(json({ ...userMessage('hi'), n: 2 }))],
      ['an unsupported part', 400, () => post(json(userMessage([{ type: 'input_audio' }])))],
      [
        'an image URL while URLs are off',
        400,
        () =>
          post(
            json(
              userMessage([{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }])
            )
          ),
      ],
      ['an invalid model', 400, () => post(json({ model: 'gpt-4o', ...userMessage('hi') }))],
      [
        'an unknown agent',
        400,
        () => post(json({ model: 'openclaw/nobody', ...userMessage('hi') })),
      ],
      [
        'an unknown agent header',
        400,
        () => post(json(userMessage('hi')), { 'x-openclaw-agent-id': 'nobody' }),
      ],
      [
        'a reserved session key',
        400,
        () => post(json(userMessage('hi')), { 'x-openclaw-session-key': 'cron:nightly' }),
      ],
      ['an invalid model id', 400, () => request(server, '/v1/models/gpt-4o')],
      ['no token', 401, () => post(json(userMessage('hi')), { authorization: '' })],
      ['a wrong token', 401, () => post(json(userMessage('hi')), { authorization: 'Bearer no' })],
      ['an unknown path', 404, () => request(server, '/v1/nothing')],
      ['an unknown model id', 404, () => request(server, '/v1/models/openclaw%2Fnobody')],
      ['GET on the chat route', 405, () => request(server, '/v1/chat/completions')],
      ['POST on the models route', 405, () => request(server, '/v1/models', { method: 'POST' })],
      ['a throwing agent', 500, () => post(json(userMessage('throw at once')))],
      ['a throwing agent after words', 500, () => post(json(userMessage('throw later')))],
      ['an /error run', 502, () => post(json(userMessage('/error the agent gave up')))],
      ['an agent error event', 502, () => post(json(userMessage('fail later')))],
      [
        'an unmet tool_choice',
        502,
        () => post(json({ ...userMessage('no call'), tools: TOOLS, tool_choice: 'required' })),
      ],
    ]
    for (const [what, status, send] of cases) {
      it(`${status}: ${what}`, async () => {
        await assertJson(await send(), status, ERROR, what)
      })
    }

    it('404: the endpoint disabled (chat and models)', async () => {
      const off = await startServer({
        config: { gateway: { http: { endpoints: { chatCompletions: { enabled: false } } } } },
      })
      try {
        await assertJson(await chat(off, userMessage('hi')), 404, ERROR, 'disabled chat')
        await assertJson(await request(off, '/v1/models'), 404, ERROR, 'disabled models')
      } finally {
        await off.close()
      }
    })

    it('408 and 413: a body too slow and a body too large', async () => {
      const small = await startServer({
        config: {
          gateway: {
            http: { endpoints: { chatCompletions: { maxBodyBytes: 1024, bodyTimeoutMs: 200 } } },
          },
        },
      })
      try {
        const big = JSON.stringify(userMessage('x'.repeat(2048)))
        await assertJson(await chat(small, big), 413, ERROR, 'too large')
        // Half a body, then nothing: the server's own body deadline answers.
        const answer = await within(stalledBody(small), 'the 408')
        assert.equal(answer.status, 408, answer.body)
        assertValid(ERROR, JSON.parse(answer.body), 'too slow')
      } finally {
        await small.close()
      }
    })

    it('429: locked out after failed authentication', async () => {
      const strict = await startServer({
        config: { gateway: { auth: { rateLimit: { maxAttempts: 1, exemptLoopback: false } } } },
      })
      try {
        const wrong = () => chat(strict, userMessage('hi'), { authorization: 'Bearer no' })
        await assertJson(await wrong(), 401, ERROR, 'the failure')
        await assertJson(await wrong(), 429, ERROR, 'the lockout')
      } finally {
        await strict.close()
      }
    })

    it('503: shutting down', async () => {
      const closing = await startServer()
      try {
        closing.shutdown.abort()
        await assertJson(await chat(closing, userMessage('hi')), 503, ERROR, 'shutting down')
      } finally {
        await closing.close()
      }
    })

    it('500: a misconfigured worker (its fetch handler, called as workerd calls it)', async () => {
      const env = { OPENCLAW_CHAT_COMPLETIONS_ENABLED: 'true', OPENCLAW_AUTH_MODE: 'sometimes' }
      const res = await worker.fetch(new Request('http://worker/v1/models'), env, {})
      await assertJson(res, 500, ERROR, 'misconfigured worker')
    })

    it('504: a run that times out (non-stream), and its error event (stream)', async () => {
      const slow = await startServer({
        backend: scripted(),
        config: { agents: { defaults: { timeoutSeconds: 0.2 } } },
      })
      try {
        await assertJson(await chat(slow, userMessage('hang')), 504, ERROR, 'timeout')
        const res = await chat(slow, { ...userMessage('hang'), ...withUsage })
        const { errors } = await assertStream(res, 'timeout stream')
        assert.equal(errors.length, 1)
        assert.match(errors[0].error.message, /did not finish within 0.2 seconds/)
      } finally {
        await slow.close()
      }
    })
  })
})

/**
 * Sends a request head promising 100 bytes of body and only part of them, then reads the answer
 * (by its Content-Length, or its chunks: Bun's `node:http` frames short answers in chunks).
 */
const stalledBody = (server: TestServer) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const { host, hostname, port } = new URL(server.url)
    const socket = net.connect(Number(port), hostname)
    let data = ''
    socket.setEncoding('latin1')
    socket.on('connect', () => {
      const head = [
        'POST /v1/chat/completions HTTP/1.1',
        `Host: ${host}`,
        `Authorization: Bearer ${TOKEN}`,
        'Content-Type: application/json',
        'Content-Length: 100',
      ]
      socket.write(`${head.join('\r\n')}\r\n\r\n{"messages": [`)
    })
    socket.on('data', (chunk: string) => {
      data += chunk
      const answer = parseAnswer(data)
      if (!answer) return
      socket.destroy()
      resolve({ status: answer.status, body: Buffer.from(answer.body, 'latin1').toString('utf8') })
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`the connection closed before an answer:\n${data}`)))
  })

/** A whole HTTP/1.1 answer out of the bytes so far (latin1), or undefined when more must come. */
const parseAnswer = (data: string) => {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const head = data.slice(0, end)
  const rest = data.slice(end + 4)
  const status = Number(head.split(' ')[1])
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
  if (length !== undefined) {
    return rest.length >= Number(length)
      ? { status, body: rest.slice(0, Number(length)) }
      : undefined
  }
  assert.match(head, /\r\ntransfer-encoding:\s*chunked/i, head)
  let body = ''
  for (let i = 0; ;) {
    const eol = rest.indexOf('\r\n', i)
    if (eol === -1) return undefined
    const size = parseInt(rest.slice(i, eol), 16)
    if (size === 0) return { status, body }
    if (rest.length < eol + 2 + size + 2) return undefined
    body += rest.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
}
