/**
 * Hostile input: whatever a client sends (any JSON, wrong types in every field, odd headers,
 * bytes that are not UTF-8, bodies nested 100 000 deep or 19 MiB long, prototype keys, headers
 * with CR/LF, bodies that trickle in), the answer is a completion or a 4xx in the OpenAI error
 * envelope, no run starts for an error, nothing leaks into `Object.prototype`, and the server
 * keeps serving.
 */
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import type { AgentEvent, AgentRunInput } from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  sseChunks,
  sseData,
  startServer,
  TOKEN,
  userMessage,
  type TestServer,
} from './helpers.ts'

const LONG = { timeout: 60_000 }
const RUNS = 300

/** Answers every turn, and honours a `tool_choice` that asks for a tool, so valid input is a 200. */
const obliging = async function* (input: AgentRunInput): AsyncIterable<AgentEvent> {
  const choice = input.toolChoice
  if (choice && choice !== 'auto' && choice !== 'none') {
    const name =
      typeof choice === 'object' ? choice.function.name : input.clientTools[0].function.name
    yield { type: 'tool_calls', calls: [{ id: 'call_1', name, arguments: '{}' }] }
  } else yield { type: 'text', delta: 'ok' }
  yield { type: 'done' }
}

const probe = probeBackend(obliging)
let server: TestServer
before(async () => {
  server = await startServer({ backend: probe.backend })
})
after(() => server.close())

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort()
const PROTOTYPE_KEYS = prototypeKeys()

/** Nothing was written into `Object.prototype`. */
const assertNoPollution = () => {
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  assert.deepEqual(prototypeKeys(), PROTOTYPE_KEYS)
}

/** A plain request still gets its plain answer. */
const assertServing = async (target: TestServer = server) => {
  const res = await chat(target, userMessage('still there?'))
  const text = await res.text()
  assert.equal(res.status, 200, text)
  assert.equal(JSON.parse(text).object, 'chat.completion')
}

/**
 * Checks any answer: a 200 with a valid completion (or stream of chunks ending in [DONE]) after
 * exactly one run, or a 4xx in the exact error envelope with no run at all.
 */
const assertSane = async (res: Response, runsBefore: number, what: string) => {
  const text = await res.text()
  const runs = probe.inputs.length - runsBefore
  const context = `${what}\n→ ${res.status} ${text.slice(0, 500)}`
  if (res.status === 200) {
    assert.equal(runs, 1, context)
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const data = sseData(text)
      assert.equal(data.at(-1), '[DONE]', context)
      const chunks = sseChunks(text)
      assert.ok(chunks.length > 0, context)
      for (const chunk of chunks) {
        assert.ok(!('error' in chunk), context)
        assert.equal(chunk.object, 'chat.completion.chunk', context)
      }
      const finish = chunks.findLast((c) => c.choices.length)!.choices[0].finish_reason
      assert.ok(finish === 'stop' || finish === 'tool_calls', context)
    } else {
      const body = JSON.parse(text)
      assert.equal(body.object, 'chat.completion', context)
      assert.equal(body.choices.length, 1, context)
      const { content } = body.choices[0].message
      assert.ok(content === null || typeof content === 'string', context)
    }
    return
  }
  assert.ok(res.status >= 400 && res.status < 500, context)
  assert.equal(runs, 0, context)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, context)
  const body = JSON.parse(text)
  assert.deepEqual(Object.keys(body), ['error'], context)
  const { error } = body
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'], context)
  assert.equal(typeof error.message, 'string', context)
  assert.equal(typeof error.type, 'string', context)
  assert.ok(error.param === null || typeof error.param === 'string', context)
  assert.ok(error.code === null || typeof error.code === 'string', context)
}

// --- arbitraries -------------------------------------------------------------------------------

/** Any string, lone surrogates and control characters included. */
const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 40 }))
/** Strings `fetch` accepts as header values. */
const headerValue = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 80,
})
const junk = fc.jsonValue({ maxDepth: 3 })
const optional = { requiredKeys: [] as never[] }

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='
const IMAGE_URLS = [
  PNG,
  'data:image/png;base64,AAAA',
  'data:image/gif;base64,R0lGODlh',
  'data:image/png,plain',
  'data:,',
  'https://example.com/a.png',
  'file:///etc/passwd',
  '',
]

const word = fc.string({ minLength: 1, maxLength: 8 })
/** Values one step off: out of range, empty, the wrong container. */
const nearMiss = fc.constantFrom(
  -1,
  0,
  1.5,
  3,
  2 ** 53,
  -0.5,
  '',
  ' ',
  'bot',
  [],
  [''],
  {},
  { type: 'x' }
)

type Field = <T>(valid: fc.Arbitrary<T>) => fc.Arbitrary<unknown>
/** Always the right shape. */
const right: Field = (valid) => valid
/** Mostly the right shape, sometimes anything at all. */
const wrongAtTimes: Field = (valid) =>
  fc.oneof({ weight: 5, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk })

/** Requests of the shape OpenAI documents, each value made by `field` (so it may be anything). */
const requests = (field: Field) => {
  const contentPart = field(
    fc.oneof(
      fc.record({ type: fc.constantFrom('text', 'input_text'), text: field(anyString) }),
      fc.record({
        type: fc.constant('image_url'),
        image_url: field(
          fc.oneof(
            fc.constantFrom(...IMAGE_URLS),
            fc.record({ url: field(fc.constantFrom(...IMAGE_URLS)), detail: junk }, optional)
          )
        ),
      }),
      fc.record({ type: fc.constant('refusal'), refusal: field(anyString) })
    )
  )

  const toolCall = fc.record(
    {
      id: field(fc.constantFrom('call_1', ' ', '')),
      type: field(fc.constant('function')),
      function: field(
        fc.record({ name: field(fc.constantFrom('lookup', ' ')), arguments: junk }, optional)
      ),
    },
    optional
  )

  const message = field(
    fc.record(
      {
        role: field(fc.constantFrom(...ROLES, 'user', 'user', 'user', 'user')),
        content: field(
          fc.oneof(anyString, anyString, fc.constant(null), fc.array(contentPart, { maxLength: 3 }))
        ),
        name: field(anyString),
        tool_call_id: field(anyString),
        tool_calls: field(fc.array(toolCall, { maxLength: 2 })),
      },
      { requiredKeys: ['role', 'content'] }
    )
  )

  const tool = field(
    fc.record(
      {
        type: field(fc.constant('function')),
        function: field(
          fc.record(
            {
              name: field(fc.constantFrom('lookup', 'search', '__proto__')),
              description: junk,
              parameters: junk,
              strict: junk,
            },
            { requiredKeys: ['name'] }
          )
        ),
      },
      { requiredKeys: ['type', 'function'] }
    )
  )

  /** Every known field, with values of the right type (some still out of range). */
  const fields = {
    model: fc.constantFrom('openclaw', 'openclaw/beta', 'agent:main', 'OpenClaw:Beta'),
    messages: fc.array(message, { minLength: 1, maxLength: 4 }),
    stream: fc.boolean(),
    stream_options: fc.record({ include_usage: fc.boolean() }, optional),
    user: anyString,
    tools: fc.array(tool, { maxLength: 3 }),
    tool_choice: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('auto', 'none', 'required') },
      fc.record({
        type: fc.constant('function'),
        function: fc.record({ name: fc.constantFrom('lookup', 'search') }),
      })
    ),
    max_tokens: fc.integer({ min: 1, max: 4096 }),
    max_completion_tokens: fc.integer({ min: 1, max: 4096 }),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    top_p: fc.double({ min: 0, max: 1, noNaN: true }),
    frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
    stop: fc.oneof(word, fc.array(word, { maxLength: 4 })),
    response_format: fc.record({
      type: fc.constantFrom('text', 'json_object', 'json_schema'),
    }),
    n: fc.constant(1),
    seed: fc.integer(),
  }
  const known = Object.fromEntries(
    Object.entries(fields as Record<string, fc.Arbitrary<unknown>>).map(([k, arb]) => [
      k,
      field(arb),
    ])
  )
  return fc.record(known, { requiredKeys: ['messages'] })
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function']
const FIELD_NAMES = [
  ...['model', 'messages', 'stream', 'stream_options', 'user', 'tools', 'tool_choice', 'n'],
  ...['max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'frequency_penalty'],
  ...['presence_penalty', 'stop', 'response_format', 'seed', 'metadata'],
]

/**
 * Plausible requests with up to three top-level fields (known or not) replaced by anything, and
 * requests with anything anywhere inside.
 */
const body = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        requests(right),
        fc.oneof(
          fc.constant({}),
          fc.dictionary(
            fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string()),
            fc.oneof(nearMiss, junk),
            { minKeys: 1, maxKeys: 3 }
          )
        )
      )
      .map(([valid, wrong]) => ({ ...valid, ...wrong })),
  },
  { weight: 1, arbitrary: requests(wrongAtTimes) }
)

const headers = fc.record(
  {
    'x-openclaw-agent-id': fc.oneof(
      fc.constantFrom('main', 'beta', ' BETA ', 'ghost'),
      headerValue
    ),
    'x-openclaw-session-key': fc.oneof(
      fc.constantFrom('s1', 'cron:x', 'agent:main:acp:y'),
      headerValue
    ),
    'x-openclaw-message-channel': headerValue,
    'x-openclaw-model': fc.oneof(fc.constantFrom('openai/gpt-4o', 'a/', '/b'), headerValue),
    'x-request-id': headerValue,
  },
  optional
)

/** `fc.assert` over one request per case, with the prototype checked after each. */
const fuzz = <T>(
  arb: fc.Arbitrary<T>,
  send: (value: T) => Promise<Response>,
  label: (value: T) => string
) =>
  fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const runs = probe.inputs.length
      await assertSane(await send(value), runs, label(value))
      assertNoPollution()
    }),
    { numRuns: RUNS }
  )

describe('fuzzed requests', () => {
  it('answers any JSON value as a body with a completion or a 4xx envelope', LONG, async () => {
    await fuzz(
      fc.jsonValue(),
      (value) => chat(server, JSON.stringify(value) ?? 'null'),
      (value) => JSON.stringify(value)
    )
    await assertServing()
  })

  it('answers wrong types in every known field, and odd parts and roles', LONG, async () => {
    await fuzz(
      body,
      (value) => chat(server, value),
      (value) => JSON.stringify(value)
    )
    await assertServing()
  })

  it('answers any printable value in the routing headers', LONG, async () => {
    const request = fc.record({
      headers,
      body: fc.oneof(
        { weight: 3, arbitrary: fc.constant(userMessage('hi') as unknown) },
        { weight: 1, arbitrary: body as fc.Arbitrary<unknown> }
      ),
    })
    await fuzz(
      request,
      (value) => chat(server, value.body, value.headers),
      (value) => JSON.stringify(value)
    )
    await assertServing()
  })
})

// --- the corpus ----------------------------------------------------------------------------------

/** Asserts a rejection with its envelope, that no run started, and that the server still serves. */
const rejects = async (
  send: () => Promise<Response>,
  status: number,
  expected: Parameters<typeof assertError>[2] = {},
  target: TestServer = server
) => {
  const runs = probe.inputs.length
  const error = await assertError(await send(), status, expected)
  assert.equal(probe.inputs.length, runs, 'no run may start')
  await assertServing(target)
  return error
}

/** Asserts a 200 completion after exactly one run; returns that run's input. */
const accepts = async (send: () => Promise<Response>) => {
  const runs = probe.inputs.length
  const res = await send()
  const text = await res.text()
  assert.equal(res.status, 200, text.slice(0, 500))
  assert.equal(JSON.parse(text).choices[0].message.content, 'ok')
  assert.equal(probe.inputs.length, runs + 1)
  await assertServing()
  return probe.inputs[runs]
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)

interface RawAnswer {
  status: number
  text: string
}

/**
 * Opens a TCP connection, lets `write` send anything on it, and resolves with the status and
 * text of the first answer (read to its Content-Length, or to the connection's end).
 */
/** A chunked body's content once its last chunk has arrived, else undefined. */
const dechunk = (raw: string): string | undefined => {
  let text = ''
  for (let at = 0; ;) {
    const lineEnd = raw.indexOf('\r\n', at)
    if (lineEnd === -1) return undefined
    const size = parseInt(raw.slice(at, lineEnd), 16)
    if (size === 0) return text
    if (!(size > 0) || raw.length < lineEnd + 2 + size + 2) return undefined
    text += raw.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}

const rawExchange = (target: TestServer, write: (socket: net.Socket) => void) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const { hostname, port } = new URL(target.url)
    const socket = net.connect(Number(port), hostname)
    let data = ''
    let settled = false
    const answer = (final: boolean) => {
      const end = data.indexOf('\r\n\r\n')
      if (end === -1) return undefined
      const head = data.slice(0, end)
      const status = Number(head.split(' ')[1])
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1]
      const rest = data.slice(end + 4)
      if (length !== undefined && rest.length >= Number(length))
        return { status, text: rest.slice(0, Number(length)) }
      // Some servers (Bun's `node:http`) frame even a short answer in chunks.
      const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head) ? dechunk(rest) : undefined
      if (chunked !== undefined) return { status, text: chunked }
      return final ? { status, text: rest } : undefined
    }
    const settle = (result: RawAnswer | undefined, err?: Error) => {
      if (settled) return
      if (!result && !err) return
      settled = true
      socket.destroy()
      if (result) resolve(result)
      else reject(err)
    }
    socket.setEncoding('latin1')
    socket.on('connect', () => write(socket))
    socket.on('data', (chunk: string) => {
      data += chunk
      settle(answer(false))
    })
    socket.on('end', () => settle(answer(true), new Error(`closed without an answer:\n${data}`)))
    socket.on('close', () => settle(answer(true), new Error(`closed without an answer:\n${data}`)))
    // A reset after the answer is fine: the server may close without reading the rest.
    socket.on('error', (err) => settle(answer(true), err))
  })

const requestHead = (target: TestServer, lines: string[]) =>
  [
    'POST /v1/chat/completions HTTP/1.1',
    `Host: ${new URL(target.url).host}`,
    `Authorization: Bearer ${TOKEN}`,
    'Content-Type: application/json',
    ...lines,
    '',
    '',
  ].join('\r\n')

describe('nasty requests', () => {
  it('answers 400 for invalid JSON', async () => {
    for (const text of ['{"messages": [', '{messages: 1}', '\u0000', '{"a":1}{"b":2}', 'NaN']) {
      await rejects(() => chat(server, text), 400, { param: null })
    }
  })

  it('answers 400 for bytes that are not UTF-8', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(userMessage('__')))
    bytes.set([0xc3, 0x28], bytes.indexOf(0x5f))
    await rejects(() => chat(server, '', {}, { body: bytes }), 400, {
      message: 'The request body is not valid UTF-8.',
    })
    // A surrogate encoded on its own (CESU-8) is not UTF-8 either.
    const json = new TextEncoder().encode(JSON.stringify(userMessage('_')))
    const lone = new Uint8Array([...json.slice(0, -4), 0xed, 0xa0, 0x80, ...json.slice(-3)])
    await rejects(() => chat(server, '', {}, { body: lone }), 400, {
      message: 'The request body is not valid UTF-8.',
    })
  })

  it(
    'answers 400 for arrays nested 100 000 deep, as `messages` or as an unknown field',
    LONG,
    async () => {
      const deep = nested(100_000)
      const hi = '"messages":[{"role":"user","content":"hi"}]'
      for (const text of [
        `{"messages":${deep}}`,
        `{${hi},"extra":${deep}}`,
        `{${hi},"tools":[{"type":"function","function":{"name":"f","parameters":{"a":${deep}}}}]}`,
        `{"messages":[{"role":"assistant","content":"x","tool_calls":[{"id":"c","function":{"name":"f","arguments":${deep}}}]},{"role":"user","content":"hi"}]}`,
      ]) {
        const error = await rejects(() => chat(server, text), 400, { param: null })
        assert.match(error.message, /deeper than \d+ levels/)
      }
      // Brackets inside strings are text, not nesting.
      const bracketText = '['.repeat(100_000)
      const input = await accepts(() => chat(server, userMessage(bracketText)))
      assert.equal(input.message, bracketText)
    }
  )

  it('accepts a 19 MiB string as content', LONG, async () => {
    const text = 'x'.repeat(19 * 1024 * 1024)
    const input = await accepts(() => chat(server, userMessage(text)))
    assert.equal(input.message.length, text.length)
  })

  it('accepts 20 000 messages', LONG, async () => {
    const messages = Array.from({ length: 20_000 }, (_, i) => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `message ${i}`,
    }))
    const input = await accepts(() => chat(server, { messages }))
    assert.equal(input.messages.length, 20_000)
    assert.match(input.message, /User: message 19998$/)
  })

  describe('prototype keys', () => {
    const hi = { role: 'user', content: 'hi' }
    const poison = '{"polluted":"yes","stream":true,"role":"system","tools":[{"function":null}]}'

    it('ignores __proto__, constructor and prototype at the top level', async () => {
      const text = `{"__proto__":${poison},"constructor":{"prototype":${poison}},"prototype":${poison},"messages":[{"role":"user","content":"hi"}]}`
      const runs = probe.inputs.length
      const res = await chat(server, text)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      await assertSane(res, runs, text)
      assert.deepEqual(probe.inputs.at(-1)!.streamParams, {})
      assertNoPollution()
      await assertServing()
    })

    it('ignores them in a message', async () => {
      const text = `{"messages":[{"role":"user","content":"hi","__proto__":${poison},"constructor":{"prototype":${poison}},"prototype":${poison}}]}`
      const input = await accepts(() => chat(server, text))
      assert.deepEqual(input.messages, [{ role: 'user', text: 'hi' }])
      assertNoPollution()
    })

    it('passes them through as plain data in tool parameters', async () => {
      const parameters = `{"type":"object","__proto__":${poison},"constructor":{"prototype":${poison}},"prototype":${poison}}`
      const text = `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${parameters}}}]}`
      const input = await accepts(() => chat(server, text))
      const got = input.clientTools[0].function.parameters!
      assert.equal(Object.getPrototypeOf(got), Object.prototype)
      assert.ok(Object.hasOwn(got, '__proto__'))
      assert.deepEqual(Object.keys(got).sort(), ['__proto__', 'constructor', 'prototype', 'type'])
      assertNoPollution()
    })

    it('treats them as ordinary (unknown) names elsewhere', async () => {
      await rejects(() => chat(server, { model: '__proto__', messages: [hi] }), 400, {
        param: 'model',
      })
      await rejects(() => chat(server, { messages: [{ role: '__proto__', content: 'hi' }] }), 400, {
        param: 'messages[0].role',
      })
      for (const id of ['__proto__', 'constructor', 'toString']) {
        await rejects(() => chat(server, { messages: [hi] }, { 'x-openclaw-agent-id': id }), 400, {
          code: 'model_not_found',
        })
      }
      await rejects(
        () =>
          chat(server, {
            messages: [hi],
            tool_choice: { type: 'function', function: { name: 'constructor' } },
          }),
        400,
        { param: 'tool_choice' }
      )
      const runs = probe.inputs.length
      const res = await chat(server, {
        messages: [hi],
        tools: [{ type: 'function', function: { name: '__proto__' } }],
        tool_choice: { type: 'function', function: { name: '__proto__' } },
      })
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.choices[0].message.tool_calls[0].function.name, '__proto__')
      assert.equal(probe.inputs.length, runs + 1)
      assertNoPollution()
    })
  })

  it('passes NUL bytes in content through', async () => {
    const input = await accepts(() => chat(server, userMessage('a\u0000b\u0000')))
    assert.equal(input.message, 'a\u0000b\u0000')
  })

  it('answers 400 for a data URI whose bytes are not the declared image type', async () => {
    const gif = btoa('GIF89a\u0001\u0000\u0001\u0000')
    for (const url of [
      `data:image/png;base64,${gif}`,
      `data:image/jpeg;base64,${btoa('<svg xmlns="http://www.w3.org/2000/svg"/>')}`,
    ]) {
      const content = [
        { type: 'text', text: 'look' },
        { type: 'image_url', image_url: { url } },
      ]
      const error = await rejects(() => chat(server, userMessage(content)), 400, {
        param: 'messages[0].content[1]',
      })
      assert.match(error.message, /The image bytes are not image\/(png|jpeg)\./)
    }
  })

  it('answers 400 without echoing a 10 kB session-key or agent-id header', async () => {
    const big = 'k'.repeat(10_000)
    for (const name of ['x-openclaw-session-key', 'x-openclaw-agent-id']) {
      const error = await rejects(() => chat(server, userMessage('hi'), { [name]: big }), 400)
      assert.ok(error.message.length < 200, error.message)
    }
  })

  it('sends a session key made from any `user` as a valid header', async () => {
    for (const user of ['josé', '日本', 'a\nb', 'a\u0000b', 'x\ud800y']) {
      const runs = probe.inputs.length
      const res = await chat(server, { user, ...userMessage('hi') })
      const text = await res.text()
      assert.equal(res.status, 200, text)
      assert.equal(probe.inputs.length, runs + 1)
      const { sessionKey } = probe.inputs[runs]
      assert.equal(sessionKey, `agent:main:openai-user:${user}`)
      const header = res.headers.get('x-openclaw-session-key')!
      assert.match(header, /^[\x21-\x7e]+$/)
      assert.equal(decodeURIComponent(header), sessionKey.replace(/\p{Cs}/gu, '\ufffd'))
    }
    await assertServing()
  })

  it('refuses a header with CR or LF in its value at the HTTP parser', async () => {
    for (const line of [
      'X-Openclaw-Session-Key: a\rInjected: 1',
      'X-Openclaw-Agent-Id: main\r\r\nX: 1',
    ]) {
      const runs = probe.inputs.length
      const json = JSON.stringify(userMessage('hi'))
      const answer = await rawExchange(server, (socket) =>
        socket.write(requestHead(server, [line, `Content-Length: ${json.length}`]) + json)
      )
      assert.equal(answer.status, 400, answer.text)
      assert.equal(probe.inputs.length, runs)
      await assertServing()
    }
  })

  describe('with small limits', () => {
    let small: TestServer
    before(async () => {
      small = await startServer({
        backend: probe.backend,
        config: {
          gateway: {
            http: { endpoints: { chatCompletions: { maxBodyBytes: 1024, bodyTimeoutMs: 300 } } },
          },
        },
      })
    })
    after(() => small.close())

    it('answers 408 to a body that arrives one byte per second', LONG, async () => {
      const runs = probe.inputs.length
      const json = JSON.stringify(userMessage('slowly'))
      let timer: ReturnType<typeof setInterval> | undefined
      const answer = await rawExchange(small, (socket) => {
        socket.write(requestHead(small, [`Content-Length: ${json.length}`]))
        let sent = 0
        timer = setInterval(() => {
          if (sent < json.length && socket.writable) socket.write(json[sent++])
        }, 1000)
      }).finally(() => clearInterval(timer))
      assert.equal(answer.status, 408, answer.text)
      const { error } = JSON.parse(answer.text)
      assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'])
      assert.equal(error.type, 'invalid_request_error')
      assert.match(error.message, /timeout/i)
      assert.equal(probe.inputs.length, runs)
      await assertServing(small)
    })

    it('answers 413 to a chunked body over maxBodyBytes without Content-Length', async () => {
      const runs = probe.inputs.length
      const chunk = 'x'.repeat(512)
      const body = Array.from({ length: 8 }, () => `200\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'
      const answer = await rawExchange(small, (socket) =>
        socket.write(requestHead(small, ['Transfer-Encoding: chunked']) + body)
      )
      assert.equal(answer.status, 413, answer.text)
      const { error } = JSON.parse(answer.text)
      assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'])
      assert.match(error.message, /1024 bytes/)
      assert.equal(probe.inputs.length, runs)
      await assertServing(small)
    })
  })
})
