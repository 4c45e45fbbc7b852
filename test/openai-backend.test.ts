/**
 * The openai backend against a fake OpenAI-compatible model server (node:http on a free port)
 * that records each request and answers with a scripted stream: our real HTTP server in front,
 * so what is checked is what a client sees and what the upstream receives.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import OpenAI from 'openai'
import type { ConfigInput } from '../src/index.ts'
import { CREDENTIALS_REJECTED } from '../src/backends/openai-errors.ts'
import { nodeBackendRuntime } from '../src/runtimes/node.ts'
import {
  TOKEN,
  assertError,
  bodyReader,
  chat,
  deferred,
  sseChunks,
  sseData,
  startServer,
  type TestServer,
} from './helpers.ts'

const SECRET = 'sk-secret'

/** Waits for `promise`; the wall-clock bound only turns a hang into a failure. */
const within = async <T>(promise: Promise<T>, what: string, boundMs = 5_000): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), boundMs)
  })
  try {
    return await Promise.race([promise, hang])
  } finally {
    clearTimeout(timer)
  }
}

interface Recorded {
  url: string
  headers: IncomingMessage['headers']
  body: any
}
type Handler = (res: ServerResponse, req: Recorded) => void | Promise<void>

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-up',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
})
const usageChunk = (usage: Record<string, unknown>) => ({
  id: 'chatcmpl-up',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [],
  usage,
})

/** Answers with these chunks as SSE, then `[DONE]`. */
const sse =
  (chunks: unknown[]): Handler =>
  (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`)
    res.end('data: [DONE]\n\n')
  }

/** A plain streamed answer: the role chunk, the text in two pieces, the finish, the usage. */
const reply = (text: string, finish = 'stop', usage = { prompt_tokens: 3, completion_tokens: 2 }) =>
  sse([
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: text.slice(0, 2) }),
    chunk({ content: text.slice(2) }),
    chunk({}, finish),
    usageChunk({ ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens }),
  ])

const fail =
  (status: number, body: unknown): Handler =>
  (res) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }

/** The fake model server. Unscripted requests get `answer <n>` (n counts requests from 1). */
const fakeUpstream = async () => {
  const requests: Recorded[] = []
  const queue: Handler[] = []
  const server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (raw += c))
    req.on('end', () => {
      const rec: Recorded = { url: req.url ?? '', headers: req.headers, body: JSON.parse(raw) }
      requests.push(rec)
      const handler = queue.shift() ?? reply(`answer ${requests.length}`)
      void handler(res, rec)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    last: () => requests[requests.length - 1],
    next: (...handlers: Handler[]) => void queue.push(...handlers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}
type Fake = Awaited<ReturnType<typeof fakeUpstream>>

/** Our server with the openai backend, lent what the Node entry lends it (its lean fetch). */
const openaiServer = (fake: Fake, backend: Record<string, unknown> = {}) =>
  startServer({
    config: {
      backend: { type: 'openai', baseUrl: fake.baseUrl, model: 'm', apiKey: SECRET, ...backend },
    } as ConfigInput,
    backendRuntime: nodeBackendRuntime(),
  })

const user = (content: unknown) => ({ role: 'user', content })
const assistant = (content: string) => ({ role: 'assistant', content })
const wire = (role: string, content: unknown) => ({ role, content })

const PNG = `data:image/png;base64,${btoa(
  String.fromCharCode(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(24).fill(0))
)}`

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

/** Two parallel calls, the first one's arguments split across chunks as OpenAI sends them. */
const toolCallStream = sse([
  chunk({
    role: 'assistant',
    content: null,
    tool_calls: [
      {
        index: 0,
        id: 'call_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '' },
      },
    ],
  }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: 'ty":"Paris"}' } }] }),
  chunk({
    tool_calls: [
      { index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ],
  }),
  chunk({}, 'tool_calls'),
  usageChunk({ prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 }),
])

describe('the openai backend', () => {
  let fake: Fake
  let server: TestServer
  before(async () => {
    fake = await fakeUpstream()
    server = await openaiServer(fake, { headers: { 'x-custom': 'yes' } })
  })
  after(async () => {
    await server.close()
    await fake.close()
  })

  it('sends the roles, the images, the parameters and the credentials upstream', async () => {
    const res = await chat(server, {
      model: 'openclaw',
      max_completion_tokens: 50,
      temperature: 0.5,
      stop: 'END',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Use French.' },
        user([
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        ]),
        assistant('a cat'),
        user([
          { type: 'text', text: 'and this?' },
          { type: 'image_url', image_url: { url: PNG } },
        ]),
      ],
    })
    assert.equal(res.status, 200, await res.clone().text())
    assert.equal((await res.json()).choices[0].message.content, 'answer 1')
    const up = fake.last()
    assert.equal(up.url, '/v1/chat/completions')
    assert.equal(up.headers.authorization, `Bearer ${SECRET}`)
    assert.equal(up.headers['x-custom'], 'yes')
    assert.equal(up.body.model, 'm')
    assert.equal(up.body.stream, true)
    assert.deepEqual(up.body.stream_options, { include_usage: true })
    assert.equal(up.body.max_tokens, 50)
    assert.equal(up.body.temperature, 0.5)
    assert.deepEqual(up.body.stop, ['END'])
    assert.equal(up.body.tools, undefined)
    assert.equal(up.body.tool_choice, undefined)
    assert.deepEqual(up.body.messages, [
      wire('system', 'Be brief.'),
      // Local servers' templates know only `system`.
      wire('system', 'Use French.'),
      wire('user', [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ]),
      wire('assistant', 'a cat'),
      wire('user', [
        { type: 'text', text: 'and this?' },
        { type: 'image_url', image_url: { url: PNG } },
      ]),
    ])
  })

  it('streams the deltas, the usage (cached tokens too) and the finish reason', async () => {
    fake.next(
      sse([
        chunk({ role: 'assistant', content: '' }),
        chunk({ content: 'Hel' }),
        chunk({ content: 'lo' }),
        chunk({}, 'stop'),
        usageChunk({
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 4 },
        }),
      ])
    )
    const res = await chat(server, {
      model: 'openclaw',
      stream: true,
      stream_options: { include_usage: true },
      ...{ messages: [user('hi')] },
    })
    assert.equal(res.status, 200)
    const chunks = sseChunks(await res.text())
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')
    assert.equal(text, 'Hello')
    assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= 2, 'several deltas')
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, 'stop')
    assert.deepEqual(chunks[chunks.length - 1].usage, {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 4 },
    })
  })

  it('answers non-stream with the whole text, and maps finish_reason length', async () => {
    fake.next(reply('cut short', 'length', { prompt_tokens: 4, completion_tokens: 8 }))
    const res = await chat(server, { model: 'openclaw', messages: [user('long please')] })
    const body = await res.json()
    assert.equal(body.choices[0].message.content, 'cut short')
    assert.equal(body.choices[0].finish_reason, 'length')
    assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 8, total_tokens: 12 })
  })

  it('passes client tools up, tool calls down, and the tool result back up', async () => {
    fake.next(toolCallStream)
    const res = await chat(server, {
      model: 'openclaw',
      tools: [WEATHER, { ...WEATHER, function: { ...WEATHER.function, name: 'get_time' } }],
      messages: [user('weather and time in Paris?')],
    })
    const body = await res.json()
    assert.equal(fake.last().body.tools[0].function.name, 'get_weather')
    assert.deepEqual(fake.last().body.tools[0], WEATHER)
    assert.equal(fake.last().body.tool_choice, 'auto')
    assert.equal(body.choices[0].finish_reason, 'tool_calls')
    assert.equal(body.choices[0].message.content, null)
    assert.deepEqual(body.choices[0].message.tool_calls, [
      {
        id: 'call_1',
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ])

    fake.next(reply('sunny, noon'))
    const followUp = await chat(server, {
      model: 'openclaw',
      tools: [WEATHER],
      messages: [
        user('weather in Paris?'),
        { role: 'assistant', content: null, tool_calls: body.choices[0].message.tool_calls },
        { role: 'tool', tool_call_id: 'call_1', content: '{"sky":"sunny"}' },
        { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
      ],
    })
    assert.equal((await followUp.json()).choices[0].message.content, 'sunny, noon')
    assert.deepEqual(fake.last().body.messages.slice(1), [
      {
        role: 'assistant',
        content: null,
        tool_calls: body.choices[0].message.tool_calls,
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"sky":"sunny"}' },
      { role: 'tool', tool_call_id: 'call_2', content: '12:00' },
    ])
  })

  it('streams tool calls to a stream client', async () => {
    fake.next(toolCallStream)
    const res = await chat(server, {
      model: 'openclaw',
      stream: true,
      tools: [WEATHER],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      messages: [user('weather?')],
    })
    const text = await res.text()
    // A stream's headers may come before the upstream request is made: check it after the body.
    assert.deepEqual(fake.last().body.tool_choice, {
      type: 'function',
      function: { name: 'get_weather' },
    })
    const calls: Record<number, { id?: string; name?: string; arguments: string }> = {}
    for (const c of sseChunks(text)) {
      for (const d of c.choices[0]?.delta?.tool_calls ?? []) {
        calls[d.index] ??= { arguments: '' }
        if (d.id) calls[d.index].id = d.id
        if (d.function?.name) calls[d.index].name = d.function.name
        calls[d.index].arguments += d.function?.arguments ?? ''
      }
    }
    assert.deepEqual(calls[0], { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' })
  })

  it('accepts Ollama-style chunks: role on every chunk, whole tool calls', async () => {
    fake.next(
      sse([
        chunk({ role: 'assistant', content: 'Let me check. ' }),
        chunk({
          role: 'assistant',
          content: '',
          tool_calls: [
            {
              id: 'call_x',
              index: 0,
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
            },
          ],
        }),
        chunk({ role: 'assistant', content: '' }, 'tool_calls'),
        usageChunk({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }),
      ])
    )
    const res = await chat(server, { model: 'openclaw', tools: [WEATHER], messages: [user('?')] })
    const { message } = (await res.json()).choices[0]
    assert.equal(message.content, 'Let me check. ')
    assert.equal(message.tool_calls[0].function.arguments, '{"city":"Rome"}')
  })

  it('reads any SSE framing: comments, CRLF, multi-line data, no final blank line', async () => {
    fake.next((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(': ping\r\n\r\n')
      res.write(`data: ${JSON.stringify(chunk({ content: 'a' }))}\r\n\r`)
      res.write('\n')
      const [head, tail] = JSON.stringify(chunk({ content: 'b' })).split('"choices"')
      res.write(`data: ${head}\ndata: "choices"${tail}\n\n`)
      res.write(`data:${JSON.stringify(chunk({}, 'stop'))}\n\n`)
      res.end('data: [DONE]')
    })
    const res = await chat(server, { model: 'openclaw', messages: [user('frame me')] })
    assert.equal((await res.json()).choices[0].message.content, 'ab')
  })

  it('takes a whole JSON completion from a server that ignores stream: true', async () => {
    fake.next((res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          id: 'chatcmpl-up',
          object: 'chat.completion',
          choices: [
            { index: 0, message: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 },
        })
      )
    })
    const res = await chat(server, { model: 'openclaw', stream: true, messages: [user('hi')] })
    const chunks = sseChunks(await res.text())
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'whole')
  })

  it('takes the upstream model from x-openclaw-model', async () => {
    const res = await chat(
      server,
      { model: 'openclaw', messages: [user('hi')] },
      { 'x-openclaw-model': 'llama3.2:3b' }
    )
    assert.equal(res.status, 200)
    await res.body?.cancel()
    assert.equal(fake.last().body.model, 'llama3.2:3b')
  })

  it('aborts the upstream request when the client disconnects', async () => {
    const closed = deferred()
    const release = deferred()
    fake.next(async (res) => {
      res.on('close', () => closed.resolve())
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk({ content: 'first' }))}\n\n`)
      await release.promise
      res.end()
    })
    const res = await chat(server, { model: 'openclaw', stream: true, messages: [user('hold')] })
    const reader = bodyReader(res)
    await reader.until((t) => t.includes('first'))
    await reader.cancel()
    await within(closed.promise, 'the upstream request to close')
    release.resolve()
  })

  it('a mid-stream upstream error ends the stream with an error event and [DONE]', async () => {
    fake.next((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk({ content: 'partial' }))}\n\n`)
      res.write(`data: ${JSON.stringify({ error: { message: 'model crashed', code: 500 } })}\n\n`)
      res.end('data: [DONE]\n\n')
    })
    const res = await chat(server, { model: 'openclaw', stream: true, messages: [user('go')] })
    const text = await res.text()
    const data = sseData(text)
    assert.equal(data[data.length - 1], '[DONE]')
    const chunks = sseChunks(text)
    assert.equal(chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''), 'partial')
    assert.match(chunks[chunks.length - 1].error.message, /model crashed/)
  })

  const ERRORS: [string, number, unknown, number, string | RegExp][] = [
    [
      '401',
      401,
      { error: { message: `Incorrect API key provided: ${SECRET}` } },
      502,
      CREDENTIALS_REJECTED,
    ],
    ['403', 403, { error: 'Forbidden' }, 502, CREDENTIALS_REJECTED],
    [
      '429',
      429,
      { error: { message: 'Rate limit reached for m' } },
      429,
      'Rate limit reached for m',
    ],
    ['500', 500, `Traceback: key=${SECRET}`, 502, /^upstream provider error/],
    [
      '400 (its message, redacted)',
      400,
      { error: { message: `bad stop for ${SECRET}` } },
      400,
      'bad stop for [redacted]',
    ],
    ['404', 404, { error: { message: "model 'm' not found" } }, 404, "model 'm' not found"],
    ['422 (FastAPI detail)', 422, { detail: 'max_tokens too large' }, 400, 'max_tokens too large'],
  ]
  for (const [name, upstream, body, status, message] of ERRORS) {
    it(`maps an upstream ${name} without leaking the key`, async () => {
      fake.next(fail(upstream, body))
      const res = await chat(server, { model: 'openclaw', messages: [user('x')] })
      const text = await res.clone().text()
      assert.ok(!text.includes(SECRET), text)
      await assertError(res, status, { message })
    })
  }

  it('answers 502 when the upstream connection drops mid-answer', async () => {
    fake.next((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk({ content: 'partial' }))}\n\n`, () =>
        res.socket?.destroy()
      )
    })
    const res = await chat(server, { model: 'openclaw', messages: [user('drop')] })
    await assertError(res, 502, { message: 'The upstream connection was lost.' })
  })

  it('reads a long upstream answer whole, chunk by chunk', async () => {
    const pieces = Array.from({ length: 2_000 }, (_, i) => `piece ${i} `.padEnd(64, '.'))
    fake.next(sse(pieces.map((content) => chunk({ content }))))
    const res = await chat(server, { model: 'openclaw', messages: [user('long')] })
    assert.equal(res.status, 200)
    assert.equal((await res.json()).choices[0].message.content, pieces.join(''))
  })

  it('an upstream error before a stream began is an error event', async () => {
    fake.next(fail(401, { error: { message: `bad key ${SECRET}` } }))
    const res = await chat(server, { model: 'openclaw', stream: true, messages: [user('x')] })
    const text = await res.text()
    assert.ok(!text.includes(SECRET), text)
    const chunks = sseChunks(text)
    assert.equal(chunks[chunks.length - 1].error.message, CREDENTIALS_REJECTED)
    assert.equal(sseData(text).pop(), '[DONE]')
  })
})

describe('the openai backend: timeouts and unreachable upstreams', () => {
  it('answers 504 when the upstream sends no headers within timeoutMs', async () => {
    const fake = await fakeUpstream()
    const server = await openaiServer(fake, { timeoutMs: 50 })
    const release = deferred()
    fake.next(async (res) => {
      await release.promise
      res.destroy()
    })
    try {
      const res = await chat(server, { model: 'openclaw', messages: [user('slow')] })
      await assertError(res, 504, { message: 'upstream provider timeout' })
    } finally {
      release.resolve()
      await server.close()
      await fake.close()
    }
  })

  it('answers 502 naming the host when the connection is refused', async () => {
    const fake = await fakeUpstream()
    const { baseUrl } = fake
    await fake.close()
    const server = await openaiServer(fake)
    try {
      const res = await chat(server, { model: 'openclaw', messages: [user('anyone?')] })
      const text = await res.clone().text()
      assert.ok(!text.includes(SECRET), text)
      await assertError(res, 502, {
        message: `Could not connect to the upstream at ${new URL(baseUrl).host}.`,
      })
    } finally {
      await server.close()
    }
  })
})

describe('the openai backend: session memory', () => {
  let fake: Fake
  let server: TestServer
  before(async () => {
    fake = await fakeUpstream()
    server = await openaiServer(fake, { sessions: { maxMessages: 200 } })
  })
  after(async () => {
    await server.close()
    await fake.close()
  })

  /** Sends one turn and returns what the upstream saw as `role: text` lines. */
  const turn = async (
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
    on: TestServer = server
  ) => {
    const res = await chat(on, { model: 'openclaw', ...body }, headers)
    const answer = await res.json()
    return { status: res.status, answer, seen: seen(fake.last().body.messages) }
  }
  const seen = (messages: any[]) =>
    messages.map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : '…'}`)
  const content = (r: { answer: any }) => r.answer.choices[0].message.content as string

  it('with `user` and only the new turn, the upstream sees the whole conversation', async () => {
    const t1 = await turn({ user: 'alice', messages: [user('one')] })
    const t2 = await turn({ user: 'alice', messages: [user('two')] })
    const t3 = await turn({ user: 'alice', messages: [user('three')] })
    assert.deepEqual(t1.seen, ['user: one'])
    assert.deepEqual(t2.seen, ['user: one', `assistant: ${content(t1)}`, 'user: two'])
    assert.deepEqual(t3.seen, [
      'user: one',
      `assistant: ${content(t1)}`,
      'user: two',
      `assistant: ${content(t2)}`,
      'user: three',
    ])
  })

  it('keeps the remembered system message and takes a full history as it is', async () => {
    const key = { 'x-openclaw-session-key': 'team-room' }
    const t1 = await turn({ messages: [{ role: 'system', content: 'Be kind.' }, user('a')] }, key)
    const t2 = await turn({ messages: [user('b')] }, key)
    assert.deepEqual(t2.seen, [
      'system: Be kind.',
      'user: a',
      `assistant: ${content(t1)}`,
      'user: b',
    ])
    // A client that carries its own history is not given the memory twice, and replaces it.
    const full = [user('x'), assistant('y'), user('z')]
    const t3 = await turn({ messages: full }, key)
    assert.deepEqual(t3.seen, ['user: x', 'assistant: y', 'user: z'])
    const t4 = await turn({ messages: [user('w')] }, key)
    assert.deepEqual(t4.seen, [
      'user: x',
      'assistant: y',
      'user: z',
      `assistant: ${content(t3)}`,
      'user: w',
    ])
  })

  it('remembers a tool call, so a tool result alone continues it', async () => {
    fake.next(toolCallStream)
    const t1 = await turn({ user: 'tooler', tools: [WEATHER], messages: [user('weather?')] })
    assert.equal(t1.answer.choices[0].finish_reason, 'tool_calls')
    await turn({
      user: 'tooler',
      tools: [WEATHER],
      messages: [
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: 'noon' },
      ],
    })
    const up = fake.last().body.messages
    assert.deepEqual(
      up.map((m: any) => m.role),
      ['user', 'assistant', 'tool', 'tool']
    )
    assert.equal(up[1].tool_calls[0].id, 'call_1')
    assert.equal(up[2].tool_call_id, 'call_1')
  })

  it('never remembers a stateless request', async () => {
    await turn({ messages: [user('first')] })
    const t2 = await turn({ messages: [user('second')] })
    assert.deepEqual(t2.seen, ['user: second'])
  })

  it('keeps two sessions apart', async () => {
    const a1 = await turn({ user: 'carol', messages: [user('carol 1')] })
    const b1 = await turn({ user: 'dave', messages: [user('dave 1')] })
    const a2 = await turn({ user: 'carol', messages: [user('carol 2')] })
    const b2 = await turn({ user: 'dave', messages: [user('dave 2')] })
    assert.deepEqual(a2.seen, ['user: carol 1', `assistant: ${content(a1)}`, 'user: carol 2'])
    assert.deepEqual(b2.seen, ['user: dave 1', `assistant: ${content(b1)}`, 'user: dave 2'])
  })

  it('does not remember a failed turn', async () => {
    const t1 = await turn({ user: 'erin', messages: [user('ok 1')] })
    fake.next(fail(500, 'boom'))
    const t2 = await turn({ user: 'erin', messages: [user('lost')] })
    assert.equal(t2.status, 502)
    // A stream that breaks off mid-answer is not remembered either.
    fake.next((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk({ content: 'half an ans' }))}\n\n`)
      res.write(`data: ${JSON.stringify({ error: { message: 'oom' } })}\n\n`)
      res.end()
    })
    const t3 = await turn({ user: 'erin', messages: [user('also lost')] })
    assert.equal(t3.status, 502)
    const t4 = await turn({ user: 'erin', messages: [user('ok 2')] })
    assert.deepEqual(t4.seen, ['user: ok 1', `assistant: ${content(t1)}`, 'user: ok 2'])
  })

  it('is bounded by sessions.maxMessages, oldest turns first', async () => {
    const small = await openaiServer(fake, { sessions: { maxMessages: 4 } })
    try {
      const answers: string[] = []
      let last: string[] = []
      for (const n of [1, 2, 3, 4]) {
        const t = await turn({ user: 'frank', messages: [user(`u${n}`)] }, {}, small)
        answers.push(content(t))
        last = t.seen
      }
      assert.deepEqual(last, [
        'user: u2',
        `assistant: ${answers[1]}`,
        'user: u3',
        `assistant: ${answers[2]}`,
        'user: u4',
      ])
    } finally {
      await small.close()
    }
  })
})

describe('the openai SDK → our server → the openai backend', () => {
  let fake: Fake
  let server: TestServer
  before(async () => {
    fake = await fakeUpstream()
    server = await openaiServer(fake)
  })
  after(async () => {
    await server.close()
    await fake.close()
  })

  it('streams text and tool calls end to end', async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: TOKEN, maxRetries: 0 })
    fake.next(reply('Hello there'))
    const stream = await openai.chat.completions.create({
      model: 'openclaw',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }],
    })
    let text = ''
    let usage: unknown
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? ''
      if (c.usage) usage = c.usage
    }
    assert.equal(text, 'Hello there')
    assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 })

    fake.next(toolCallStream)
    const final = await openai.chat.completions
      .stream({
        model: 'openclaw',
        tools: [WEATHER as OpenAI.ChatCompletionTool],
        messages: [{ role: 'user', content: 'weather?' }],
      })
      .finalChatCompletion()
    assert.equal(final.choices[0].finish_reason, 'tool_calls')
    const call = final.choices[0].message.tool_calls?.[0]
    assert.ok(call && call.type === 'function')
    assert.equal(call.function.name, 'get_weather')
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' })
  })

  it('raises the SDK error class for a mapped upstream error', async () => {
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: TOKEN, maxRetries: 0 })
    fake.next(fail(429, { error: { message: 'slow down' } }))
    await assert.rejects(
      openai.chat.completions.create({
        model: 'openclaw',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (err: unknown) => err instanceof OpenAI.RateLimitError && /slow down/.test(err.message)
    )
  })
})

describe('the openai backend behind the Responses API', () => {
  let fake: Fake
  let server: TestServer
  before(async () => {
    fake = await fakeUpstream()
    server = await startServer({
      config: {
        gateway: { http: { endpoints: { responses: { enabled: true } } } },
        backend: { type: 'openai', baseUrl: fake.baseUrl, model: 'm', apiKey: SECRET },
      } as ConfigInput,
      backendRuntime: nodeBackendRuntime(),
    })
  })
  after(async () => {
    await server.close()
    await fake.close()
  })

  const create = (body: unknown) =>
    fetch(`${server.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('sends the items upstream as chat messages, roles and tool calls kept', async () => {
    const res = await create({
      model: 'openclaw',
      instructions: 'Be brief.',
      max_output_tokens: 40,
      tools: [{ type: 'function', name: 'get_weather', parameters: WEATHER.function.parameters }],
      input: [
        { role: 'developer', content: 'Use French.' },
        { role: 'user', content: [{ type: 'input_text', text: 'weather in Paris?' }] },
        {
          type: 'function_call',
          call_id: 'call_9',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
        },
        { type: 'function_call_output', call_id: 'call_9', output: 'sunny' },
      ],
    })
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    const sent = fake.last().body
    assert.equal(fake.last().url, '/v1/chat/completions')
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: 'Use French.' },
      { role: 'user', content: 'weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_9',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_9', content: 'sunny' },
    ])
    assert.equal(sent.max_tokens, 40)
    assert.deepEqual(
      sent.tools.map((t: any) => t.function.name),
      ['get_weather']
    )
    assert.equal(body.output[0].content[0].text, `answer ${fake.requests.length}`)
  })

  it('turns the upstream tool calls into function_call items', async () => {
    fake.next(toolCallStream)
    const res = await create({ tools: [WEATHER], input: 'weather?' })
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.deepEqual(
      body.output.map((i: any) => [i.type, i.call_id, i.name, i.arguments]),
      [
        ['function_call', 'call_1', 'get_weather', '{"city":"Paris"}'],
        ['function_call', 'call_2', 'get_time', '{}'],
      ]
    )
    assert.deepEqual(body.usage.input_tokens, 7)
  })

  it('remembers the conversation for previous_response_id', async () => {
    const first = await (await create({ input: 'my name is Ada' })).json()
    await (await create({ previous_response_id: first.id, input: 'what is my name?' })).json()
    assert.deepEqual(
      fake.last().body.messages.map((m: any) => [m.role, m.content]),
      [
        ['user', 'my name is Ada'],
        ['assistant', first.output[0].content[0].text],
        ['user', 'what is my name?'],
      ]
    )
  })

  it('gives a text file to the model as a system message before the turn', async () => {
    await (
      await create({
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'summarise' },
              {
                type: 'input_file',
                filename: 'a.txt',
                file_data: `data:text/plain;base64,${btoa('file text')}`,
              },
            ],
          },
        ],
      })
    ).json()
    const [system, turn] = fake.last().body.messages
    assert.equal(system.role, 'system')
    assert.match(
      system.content,
      /^<file name="a\.txt">[\s\S]*\nfile text\n<<<END_EXTERNAL_UNTRUSTED_CONTENT/
    )
    assert.deepEqual(turn, { role: 'user', content: 'summarise' })
  })
})
