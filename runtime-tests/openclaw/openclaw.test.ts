/**
 * Against the real OpenClaw gateway (`openclaw@2026.9.6` on Node 24, installed by `setup.mjs`
 * into `.cache/openclaw/`): the gateway runs offline on loopback with the deterministic mock
 * provider (`mock-model.mjs`), and every scenario is sent two ways — to the gateway's own
 * `/v1/chat/completions`, and to ours with the gateway backend (each turn goes to that same
 * gateway over its WebSocket protocol). Both must give the same content, turn numbers, tool calls
 * and errors; where our contract differs on purpose (ids `chatcmpl-` vs `chatcmpl_`, the role
 * chunk, `content: null` for a tool call, the error envelope), each side is held to its own form.
 *
 * The Responses API is compared the same way: the gateway's own `/v1/responses` against ours with
 * the gateway backend (see the second `describe`).
 *
 * `npm run test:openclaw` installs, then runs this file. Not part of `npm test` (it needs the
 * install, and the gateway takes ~8-20 s to start).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { nodeBackendRuntime } from '../../src/runtimes/node.ts'
import {
  assertError,
  sseChunks,
  sseData,
  startServer,
  TOKEN,
  type TestServer,
} from '../../test/helpers.ts'
import { startGateway } from './gateway.mjs'
import { startMockModel } from './mock-model.mjs'
import { setup } from './setup.mjs'

type Gateway = Awaited<ReturnType<typeof startGateway>>
type Mock = Awaited<ReturnType<typeof startMockModel>>

interface Side {
  name: 'gateway' | 'ours'
  url: string
  token: string
}

let mock: Mock
let gateway: Gateway
let ours: TestServer | undefined
let oursError: unknown
let scratch: string
let firstTurn: { status: number; body: string } | undefined
const logs: string[] = []
const sides: Record<Side['name'], Side> = {
  gateway: { name: 'gateway', url: '', token: '' },
  ours: { name: 'ours', url: '', token: TOKEN },
}
const tag = Date.now().toString(36)

const send =
  (path: string) =>
  (side: Side, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${side.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${side.token}`,
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    })

/** POSTs to each side's `/v1/chat/completions`. */
const post = send('/v1/chat/completions')
/** POSTs to each side's `/v1/responses`. */
const postResponses = send('/v1/responses')

const user = (content: string) => [{ role: 'user', content }]

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

/** Each side's documented completion id. */
const ID = { gateway: /^chatcmpl_[0-9a-f-]{36}$/, ours: /^chatcmpl-[0-9a-f-]{36}$/ }

/** A non-stream answer: 200, JSON, that side's id form, one choice. Returns the body. */
const completion = async (side: Side, res: Response) => {
  const text = await res.text()
  assert.equal(res.status, 200, `${side.name}: ${text}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  const body = JSON.parse(text)
  assert.match(body.id, ID[side.name])
  assert.equal(body.object, 'chat.completion')
  assert.equal(body.choices.length, 1)
  assert.equal(body.choices[0].message.role, 'assistant')
  return body
}

/**
 * A stream: 200, SSE, ends with `[DONE]`, one id in that side's form, the role chunk first in that
 * side's shape. Returns the joined content, tool calls (fragments merged), finish reason, usage.
 */
const stream = async (side: Side, res: Response) => {
  const text = await res.text()
  assert.equal(res.status, 200, `${side.name}: ${text}`)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  assert.equal(sseData(text).at(-1), '[DONE]', text)
  const chunks = sseChunks(text)
  const errors = chunks.filter((c) => c.error)
  const answer = chunks.filter((c) => !c.error)
  for (const c of answer) {
    assert.match(c.id, ID[side.name])
    assert.equal(c.object, 'chat.completion.chunk')
  }
  const role = answer[0]?.choices[0]?.delta
  assert.deepEqual(
    role,
    side.name === 'gateway' ? { role: 'assistant' } : { role: 'assistant', content: '' },
    `the role chunk: ${text}`
  )
  const deltas = answer.flatMap((c) => c.choices.map((choice: any) => choice.delta))
  const calls: { id?: string; name?: string; arguments: string }[] = []
  for (const fragment of deltas.flatMap((d) => d.tool_calls ?? [])) {
    const call = (calls[fragment.index] ??= { arguments: '' })
    if (fragment.id) call.id = fragment.id
    if (fragment.function?.name) call.name = fragment.function.name
    call.arguments += fragment.function?.arguments ?? ''
  }
  const finishes = answer.flatMap((c) => c.choices.map((ch: any) => ch.finish_reason))
  return {
    content: deltas.map((d) => d.content ?? '').join(''),
    calls,
    finish: finishes.filter(Boolean),
    usage: answer.filter((c) => c.usage).map((c) => ({ choices: c.choices, usage: c.usage })),
    errors: errors.map((c) => c.error),
  }
}

/** Each side's error envelope: the gateway's `{message, type}`, ours the 4-key OpenAI one. */
const error = async (side: Side, res: Response, status: number, message: string | RegExp) => {
  if (side.name === 'ours') return assertError(res, status, { message })
  const text = await res.text()
  assert.equal(res.status, status, text)
  const body = JSON.parse(text)
  assert.deepEqual(Object.keys(body.error).sort(), ['message', 'type'])
  if (message instanceof RegExp) assert.match(body.error.message, message)
  else assert.equal(body.error.message, message)
  return body.error
}

interface Upstream {
  tools: string[]
  system: string
}

const contentText = (content: unknown): string =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((part) => (typeof part === 'string' ? part : (part?.text ?? ''))).join('')
      : ''

/** What the mock model was sent for the turn whose user message holds `marker`. */
const upstreamFor = (marker: string): Upstream => {
  const request = mock.requests.findLast((r: any) =>
    r.body?.messages?.some((m: any) => m.role === 'user' && contentText(m.content).includes(marker))
  )
  assert.ok(request, `no upstream request for ${marker}`)
  const { messages, tools = [] } = request.body
  return {
    tools: tools.map((t: any) => t.function?.name ?? t.name).sort(),
    system: messages
      .filter((m: any) => m.role === 'system' || m.role === 'developer')
      .map((m: any) => contentText(m.content))
      .join('\n\n'),
  }
}

/** Runs `fn` for one side; a failure on our side carries what our app and the gateway logged. */
const each = (name: Side['name'], title: string, fn: (side: Side) => Promise<void>) =>
  it(`${title} (${name === 'gateway' ? "the gateway's own endpoint" : 'ours, gateway backend'})`, async () => {
    if (name === 'ours' && !ours) throw oursError
    try {
      await fn(sides[name])
    } catch (err) {
      if (name !== 'ours') throw err
      const detail = `${err instanceof Error ? err.message : String(err)}\n${diagnosis()}`
      try {
        ;(err as Error).message = detail
      } catch {
        throw new Error(detail, { cause: err })
      }
      throw err
    }
  })

/** Both sides, the gateway first. */
const both = (title: string, fn: (side: Side) => Promise<void>) => {
  each('gateway', title, fn)
  each('ours', title, fn)
}

/** What our app and the gateway logged lately, and the mock's last upstream request, on failure. */
const diagnosis = () => {
  const gatewayLines = (gateway?.log() ?? '')
    .split('\n')
    .filter((line) => /"logLevelName":"(WARN|ERROR|FATAL)"|gateway\/ws/.test(line))
    .slice(-8)
    .map((line) => {
      const entry = JSON.parse(line)
      const parts = [entry._meta?.logLevelName, entry['0'], entry['1'], entry['2']]
      return parts
        .filter((part) => part !== undefined)
        .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
        .join(' ')
        .slice(0, 500)
    })
  const upstream = mock?.requests.findLast((r: any) => r.body?.messages)?.body.messages ?? []
  return [
    '--- our app logged:',
    ...logs.slice(-8),
    `--- the gateway logged (${gateway?.logFile}, OPENCLAW_TEST_KEEP=1 keeps it):`,
    ...gatewayLines,
    '--- the last upstream request ended with:',
    ...upstream.slice(-3).map((m: any) => `${m.role}: ${JSON.stringify(m.content).slice(0, 300)}`),
  ].join('\n')
}

before(async () => {
  setup()
  mock = await startMockModel()
  gateway = await startGateway({ mockUrl: mock.url })
  console.log(`the gateway was ready ${gateway.startMs} ms after spawn (${gateway.url})`)
  sides.gateway.url = gateway.url
  sides.gateway.token = gateway.token
  scratch = mkdtempSync(join(tmpdir(), 'gcc-openclaw-ours-'))
  const log =
    (level: string) =>
    (...args: unknown[]) =>
      logs.push(
        `${level} ${args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`
      )
  try {
    ours = await startServer({
      config: {
        gateway: { http: { endpoints: { responses: { enabled: true } } } },
        agents: { list: [{ id: 'main', default: true }] },
        backend: {
          type: 'gateway',
          url: gateway.wsUrl,
          token: gateway.token,
          deviceIdentity: join(scratch, 'device-identity.json'),
        },
      },
      backendRuntime: nodeBackendRuntime(),
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
    })
    sides.ours.url = ours.url
  } catch (err) {
    oursError = err
  }
  // Ours first, right after the gateway's HTTP side is up: for about a second more the gateway
  // refuses WebSocket connects (`connect` fails with UNAVAILABLE "gateway starting; retry
  // shortly", retryAfterMs 500, then close 1013), which the backend must ride out.
  if (ours) {
    const res = await post(sides.ours, { model: 'openclaw', messages: user('first after start') })
    firstTurn = { status: res.status, body: await res.text() }
  }
  // The first agent turn after start takes seconds (the gateway loads the agent runtime): warm
  // its own endpoint up too, so the scenarios below compare answers, not cold starts.
  await (await post(sides.gateway, { model: 'openclaw', messages: user('warm up') })).text()
})

after(async () => {
  if (process.env.OPENCLAW_TEST_VERBOSE === '1') console.log(`our app logged:\n${logs.join('\n')}`)
  await ours?.close()
  await gateway?.stop()
  await mock?.close()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

// An upstream 400: the gateway's HTTP endpoint runs the agent in-process and answers with the
// provider's own status and message. Over the WebSocket the `agent` request fails with only
// {code: UNAVAILABLE, message: <the gateway's summary>}: the upstream status and text do not
// cross, so ours answers 502 with the summary. Both refuse the turn, without any content.
const UPSTREAM_400 = {
  gateway: {
    status: 400,
    type: 'invalid_request_error',
    message: '400 mock upstream rejected request',
  },
  ours: {
    status: 502,
    type: 'api_error',
    message: 'LLM request failed: provider rejected the request schema or tool payload.',
  },
}

const RESERVED = '`x-openclaw-session-key` cannot use reserved internal session namespaces.'

describe('the same requests through the real gateway and through ours', () => {
  each('ours', 'the first turn right after the gateway started', async () => {
    assert.equal(firstTurn?.status, 200, firstTurn?.body)
    const body = JSON.parse(firstTurn!.body)
    assert.equal(body.choices[0].message.content, 'echo: first after start [turn=1]')
  })

  both('non-stream: the agent answers', async (side) => {
    const body = await completion(
      side,
      await post(side, { model: 'openclaw', messages: user('hello') })
    )
    assert.equal(body.model, 'openclaw')
    assert.equal(body.choices[0].message.content, 'echo: hello [turn=1]')
    assert.equal(body.choices[0].finish_reason, 'stop')
    assert.deepEqual(body.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })
  })

  both('model routing: openclaw/main and the agent header reach main', async (side) => {
    const byModel = await post(side, { model: 'openclaw/main', messages: user('routed') })
    assert.equal(
      (await completion(side, byModel)).choices[0].message.content,
      'echo: routed [turn=1]'
    )
    // With the header the gateway still wants an `openclaw…` model (it answers `gpt-4o` with
    // 400 "Invalid `model`"); ours accepts any model string then (README), so use one both take.
    const headers = { 'x-openclaw-agent-id': 'main' }
    const byHeader = await post(side, { model: 'openclaw', messages: user('by header') }, headers)
    assert.equal(
      (await completion(side, byHeader)).choices[0].message.content,
      'echo: by header [turn=1]'
    )
  })

  both('stream: the deltas join to the same text, then usage and [DONE]', async (side) => {
    const res = await post(side, {
      model: 'openclaw',
      stream: true,
      stream_options: { include_usage: true },
      messages: user('hello stream'),
    })
    const s = await stream(side, res)
    assert.equal(s.content, 'echo: hello stream [turn=1]')
    assert.deepEqual(s.finish, ['stop'])
    assert.deepEqual(s.errors, [])
    assert.deepEqual(s.usage, [
      { choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } },
    ])
  })

  both('`user` keeps a session: turns 1, 2 and 3 (the third streamed)', async (side) => {
    const who = `conv-${side.name}-${tag}`
    for (const [turn, words] of [
      [1, 'first'],
      [2, 'second'],
    ] as const) {
      const res = await post(side, {
        model: 'openclaw',
        user: who,
        messages: user(`${words} in session`),
      })
      const body = await completion(side, res)
      assert.equal(body.choices[0].message.content, `echo: ${words} in session [turn=${turn}]`)
    }
    const third = await stream(
      side,
      await post(side, {
        model: 'openclaw',
        user: who,
        stream: true,
        messages: user('third in session'),
      })
    )
    assert.equal(third.content, 'echo: third in session [turn=3]')
  })

  both('without `user` each call starts afresh', async (side) => {
    for (const words of ['once', 'again']) {
      const body = await completion(
        side,
        await post(side, { model: 'openclaw', messages: user(words) })
      )
      assert.equal(body.choices[0].message.content, `echo: ${words} [turn=1]`)
    }
  })

  both('x-openclaw-session-key keeps a session', async (side) => {
    const headers = { 'x-openclaw-session-key': `app-key-${side.name}-${tag}` }
    for (const [turn, words] of [
      [1, 'first via key'],
      [2, 'second via key'],
    ] as const) {
      const res = await post(side, { model: 'openclaw', messages: user(words) }, headers)
      const body = await completion(side, res)
      assert.equal(body.choices[0].message.content, `echo: ${words} [turn=${turn}]`)
    }
  })

  /**
   * Client tools cannot cross the gateway's WebSocket `agent` method (its params schema is closed
   * and has no tools field), so through ours they are refused up front with a 400 naming `tools`,
   * rather than reaching an agent that would call a tool it does not have.
   */
  const refusesTools = async (side: Side, body: unknown) => {
    const res = await post(side, body)
    const { error } = await res.json()
    assert.equal(res.status, 400)
    assert.equal(error.param, 'tools')
    assert.equal(error.type, 'invalid_request_error')
    assert.match(error.message, /Client tools are not available with the gateway backend/)
  }

  both('client tool call, then the tool result in the same session', async (side) => {
    const who = `tool-conv-${side.name}-${tag}`
    if (side.name === 'ours') {
      return refusesTools(side, {
        model: 'openclaw',
        user: who,
        tools: [WEATHER],
        messages: user('MOCK_TOOL weather?'),
      })
    }
    const first = await completion(
      side,
      await post(side, {
        model: 'openclaw',
        user: who,
        tools: [WEATHER],
        messages: user('MOCK_TOOL weather?'),
      })
    )
    const choice = first.choices[0]
    assert.equal(choice.finish_reason, 'tool_calls')
    assert.equal(choice.message.content, side.name === 'gateway' ? '' : null)
    assert.equal(choice.message.tool_calls.length, 1)
    const call = choice.message.tool_calls[0]
    assert.equal(call.type, 'function')
    assert.equal(call.function.name, 'get_weather')
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' })
    assert.ok(
      call.id && call.id !== 'call_mock_1',
      `a fresh call id, not the upstream's: ${call.id}`
    )

    const followUp = await completion(
      side,
      await post(side, {
        model: 'openclaw',
        user: who,
        tools: [WEATHER],
        messages: [
          ...user('MOCK_TOOL weather?'),
          { role: 'assistant', content: '', tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'sunny 21C' },
        ],
      })
    )
    assert.equal(followUp.choices[0].finish_reason, 'stop')
    assert.equal(
      followUp.choices[0].message.content,
      `tool result was: Tool:${call.id}: sunny 21C [turn=2]`
    )
  })

  both('client tool call, streamed', async (side) => {
    if (side.name === 'ours') {
      return refusesTools(side, {
        model: 'openclaw',
        stream: true,
        tools: [WEATHER],
        messages: user('MOCK_TOOL weather?'),
      })
    }
    const res = await post(side, {
      model: 'openclaw',
      stream: true,
      tools: [WEATHER],
      messages: user('MOCK_TOOL weather?'),
    })
    const s = await stream(side, res)
    assert.equal(s.content, '')
    assert.deepEqual(s.finish, ['tool_calls'])
    assert.equal(s.calls.length, 1)
    assert.equal(s.calls[0].name, 'get_weather')
    assert.ok(s.calls[0].id)
    assert.deepEqual(JSON.parse(s.calls[0].arguments), { city: 'Paris' })
  })

  both('an upstream 400 fails the turn with an error', async (side) => {
    const res = await post(side, { model: 'openclaw', messages: user('please MOCK_400') })
    const expected = UPSTREAM_400[side.name]
    const err = await error(side, res, expected.status, expected.message)
    assert.equal(err.type, expected.type)
  })

  both(
    'an upstream 400 while streaming: the role chunk, an error event, then [DONE]',
    async (side) => {
      const res = await post(side, {
        model: 'openclaw',
        stream: true,
        messages: user('please MOCK_400'),
      })
      const s = await stream(side, res)
      assert.equal(s.content, '')
      assert.deepEqual(s.finish, [])
      assert.equal(s.errors.length, 1)
      assert.equal(s.errors[0].message, UPSTREAM_400[side.name].message)
    }
  )

  both('an unknown agent is a 400', async (side) => {
    const res = await post(side, { model: 'openclaw/nosuchagent', messages: user('hello') })
    const err = await error(side, res, 400, /nosuchagent/)
    assert.equal(err.type, 'invalid_request_error')
  })

  both('reserved session keys, agent harnesses included, are a 400', async (side) => {
    for (const key of [
      'harness:codex:1',
      'agent:main:harness:codex:thread-1',
      'Agent:Main:HARNESS:x',
      'agent: main :harness:x',
      'subagent:x',
      'agent:main:cron:job',
      'acp:1',
    ]) {
      const res = await post(
        side,
        { model: 'openclaw', messages: user('hi') },
        {
          'x-openclaw-session-key': key,
        }
      )
      const err = await error(side, res, 400, RESERVED)
      assert.equal(err.type, 'invalid_request_error', key)
    }
  })

  /**
   * Keys whose agent part is malformed (a blank id, a rest that starts with `:`) are read whole,
   * and only one `agent:<id>:` level counts, so none of these is reserved. The gateway then fails
   * the malformed ones as a turn: its endpoint answers 500 `internal error`; over the WebSocket its
   * `agent` method refuses them ("malformed session key"), which ours answers 502 with that text.
   */
  const TAKEN_WHOLE: [key: string, runs: boolean][] = [
    ['agent::harness:x', false],
    ['agent:main::harness:x', false],
    ['agent:main:agent:beta:harness:x', true],
    ['agent:main:harness', true],
    ['my-harness:x', true],
  ]

  both(
    'a key whose agent part is malformed is taken whole, so it is not reserved',
    async (side) => {
      for (const [key, runs] of TAKEN_WHOLE) {
        const res = await post(
          side,
          { model: 'openclaw', messages: user(`k ${key}`) },
          {
            'x-openclaw-session-key': `${key}-${side.name}-${tag}`,
          }
        )
        if (runs) {
          const body = await completion(side, res)
          assert.equal(body.choices[0].message.content, `echo: k ${key} [turn=1]`)
        } else if (side.name === 'gateway') {
          await error(side, res, 500, 'internal error')
        } else {
          await error(side, res, 502, /malformed session key/)
        }
      }
    }
  )

  /**
   * The gateway gives a turn owner-only tools (`openclaw` among them) and channel-aware prompt
   * sections when the connection holds `operator.admin` and the `agent` call names the channel,
   * as its own endpoint does for a shared-secret caller. One line stays different: WebSocket turns
   * run with an operator's authority, which makes the gateway list its `transcripts` tool among
   * the deferred ones; its HTTP runs have none, and no `agent` param changes that.
   */
  it('a turn through ours reaches the agent as one through its own endpoint: tools and prompt', async () => {
    const seen = {} as Record<Side['name'], Upstream>
    for (const side of [sides.gateway, sides.ours]) {
      const marker = `parity-${side.name}-${tag}`
      await completion(side, await post(side, { model: 'openclaw', messages: user(marker) }))
      seen[side.name] = upstreamFor(marker)
    }
    assert.ok(seen.gateway.tools.includes('openclaw'), seen.gateway.tools.join())
    assert.deepEqual(seen.ours.tools, seen.gateway.tools)
    const TRANSCRIPTS = '\n- transcripts (core)'
    assert.equal(seen.ours.system.split(TRANSCRIPTS).length, 2, 'the one known extra line')
    assert.equal(seen.ours.system.replace(TRANSCRIPTS, ''), seen.gateway.system)
  })

  // Not compared: an upstream 500. The gateway retries it 8 times with backoff and answers 502
  // only after ~80 s (recorded in the live notes), too slow for CI.
})

/**
 * The Responses API: the same requests to the gateway's own `/v1/responses` and to ours with the
 * gateway backend. Content, usage, sessions and the order of stream events must match. Where our
 * contract differs on purpose (README "The Responses API"), each side is held to its own form:
 * ids (`resp_<uuid>` vs `resp_<32 hex>`), `sequence_number` on each of our events (the gateway's
 * have none), `annotations: []` and `logprobs: []` on our text parts and deltas, the spec's full
 * Response object (the gateway sends 7 of its fields), our error envelope, `previous_response_id`
 * misses (the gateway ignores them, we answer 400), and client tools (a 400 through ours).
 */
describe('the Responses API through the real gateway and through ours', () => {
  /** Each side's Response id. */
  const RESPONSE_ID = { gateway: /^resp_[0-9a-f-]{36}$/, ours: /^resp_[0-9a-f]{32}$/ }

  /** The only fields of the gateway's Response object (`error` and `incomplete_details` aside). */
  const GATEWAY_FIELDS = ['created_at', 'id', 'model', 'object', 'output', 'status', 'usage']

  /** The mock's usage (prompt 10, completion 5, total 15), as both count it for this API. */
  const USAGE = {
    input_tokens: 10,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: 5,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 15,
  }
  const NO_USAGE = {
    input_tokens: 0,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: 0,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 0,
  }

  const WEATHER_TOOL = {
    type: 'function',
    name: 'get_weather',
    description: 'weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  }

  /** Ours' documented extras, checked and left out: `annotations: []` and `logprobs: []`. */
  const withoutExtras = (value: unknown): any =>
    JSON.parse(
      JSON.stringify(value, (key, v) => {
        if (key !== 'annotations' && key !== 'logprobs') return v
        assert.deepEqual(v, [], `${key} is always empty`)
        return undefined
      })
    )

  /**
   * A Response object's fields that both sides have, its ids replaced. Usage is compared once
   * the answer is done: the gateway's in-progress snapshots carry zeros, ours none (the spec's
   * usage is optional, not nullable).
   */
  const core = (response: any) => {
    const out: Record<string, unknown> = {
      status: response.status,
      model: response.model,
      output: withoutExtras(response.output).map((item: any) => ({ ...item, id: '<id>' })),
    }
    if (response.status !== 'in_progress') out.usage = response.usage
    if (response.error) out.error = response.error
    return out
  }

  /**
   * A non-stream Response: `status` (200 unless said), JSON, that side's id, and the fields that
   * side sends (the gateway exactly its 7, ours the spec's, the gateway's among them). Returns it.
   */
  const responseObject = async (side: Side, res: Response, status = 200) => {
    const text = await res.text()
    assert.equal(res.status, status, `${side.name}: ${text}`)
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
    const body = JSON.parse(text)
    assert.match(body.id, RESPONSE_ID[side.name])
    assert.equal(body.object, 'response')
    const fields = GATEWAY_FIELDS.concat(body.status === 'failed' ? ['error'] : [])
    if (side.name === 'gateway') assert.deepEqual(Object.keys(body).sort(), fields.sort())
    else for (const field of fields) assert.ok(field in body, `${field} in ${text}`)
    return body
  }

  /** A completed Response holding one message with `text` (and the phase of a final answer). */
  const answered = (response: any, text: string) => {
    assert.equal(response.status, 'completed')
    assert.deepEqual(core(response).output, [
      {
        type: 'message',
        id: '<id>',
        role: 'assistant',
        content: [{ type: 'output_text', text }],
        phase: 'final_answer',
        status: 'completed',
      },
    ])
    assert.deepEqual(response.usage, USAGE)
  }

  interface ResponsesStream {
    /** The events' data, in order (`[DONE]` left out). */
    events: any[]
    types: string[]
    /** The deltas joined. */
    text: string
    deltas: number
    /** The response of the last event. */
    final: any
  }

  /**
   * A Responses stream: 200, SSE, each frame `event: <type>` with `data` of that `type`, ending
   * with `data: [DONE]` (no `event:`) once. Ours numbers its events 0, 1, 2… in
   * `sequence_number`; the gateway's have no such field. Heartbeat comments are skipped.
   */
  const responsesStream = async (side: Side, res: Response): Promise<ResponsesStream> => {
    const text = await res.text()
    assert.equal(res.status, 200, `${side.name}: ${text}`)
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
    const events: any[] = []
    const frames = text
      .split('\n\n')
      .map((block) => block.split('\n').filter((line) => line && !line.startsWith(':')))
      .filter((lines) => lines.length)
    assert.deepEqual(frames.at(-1), ['data: [DONE]'], text)
    for (const lines of frames.slice(0, -1)) {
      assert.equal(lines.length, 2, `one event line and one data line: ${lines.join('\n')}`)
      assert.match(lines[0], /^event: /)
      assert.match(lines[1], /^data: /)
      const data = JSON.parse(lines[1].slice('data: '.length))
      assert.equal(lines[0].slice('event: '.length), data.type)
      assert.equal(Object.keys(data)[0], 'type')
      events.push(data)
    }
    if (side.name === 'ours') {
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i)
      )
    } else {
      assert.ok(events.every((e) => !('sequence_number' in e)))
    }
    const deltas = events.filter((e) => e.type === 'response.output_text.delta')
    return {
      events,
      types: events.map((e) => e.type),
      text: deltas.map((e) => e.delta).join(''),
      deltas: deltas.length,
      final: events.at(-1)?.response,
    }
  }

  /** Event types with each run of text deltas as one `response.output_text.delta`. */
  const collapsed = (types: string[]) =>
    types.filter((t, i) => t !== 'response.output_text.delta' || types[i - 1] !== t)

  /**
   * The events as both sides must send them: ids replaced, our extras left out, each run of
   * deltas joined into one, each Response cut to the fields both have.
   */
  const comparable = (events: any[]) => {
    const out: any[] = []
    for (const event of events) {
      const { sequence_number: _, response, ...rest } = event
      const e = withoutExtras(rest)
      if (e.item_id) e.item_id = '<id>'
      if (e.item?.id) e.item.id = '<id>'
      if (response) e.response = core(response)
      const last = out.at(-1)
      if (e.type === 'response.output_text.delta' && last?.type === e.type) last.delta += e.delta
      else out.push(e)
    }
    return out
  }

  /**
   * The plain-text stream, which both sides send in this order (the deltas collapsed; the gateway
   * re-chunks the mock's text, so their number may differ, the joined text may not).
   */
  const TEXT_STREAM = [
    'response.created',
    'response.in_progress',
    'response.output_item.added',
    'response.content_part.added',
    'response.output_text.delta',
    'response.output_text.done',
    'response.content_part.done',
    'response.output_item.done',
    'response.completed',
  ]

  /** What the gateway sent in a test, for ours to be compared with in the same test. */
  const gatewaySaw = new Map<string, unknown>()
  const compareWithGateway = (key: string, side: Side, value: unknown) => {
    if (side.name === 'gateway') return void gatewaySaw.set(key, value)
    assert.ok(gatewaySaw.has(key), `the gateway's run of "${key}" comes first`)
    assert.deepEqual(value, gatewaySaw.get(key))
  }

  /** The `## Conversation Context` section of a system prompt (up to the next section). */
  const contextSection = (system: string) =>
    /## Conversation Context\n[\s\S]*?(?=\n## |$)/.exec(system)?.[0]

  /** A system prompt with the files' random block ids made equal. */
  const sameIds = (system: string) =>
    system.replace(/(EXTERNAL_UNTRUSTED_CONTENT id=)"[0-9a-f]{16}"/g, '$1"<id>"')

  /**
   * A turn's upstream system prompt through ours equals the one through the gateway's endpoint,
   * but for the one line the chat parity test explains (WebSocket turns list `transcripts`).
   */
  const TRANSCRIPTS = '\n- transcripts (core)'
  const comparablePrompt = (side: Side, system: string) => {
    if (side.name === 'gateway') return sameIds(system)
    assert.equal(system.split(TRANSCRIPTS).length, 2, 'the one known extra line')
    return sameIds(system.replace(TRANSCRIPTS, ''))
  }

  /**
   * The session the gateway ran a first turn in, from the `Runtime: … | session=<key> | …` line
   * it adds to a session's first user message (the one holding `marker`).
   */
  const sessionOf = (marker: string) => {
    const request = mock.requests.findLast((r: any) =>
      r.body?.messages?.some(
        (m: any) => m.role === 'user' && contentText(m.content).includes(marker)
      )
    )
    const message = request?.body.messages.find(
      (m: any) => m.role === 'user' && contentText(m.content).includes(marker)
    )
    const key = /\| session=([^ |]+) \|/.exec(contentText(message?.content))?.[1]
    assert.ok(key, `no Runtime line with the session for ${marker}`)
    return key
  }

  both('responses, non-stream: the same text, usage and message item', async (side) => {
    const body = await responseObject(
      side,
      await postResponses(side, { model: 'openclaw', input: `hello responses ${side.name}` })
    )
    assert.equal(body.model, 'openclaw')
    answered(body, `echo: hello responses ${side.name} [turn=1]`)
    if (side.name === 'ours') assert.equal(body.error, null)
    // A new session of this API's own form each time.
    assert.match(
      sessionOf(`hello responses ${side.name}`),
      /^agent:main:openresponses:[0-9a-f-]{36}$/
    )
  })

  /**
   * Recorded event types, deltas included (the mock streams `echo: `, `hello `, `responses `,
   * `stream `, `[turn=1]`; the gateway moves the whitespace to the front of each delta):
   * - gateway: created, in_progress, output_item.added, content_part.added, output_text.delta ×5
   *   (`echo:`, ` hello`, ` responses`, ` stream`, ` [turn=1]`), output_text.done,
   *   content_part.done, output_item.done, completed, then `data: [DONE]`;
   * - ours: the same types, with `sequence_number` 0-9 and 2 deltas (`echo:`, ` hello responses
   *   stream [turn=1]`): the gateway's WebSocket `agent` events carry the text in fewer pieces.
   */
  both('responses, stream: the same events in the same order, the same text', async (side) => {
    const s = await responsesStream(
      side,
      await postResponses(side, {
        model: 'openclaw',
        stream: true,
        input: 'hello responses stream',
      })
    )
    const text = 'echo: hello responses stream [turn=1]'
    assert.equal(s.text, text)
    assert.deepEqual(collapsed(s.types), TEXT_STREAM)
    assert.ok(s.deltas >= 1)
    const done = s.events.find((e) => e.type === 'response.output_text.done')
    assert.equal(done.text, text)
    answered(s.final, text)
    compareWithGateway('text stream', side, comparable(s.events))
  })

  both(
    'responses: `instructions` reach the agent under "## Conversation Context"',
    async (side) => {
      const marker = `instructions-${side.name}-${tag}`
      const instructions = 'INSTR: always answer politely.'
      const body = await responseObject(
        side,
        await postResponses(side, { model: 'openclaw', instructions, input: marker })
      )
      answered(body, `echo: ${marker} [turn=1]`)
      const { system } = upstreamFor(marker)
      assert.equal(contextSection(system), `## Conversation Context\n${instructions}`)
      compareWithGateway('instructions prompt', side, comparablePrompt(side, system))
    }
  )

  both('responses: `user` keeps a session: turns 1, 2 and 3 (the third streamed)', async (side) => {
    // Mixed case: both fold `user` to lower case in the session key.
    const who = `Resp-Conv-${side.name}-${tag}`
    for (const [turn, words] of [
      [1, `first ${who}`],
      [2, 'second'],
    ] as const) {
      const res = await postResponses(side, { model: 'openclaw', user: who, input: words })
      answered(await responseObject(side, res), `echo: ${words} [turn=${turn}]`)
    }
    assert.equal(sessionOf(`first ${who}`), `agent:main:openresponses-user:${who.toLowerCase()}`)
    const third = await responsesStream(
      side,
      await postResponses(side, { model: 'openclaw', user: who, stream: true, input: 'third' })
    )
    assert.equal(third.text, 'echo: third [turn=3]')
    answered(third.final, 'echo: third [turn=3]')
  })

  both('responses: `previous_response_id` continues the session, streamed too', async (side) => {
    const first = await responseObject(
      side,
      await postResponses(side, { model: 'openclaw', input: 'chain one' })
    )
    answered(first, 'echo: chain one [turn=1]')
    const second = await responseObject(
      side,
      await postResponses(side, {
        model: 'openclaw',
        previous_response_id: first.id,
        input: 'chain two',
      })
    )
    answered(second, 'echo: chain two [turn=2]')
    // A streamed answer is kept too: its id (from `response.created`) continues the chain.
    const third = await responsesStream(
      side,
      await postResponses(side, {
        model: 'openclaw',
        stream: true,
        previous_response_id: second.id,
        input: 'chain three',
      })
    )
    assert.equal(third.text, 'echo: chain three [turn=3]')
    const fourth = await responseObject(
      side,
      await postResponses(side, {
        model: 'openclaw',
        previous_response_id: third.events[0].response.id,
        input: 'chain four',
      })
    )
    answered(fourth, 'echo: chain four [turn=4]')
  })

  both('responses: x-openclaw-session-key keeps a session', async (side) => {
    // It wins over `user`, and the gateway files it under the agent, in lower case.
    const key = `Resp-Key-${side.name}-${tag}`
    const headers = { 'x-openclaw-session-key': key }
    for (const [turn, words] of [
      [1, `first via ${key}`],
      [2, 'second via key'],
    ] as const) {
      const res = await postResponses(
        side,
        { model: 'openclaw', user: `not-${key}`, input: words },
        headers
      )
      answered(await responseObject(side, res), `echo: ${words} [turn=${turn}]`)
    }
    assert.equal(sessionOf(`first via ${key}`), `agent:main:${key.toLowerCase()}`)
  })

  /**
   * A documented difference: the gateway ignores an id it does not know (it keeps them in memory
   * for 30 minutes) and starts a new session, turn 1 (capture 11c); ours answers OpenAI's 400
   * `previous_response_not_found` (README "State").
   */
  both('responses: an unknown previous_response_id, each side as documented', async (side) => {
    const res = await postResponses(side, {
      model: 'openclaw',
      previous_response_id: `resp_unknown-${tag}`,
      input: 'continue from nothing',
    })
    if (side.name === 'gateway') {
      answered(await responseObject(side, res), 'echo: continue from nothing [turn=1]')
    } else {
      await assertError(res, 400, {
        message: `Previous response with id 'resp_unknown-${tag}' not found.`,
        param: 'previous_response_id',
        code: 'previous_response_not_found',
      })
    }
  })

  /**
   * Client tools: the gateway's agent calls the client's `get_weather` through its `tool_call`
   * wrapper and the answer is one `function_call` item (capture 30: no `status`, a fresh 9-hex
   * `call_id`, not the upstream's); through ours they are refused up front, as for chat.
   */
  both('responses: client tools offered (non-stream and stream)', async (side) => {
    for (const stream of [false, true]) {
      const res = await postResponses(side, {
        model: 'openclaw',
        stream,
        tools: [WEATHER_TOOL],
        input: 'MOCK_TOOL weather?',
      })
      if (side.name === 'ours') {
        await assertError(res, 400, {
          message: /^Client tools are not available with the gateway backend/,
          param: 'tools',
          code: 'unsupported_parameter',
        })
        continue
      }
      const response = stream
        ? (await responsesStream(side, res)).final
        : await responseObject(side, res)
      assert.equal(response.status, 'completed')
      const calls = response.output.filter((item: any) => item.type === 'function_call')
      assert.equal(calls.length, 1, JSON.stringify(response.output))
      const { id, call_id, arguments: args, ...rest } = calls[0]
      assert.match(id, /^call_[0-9a-f-]{36}$/)
      assert.match(call_id, /^[0-9a-f]{9}$/)
      assert.deepEqual(JSON.parse(args), { city: 'Paris' })
      assert.deepEqual(
        rest,
        stream
          ? { type: 'function_call', name: 'get_weather', status: 'completed' }
          : { type: 'function_call', name: 'get_weather' }
      )
    }
  })

  // An upstream 400. The gateway's endpoint runs the agent in-process and answers 400 with a
  // failed Response object carrying the provider's message (capture 80a). Over the WebSocket the
  // `agent` request fails with only the gateway's summary, so ours answers 502 with it, in our
  // error envelope (README: errors before a stream are the usual envelope), as for chat.
  both('responses: an upstream 400 fails the turn', async (side) => {
    const res = await postResponses(side, { model: 'openclaw', input: 'please MOCK_400' })
    if (side.name === 'ours') {
      await assertError(res, 502, { message: UPSTREAM_400.ours.message })
      return
    }
    const body = await responseObject(side, res, 400)
    assert.deepEqual(core(body), {
      status: 'failed',
      model: 'openclaw',
      output: [],
      usage: NO_USAGE,
      error: { code: 'invalid_request_error', message: UPSTREAM_400.gateway.message },
    })
  })

  /**
   * Streamed, both end with `response.failed` and `[DONE]`. Recorded event types:
   * - gateway: created, in_progress, output_item.added, content_part.added, failed (the message
   *   item it opened up front is never closed; capture 80b), `error.code` `invalid_request_error`;
   * - ours: created, in_progress, failed (a message item opens with the first text, and there is
   *   none), `error.code` `server_error` (the spec's code for a 5xx; README "Output").
   * The missing empty item is not in README's list of differences; it is the same choice as the
   * documented one for tool calls (no empty message before them), and the gateway's item is left
   * open, which the spec does not allow.
   */
  both('responses: an upstream 400 while streaming ends with response.failed', async (side) => {
    const s = await responsesStream(
      side,
      await postResponses(side, { model: 'openclaw', stream: true, input: 'please MOCK_400' })
    )
    assert.equal(s.text, '')
    assert.deepEqual(
      s.types,
      side.name === 'gateway'
        ? [
            'response.created',
            'response.in_progress',
            'response.output_item.added',
            'response.content_part.added',
            'response.failed',
          ]
        : ['response.created', 'response.in_progress', 'response.failed']
    )
    assert.deepEqual(core(s.final), {
      status: 'failed',
      model: 'openclaw',
      output: [],
      usage: NO_USAGE,
      error:
        side.name === 'gateway'
          ? { code: 'invalid_request_error', message: UPSTREAM_400.gateway.message }
          : { code: 'server_error', message: UPSTREAM_400.ours.message },
    })
  })

  /**
   * A text/plain `input_file` (capture 60): both give the agent the file's text in its system
   * prompt, inside `<file>` and `EXTERNAL_UNTRUSTED_CONTENT` markers with a random 16-hex id.
   */
  both('responses: an input_file reaches the agent in its system prompt', async (side) => {
    const marker = `file-${side.name}-${tag}`
    const data = Buffer.from('Hello from a file.\nLine 2 of the file.\n').toString('base64')
    const body = await responseObject(
      side,
      await postResponses(side, {
        model: 'openclaw',
        input: [
          {
            type: 'message',
            role: 'user',
            content: [
              { type: 'input_text', text: marker },
              {
                type: 'input_file',
                source: { type: 'base64', media_type: 'text/plain', data, filename: 'hello.txt' },
              },
            ],
          },
        ],
      })
    )
    answered(body, `echo: ${marker} [turn=1]`)
    const { system } = upstreamFor(marker)
    assert.equal(
      sameIds(contextSection(system) ?? ''),
      '## Conversation Context\n<file name="hello.txt">\n\n' +
        '<<<EXTERNAL_UNTRUSTED_CONTENT id="<id>">>>\nSource: External\n---\n' +
        'Hello from a file.\nLine 2 of the file.\n\n' +
        '<<<END_EXTERNAL_UNTRUSTED_CONTENT id="<id>">>>\n</file>'
    )
    compareWithGateway('file prompt', side, comparablePrompt(side, system))
  })

  both('responses: a reserved session key is a 400', async (side) => {
    for (const key of ['subagent:x', 'agent:main:cron:job', 'acp:1', 'harness:codex:1']) {
      const res = await postResponses(
        side,
        { model: 'openclaw', input: 'reserved' },
        { 'x-openclaw-session-key': key }
      )
      const err = await error(side, res, 400, RESERVED)
      assert.equal(err.type, 'invalid_request_error', key)
    }
  })
})

/**
 * A second gateway, in auth mode `none` (so it honours `x-openclaw-scopes`) with two agents under
 * explicit ownership, and ours in front of it in the same modes. Each side answers in its own
 * error form: the gateway's 403 is `{ok:false, error:{type:"forbidden", message, details}}`, ours
 * the OpenAI envelope with `permission_error`; statuses and messages are the same.
 */
describe('scopes and ownership: a gateway in auth mode none with two agents', () => {
  let gateway2: Gateway | undefined
  let ours2: TestServer | undefined
  const sides2 = {} as Record<Side['name'], Side>
  const scratch2 = mkdtempSync(join(tmpdir(), 'gcc-openclaw-ours2-'))

  before(async () => {
    gateway2 = await startGateway({
      mockUrl: mock.url,
      auth: { mode: 'none' },
      agents: { ownership: 'explicit', entries: { main: {}, beta: {} } },
    })
    ours2 = await startServer({
      config: {
        gateway: { auth: { mode: 'none' } },
        agents: { ownership: 'explicit', list: [{ id: 'main' }, { id: 'beta' }] },
        backend: {
          type: 'gateway',
          url: gateway2.wsUrl,
          deviceIdentity: join(scratch2, 'device-identity.json'),
        },
      },
      backendRuntime: nodeBackendRuntime(),
      logger: { info() {}, warn() {}, error() {} },
    })
    sides2.gateway = { name: 'gateway', url: gateway2.url, token: 'unused' }
    sides2.ours = { name: 'ours', url: ours2.url, token: 'unused' }
  })

  after(async () => {
    await ours2?.close()
    await gateway2?.stop()
    rmSync(scratch2, { recursive: true, force: true })
  })

  const both2 = (title: string, fn: (side: Side) => Promise<void>) => {
    for (const name of ['gateway', 'ours'] as const) {
      it(`${title} (${name === 'gateway' ? "the gateway's own endpoint" : 'ours, gateway backend'})`, () =>
        fn(sides2[name]))
    }
  }

  /** A 403 for a missing scope, in each side's form. */
  const missingScope = async (side: Side, res: Response, scope: string) => {
    const text = await res.text()
    assert.equal(res.status, 403, text)
    const body = JSON.parse(text)
    assert.equal(body.error.message, `missing scope: ${scope}`)
    assert.equal(body.error.type, side.name === 'gateway' ? 'forbidden' : 'permission_error')
  }

  both2('an ownerless request is a 400: several agents, explicit ownership', async (side) => {
    for (const body of [{ model: 'openclaw' }, { model: 'openclaw/default' }, {}]) {
      const res = await post(side, { ...body, messages: user('who answers?') })
      const err = await error(
        side,
        res,
        400,
        /^Multiple agents are configured, but this operation has no explicit owner\. /
      )
      assert.equal(err.type, 'invalid_request_error')
    }
    const named = await post(side, { model: 'openclaw/beta', messages: user('beta answers') })
    const body = await completion(side, named)
    assert.equal(body.choices[0].message.content, 'echo: beta answers [turn=1]')
  })

  both2('chat needs operator.write', async (side) => {
    const res = await post(
      side,
      { model: 'openclaw/main', messages: user('hi') },
      {
        'x-openclaw-scopes': 'operator.read',
      }
    )
    await missingScope(side, res, 'operator.write')
  })

  both2('the model list needs operator.read', async (side) => {
    const headers = { 'x-openclaw-scopes': 'operator.sessions.write' }
    await missingScope(side, await fetch(`${side.url}/v1/models`, { headers }), 'operator.read')
    const ok = await fetch(`${side.url}/v1/models`, {
      headers: { 'x-openclaw-scopes': 'operator.write' },
    })
    assert.equal(ok.status, 200, await ok.text())
  })

  both2('x-openclaw-model needs operator.admin', async (side) => {
    const res = await post(
      side,
      { model: 'openclaw/main', messages: user('hi') },
      {
        'x-openclaw-scopes': 'operator.write',
        'x-openclaw-model': `mock/mock-echo`,
      }
    )
    await missingScope(side, res, 'operator.admin')
  })

  it('a caller without operator.admin is no owner: the agent gets no owner-only tools, on either side', async () => {
    const seen = {} as Record<Side['name'], Upstream>
    for (const name of ['gateway', 'ours'] as const) {
      const marker = `member-${name}-${tag}`
      const res = await post(
        sides2[name],
        { model: 'openclaw/main', messages: user(marker) },
        {
          'x-openclaw-scopes': 'operator.write',
        }
      )
      await completion(sides2[name], res)
      seen[name] = upstreamFor(marker)
    }
    assert.ok(!seen.gateway.tools.includes('openclaw'), seen.gateway.tools.join())
    assert.deepEqual(seen.ours.tools, seen.gateway.tools)
  })
})
