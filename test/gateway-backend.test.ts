/**
 * The gateway backend against a fake OpenClaw Gateway written from the protocol facts (the
 * reference's section 3 and the recorded traces): challenge, signed `connect`, `hello-ok`, an
 * `agent` request answered twice, `agent` events, abort methods, ticks and failures.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { WebSocketServer, type WebSocket as WsSocket } from 'ws'
import { gatewayBackend, type GatewayBackendOptions } from '../src/backends/gateway.ts'
import type { AgentBackend, ConfigInput } from '../src/index.ts'
import { fileStore } from '../src/runtimes/file-store.ts'
import { nodeBackendRuntime } from '../src/runtimes/node.ts'
import {
  bodyReader,
  chat,
  deferred,
  sseChunks,
  sseData,
  startServer,
  userMessage,
  waitFor,
  type TestServer,
} from './helpers.ts'

const GATEWAY_TOKEN = 'gw-secret'

/** Keys the gateway's `agent` schema accepts (it has additionalProperties:false). */
const AGENT_PARAM_KEYS = new Set([
  'message',
  'idempotencyKey',
  'agentId',
  'sessionKey',
  'sessionId',
  'provider',
  'model',
  'thinking',
  'deliver',
  'bestEffortDeliver',
  'extraSystemPrompt',
  'attachments',
  'channel',
  'replyChannel',
  'to',
  'replyTo',
  'accountId',
  'threadId',
  'groupId',
  'timeout',
  'lane',
  'label',
  'promptMode',
])

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
const fromB64url = (text: string) =>
  Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
const sha256Hex = async (bytes: Uint8Array<ArrayBuffer>) =>
  Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) =>
    b.toString(16).padStart(2, '0')
  ).join('')

/** Checks a `connect` request's device block the way the gateway does (v3 payload). */
const verifyDevice = async (params: any, nonce: string): Promise<string | undefined> => {
  const d = params.device
  if (!d) return 'no device'
  if (d.nonce !== nonce) return 'nonce mismatch'
  const raw = fromB64url(d.publicKey)
  if (raw.length !== 32) return 'public key is not 32 raw bytes'
  if ((await sha256Hex(raw)) !== d.id) return 'device id is not sha256(public key)'
  const payload = [
    'v3',
    d.id,
    params.client.id,
    params.client.mode,
    params.role,
    params.scopes.join(','),
    String(d.signedAt),
    params.auth?.token ?? '',
    nonce,
    String(params.client.platform).toLowerCase(),
    '',
  ].join('|')
  const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify'])
  const ok = await crypto.subtle.verify(
    { name: 'Ed25519' },
    key,
    fromB64url(d.signature),
    new TextEncoder().encode(payload)
  )
  return ok ? undefined : 'signature invalid'
}

interface FakeConn {
  socket: WsSocket
  challenge: { nonce: string; ts: number }
  closed: Promise<{ code: number }>
}

interface Received {
  method: string
  params: any
  id: string
  conn: FakeConn
}

/** What a test does with one `agent` request. */
interface TurnCtx {
  params: any
  ack(): void
  event(stream: string, data: unknown): void
  final(result: unknown, extra?: Record<string, unknown>): void
  fail(message: string): void
  /** Cuts the socket without a close handshake, like a crashed gateway. */
  drop(): void
}

interface FakeOptions {
  token?: string
  tickIntervalMs?: number
  /** Send `tick` events (default true). */
  ticks?: boolean
  methods?: string[]
  /** How many `connect` attempts get a retryable UNAVAILABLE first. */
  unavailable?: number
  deviceToken?: string
  turn?: (ctx: TurnCtx) => void | Promise<void>
}

const DEFAULT_METHODS = [
  'health',
  'agent',
  'agent.wait',
  'agents.list',
  'sessions.abort',
  'chat.abort',
]

/** The answer the default turn gives: the deltas, then the result from the second `res`. */
const echoTurn = (ctx: TurnCtx) => {
  const reply = `echo: ${ctx.params.message}`
  ctx.ack()
  ctx.event('lifecycle', { phase: 'start', startedAt: Date.now() })
  ctx.event('assistant', { text: reply.slice(0, 5), delta: reply.slice(0, 5), itemId: 'i:1' })
  ctx.event('assistant', { text: reply, delta: reply.slice(5), itemId: 'i:1' })
  ctx.event('usage', { outputTokens: 5 })
  ctx.event('lifecycle', { phase: 'end', stopReason: 'stop' })
  ctx.final({
    payloads: [{ text: reply, mediaUrl: null }],
    meta: {
      durationMs: 3,
      agentMeta: { usage: { input: 10, output: 5, cacheRead: 0, cacheWrite: 0, total: 15 } },
    },
    stopReason: 'stop',
  })
}

const startFake = async (opts: FakeOptions = {}) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const port = (server.address() as { port: number }).port
  const conns: FakeConn[] = []
  const received: Received[] = []
  const connects: { params: any; verified?: string }[] = []
  const waiters: { check: () => boolean; resolve: () => void }[] = []
  let unavailable = opts.unavailable ?? 0
  const token = opts.token ?? GATEWAY_TOKEN
  const tickIntervalMs = opts.tickIntervalMs ?? 30_000
  const turn = opts.turn ?? echoTurn
  const notify = () => {
    for (const w of [...waiters]) {
      if (w.check()) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }

  server.on('connection', (socket) => {
    const challenge = { nonce: crypto.randomUUID(), ts: Date.now() }
    const conn: FakeConn = {
      socket,
      challenge,
      closed: new Promise((resolve) => socket.once('close', (code) => resolve({ code }))),
    }
    conns.push(conn)
    let ticker: ReturnType<typeof setInterval> | undefined
    socket.once('close', () => {
      clearInterval(ticker)
      notify()
    })
    const send = (frame: unknown) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame))
    }
    send({ type: 'event', event: 'connect.challenge', payload: { ...challenge, capabilities: [] } })
    let seq = 0
    socket.on('message', async (data) => {
      const frame = JSON.parse(String(data))
      if (frame.type !== 'req') return
      const { id, method, params } = frame
      if (method === 'connect') {
        const entry: { params: any; verified?: string } = { params }
        connects.push(entry)
        entry.verified = await verifyDevice(params, challenge.nonce)
        if (unavailable > 0) {
          unavailable--
          send({
            type: 'res',
            id,
            ok: false,
            error: {
              code: 'UNAVAILABLE',
              message: 'gateway starting',
              details: { reason: 'startup-sidecars' },
              retryable: true,
              retryAfterMs: 5,
            },
          })
          socket.close(1013, 'starting')
        } else if (params.auth?.token !== token) {
          const message =
            "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)"
          send({
            type: 'res',
            id,
            ok: false,
            error: {
              code: 'INVALID_REQUEST',
              message,
              details: { code: 'AUTH_TOKEN_MISMATCH', authReason: 'token_mismatch' },
            },
          })
          socket.close(1008, message.slice(0, 100))
        } else if (entry.verified) {
          send({
            type: 'res',
            id,
            ok: false,
            error: { code: 'INVALID_REQUEST', message: `device: ${entry.verified}` },
          })
          socket.close(1008, 'device')
        } else {
          send({
            type: 'res',
            id,
            ok: true,
            payload: {
              type: 'hello-ok',
              protocol: 4,
              server: { version: 'fake', connId: crypto.randomUUID() },
              features: { methods: opts.methods ?? DEFAULT_METHODS, events: ['agent', 'tick'] },
              snapshot: {},
              auth: {
                role: 'operator',
                scopes: params.scopes,
                ...(opts.deviceToken && { deviceToken: opts.deviceToken }),
              },
              policy: { maxPayload: 26214400, maxBufferedBytes: 52428800, tickIntervalMs },
            },
          })
          if (opts.ticks !== false) {
            ticker = setInterval(
              () => send({ type: 'event', event: 'tick', payload: { ts: Date.now() } }),
              tickIntervalMs
            )
            ticker.unref()
          }
        }
        notify()
        return
      }
      received.push({ method, params, id, conn })
      if (method === 'agents.list') {
        send({
          type: 'res',
          id,
          ok: true,
          payload: {
            defaultId: 'main',
            mainKey: 'main',
            scope: 'per-sender',
            agents: [{ id: 'main' }, { id: 'ops', name: 'Ops', identity: { name: 'Ops' } }],
          },
        })
      } else if (method === 'sessions.abort' || method === 'chat.abort') {
        send({ type: 'res', id, ok: true, payload: { ok: true, aborted: true } })
      } else if (method === 'agent') {
        const runId = params.idempotencyKey
        const ctx: TurnCtx = {
          params,
          ack: () =>
            send({
              type: 'res',
              id,
              ok: true,
              payload: { runId, status: 'accepted', acceptedAt: Date.now() },
            }),
          event: (stream, data) =>
            send({
              type: 'event',
              event: 'agent',
              payload: { runId, stream, data, seq: ++seq, ts: Date.now() },
            }),
          final: (result, extra = {}) =>
            send({
              type: 'res',
              id,
              ok: true,
              payload: { runId, status: 'ok', summary: 'completed', result, ...extra },
            }),
          fail: (message) =>
            send({
              type: 'res',
              id,
              ok: false,
              payload: { runId, status: 'error', summary: message },
              error: { code: 'UNAVAILABLE', message },
            }),
          drop: () => socket.terminate(),
        }
        notify()
        await turn(ctx)
      }
      notify()
    })
  })

  return {
    url: `ws://127.0.0.1:${port}`,
    conns,
    connects,
    received,
    requests: (method: string) => received.filter((r) => r.method === method),
    /** Resolves once `check` holds (checked whenever the fake hears something). */
    until(check: () => boolean) {
      if (check()) return Promise.resolve()
      return new Promise<void>((resolve) => waiters.push({ check, resolve }))
    },
    async close() {
      for (const c of conns) c.socket.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

type Fake = Awaited<ReturnType<typeof startFake>>

/** A fake gateway, a backend on it and our HTTP server in front; all closed afterwards. */
const withGateway = async (
  fakeOpts: FakeOptions,
  body: (ctx: { fake: Fake; server: TestServer; backend: AgentBackend }) => Promise<void>,
  backendOpts: Partial<GatewayBackendOptions> = {},
  config?: ConfigInput
) => {
  const fake = await startFake(fakeOpts)
  const backend = gatewayBackend({
    url: fake.url,
    token: GATEWAY_TOKEN,
    connectTimeoutMs: 5_000,
    ...nodeBackendRuntime(),
    ...backendOpts,
  })
  const server = await startServer({ backend, config })
  try {
    await body({ fake, server, backend })
  } finally {
    await server.close()
    await backend.close?.()
    await fake.close()
  }
}

const settled = async (server: TestServer) => {
  await waitFor(
    () => server.app.stats().activeRuns === 0 && server.app.stats().sessionLocks === 0,
    'no runs and no session locks'
  )
}

describe('gateway backend', () => {
  it('connects lazily with a signed v4 handshake and answers from the final result', async () => {
    await withGateway({}, async ({ fake, server }) => {
      assert.equal(fake.conns.length, 0, 'nothing connects before the first request')
      const res = await chat(
        server,
        {
          model: 'openclaw',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'hello' },
          ],
        },
        { 'x-openclaw-session-key': 'agent:main:probe' }
      )
      const body = await res.json()
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.choices[0].message.content, 'echo: hello')
      assert.equal(body.choices[0].finish_reason, 'stop')
      assert.deepEqual(body.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })

      assert.equal(fake.connects.length, 1)
      const { params, verified } = fake.connects[0]
      assert.equal(verified, undefined, `device check: ${verified}`)
      assert.equal(params.minProtocol, 4)
      assert.equal(params.maxProtocol, 4)
      assert.equal(params.role, 'operator')
      // With admin, as the gateway's own endpoint runs a shared-secret caller's turn: the owner.
      assert.deepEqual(params.scopes, ['operator.admin', 'operator.read', 'operator.write'])
      assert.deepEqual(params.auth, { token: GATEWAY_TOKEN })
      assert.equal(params.client.id, 'gateway-client')
      assert.equal(params.client.mode, 'backend')
      assert.equal(params.device.signedAt, fake.conns[0].challenge.ts)

      const [agent] = fake.requests('agent')
      for (const key of Object.keys(agent.params))
        assert.ok(AGENT_PARAM_KEYS.has(key), `agent param ${key} is not in the gateway's schema`)
      assert.equal(agent.params.idempotencyKey, body.id)
      assert.equal(agent.params.agentId, 'main')
      assert.equal(agent.params.sessionKey, 'agent:main:probe')
      assert.equal(agent.params.extraSystemPrompt, 'Be brief.')
      assert.equal(agent.params.deliver, false)
      assert.equal(agent.params.channel, 'webchat')
      assert.match(agent.params.message, /hello/)
      assert.equal(agent.params.attachments, undefined)
      assert.equal(agent.params.model, undefined)
    })
  })

  it('runs non-owner turns over a second connection, one without operator.admin', async () => {
    await withGateway(
      {},
      async ({ fake, server }) => {
        const send = async (headers: Record<string, string>) => {
          const res = await chat(server, userMessage('hi'), headers)
          assert.equal(res.status, 200, await res.text())
        }
        await send({ 'x-openclaw-scopes': 'operator.write' })
        await send({ 'x-openclaw-scopes': 'operator.admin', 'x-openclaw-model': 'mock/echo-2' })
        await send({ 'x-openclaw-scopes': 'operator.write', 'x-openclaw-message-channel': 'slack' })
        // The agent list comes over the owner's connection, which therefore opens first.
        const scopes = fake.connects.map((c) => c.params.scopes)
        assert.deepEqual(scopes, [
          ['operator.admin', 'operator.read', 'operator.write'],
          ['operator.read', 'operator.write'],
        ])
        const agents = fake.requests('agent')
        assert.equal(agents.length, 3)
        assert.equal(agents[1].params.model, 'mock/echo-2')
        assert.deepEqual(
          agents.map((a) => a.params.channel),
          ['webchat', 'webchat', 'slack']
        )
        // Each turn went over the connection its owner flag picks.
        assert.deepEqual(
          agents.map((a) => fake.conns.indexOf(a.conn)),
          [1, 0, 1]
        )
      },
      {},
      { gateway: { auth: { mode: 'none' } } }
    )
  })

  it('streams assistant deltas to the SSE client as they arrive', async () => {
    const release = deferred()
    const turn = async (ctx: TurnCtx) => {
      ctx.ack()
      ctx.event('assistant', { text: 'Hel', delta: 'Hel', itemId: 'a:1' })
      await release.promise
      ctx.event('assistant', { text: 'Hello', delta: 'lo', itemId: 'a:1' })
      ctx.event('usage', { inputTokens: 7, outputTokens: 2 })
      ctx.event('lifecycle', { phase: 'end' })
      ctx.final({ payloads: [{ text: 'Hello' }], meta: {}, stopReason: 'stop' })
    }
    await withGateway({ turn }, async ({ server }) => {
      const res = await chat(server, {
        model: 'openclaw',
        stream: true,
        stream_options: { include_usage: true },
        ...userMessage('hi'),
      })
      assert.equal(res.status, 200)
      const reader = bodyReader(res)
      await reader.until((t) => t.includes('"Hel"'))
      assert.ok(!reader.text.includes('"lo"'), 'the second delta waits for the gateway')
      release.resolve()
      const text = await reader.rest()
      const chunks = sseChunks(text)
      const content = chunks.map((c) => c.choices[0]?.delta?.content).filter((c) => c)
      assert.deepEqual(content, ['Hel', 'lo'])
      assert.equal(
        chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason,
        'stop'
      )
      // Without result usage, the `usage` event's counts are used.
      assert.deepEqual(chunks.at(-1).usage, {
        prompt_tokens: 7,
        completion_tokens: 2,
        total_tokens: 9,
      })
      assert.equal(sseData(text).at(-1), '[DONE]')
    })
  })

  it('shares one lazily opened connection between concurrent turns', async () => {
    const both = deferred()
    let started = 0
    const turn = async (ctx: TurnCtx) => {
      ctx.ack()
      if (++started === 2) both.resolve()
      await both.promise
      echoTurn({ ...ctx, ack: () => {} })
    }
    await withGateway({ turn }, async ({ fake, server }) => {
      const [a, b] = await Promise.all([
        chat(server, { model: 'openclaw', ...userMessage('one') }),
        chat(server, { model: 'openclaw', stream: true, ...userMessage('two') }),
      ])
      assert.equal((await a.json()).choices[0].message.content, 'echo: one')
      const chunks = sseChunks(await b.text())
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'echo: two')
      assert.equal(fake.conns.length, 1)
      assert.equal(fake.requests('agent').length, 2)
    })
  })

  it('leaves client tools out with clientTools: "ignore", for clients that always send them', async () => {
    await withGateway(
      {},
      async ({ server, fake }) => {
        const res = await chat(server, {
          model: 'openclaw',
          tools: [{ type: 'function', function: { name: 'exec_command' } }],
          ...userMessage('hello'),
        })
        const body = await res.json()
        assert.equal(res.status, 200, JSON.stringify(body))
        const [agent] = fake.requests('agent')
        assert.ok(agent, 'the turn reached the gateway')
        for (const key of Object.keys(agent.params)) {
          assert.ok(AGENT_PARAM_KEYS.has(key), `agent param ${key} is not in the gateway's schema`)
        }
      },
      { clientTools: 'ignore' }
    )
  })

  it('refuses client tools, and returns tool calls the agent left pending', async () => {
    const turn = (ctx: TurnCtx) => {
      ctx.ack()
      ctx.final({
        payloads: [],
        meta: {
          stopReason: 'tool_calls',
          pendingToolCalls: [
            { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { id: 'call_2', name: 'lookup', arguments: { q: 1 } },
          ],
          agentMeta: { usage: { input: 4, output: 3, total: 7 } },
        },
      })
    }
    const tool = (name: string) => ({
      type: 'function',
      function: { name, parameters: { type: 'object' } },
    })
    await withGateway({ turn }, async ({ server, fake }) => {
      // Client tools cannot cross the gateway's `agent` method: offering them is refused, and
      // no turn is sent to the gateway.
      const refused = await chat(server, {
        model: 'openclaw',
        tools: [tool('get_weather'), tool('lookup')],
        ...userMessage('weather?'),
      })
      const error = (await refused.json()).error
      assert.equal(refused.status, 400)
      assert.equal(error.param, 'tools')
      assert.match(error.message, /Client tools are not available with the gateway backend/)
      assert.equal(fake.requests('agent').length, 0)

      // Calls the gateway's agent leaves pending still come back as tool calls.
      const res = await chat(server, { model: 'openclaw', ...userMessage('weather?') })
      const body = await res.json()
      assert.equal(res.status, 200, JSON.stringify(body))
      assert.equal(body.choices[0].finish_reason, 'tool_calls')
      assert.deepEqual(body.choices[0].message.tool_calls, [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
        { id: 'call_2', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } },
      ])
      assert.deepEqual(body.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 })
    })
  })

  it('sends images as attachments', async () => {
    const png = new Uint8Array(32)
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    const data = btoa(String.fromCharCode(...png))
    await withGateway({}, async ({ fake, server }) => {
      const res = await chat(server, {
        model: 'openclaw',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${data}` } },
            ],
          },
        ],
      })
      assert.equal(res.status, 200, await res.text())
      assert.deepEqual(fake.requests('agent')[0].params.attachments, [
        { type: 'image', mimeType: 'image/png', content: data },
      ])
    })
  })

  it('aborts the run on the gateway when the client goes away', async () => {
    const turn = (ctx: TurnCtx) => {
      ctx.ack()
      ctx.event('assistant', { text: 'partial', delta: 'partial' })
    }
    await withGateway({ turn }, async ({ fake, server }) => {
      const client = new AbortController()
      const res = await chat(
        server,
        { model: 'openclaw', stream: true, ...userMessage('long job') },
        { 'x-openclaw-session-key': 'agent:main:abortme' },
        { signal: client.signal }
      )
      const reader = bodyReader(res)
      await reader.until((t) => t.includes('partial'))
      client.abort()
      await reader.rest().catch(() => {})
      await fake.until(() => fake.requests('sessions.abort').length === 1)
      const [abort] = fake.requests('sessions.abort')
      assert.deepEqual(abort.params, {
        key: 'agent:main:abortme',
        runId: fake.requests('agent')[0].params.idempotencyKey,
      })
      await settled(server)
    })
  })

  it('uses chat.abort when the gateway offers no sessions.abort', async () => {
    const turn = (ctx: TurnCtx) => ctx.ack()
    const methods = ['agent', 'agents.list', 'chat.abort']
    await withGateway({ turn, methods }, async ({ fake, server }) => {
      const client = new AbortController()
      const pending = chat(
        server,
        { model: 'openclaw', ...userMessage('slow') },
        { 'x-openclaw-session-key': 'agent:main:chat' },
        { signal: client.signal }
      ).catch(() => undefined)
      await fake.until(() => fake.requests('agent').length === 1)
      client.abort()
      await pending
      await fake.until(() => fake.requests('chat.abort').length === 1)
      assert.deepEqual(fake.requests('chat.abort')[0].params, {
        sessionKey: 'agent:main:chat',
        runId: fake.requests('agent')[0].params.idempotencyKey,
      })
      await settled(server)
    })
  })

  it('fails in-flight turns when the connection drops, then reconnects', async () => {
    let calls = 0
    const turn = (ctx: TurnCtx) => {
      calls++
      if (calls === 1) {
        ctx.ack()
        ctx.event('assistant', { text: 'so far', delta: 'so far' })
        ctx.drop()
      } else if (calls === 2) {
        ctx.ack()
        ctx.drop()
      } else echoTurn(ctx)
    }
    await withGateway({ turn }, async ({ fake, server }) => {
      const stream = await chat(server, { model: 'openclaw', stream: true, ...userMessage('a') })
      assert.equal(stream.status, 200)
      const text = await stream.text()
      const chunks = sseChunks(text)
      assert.ok(chunks.some((c) => c.choices?.[0]?.delta?.content === 'so far'))
      const error = chunks.find((c) => c.error)
      assert.match(error?.error.message ?? '', /connection to the gateway was lost/)
      assert.equal(sseData(text).at(-1), '[DONE]')

      const plain = await chat(server, { model: 'openclaw', ...userMessage('b') })
      const body = await plain.json()
      assert.equal(plain.status, 502, JSON.stringify(body))
      assert.match(body.error.message, /connection to the gateway was lost/)

      const ok = await chat(server, { model: 'openclaw', ...userMessage('c') })
      assert.equal((await ok.json()).choices[0].message.content, 'echo: c')
      assert.equal(fake.conns.length, 3)
      await settled(server)
    })
  })

  it('reports its connection states and reconnects (for metrics), per connection', async () => {
    let calls = 0
    const turn = (ctx: TurnCtx) => {
      if (++calls === 1) {
        ctx.ack()
        ctx.drop()
      } else echoTurn(ctx)
    }
    const events: string[] = []
    const record = {
      events: {
        connectionState: (connection: string, state: string) =>
          events.push(`${connection} ${state}`),
        reconnected: (connection: string) => events.push(`${connection} reconnected`),
      },
    }
    await withGateway(
      { turn },
      async ({ server }) => {
        assert.equal((await chat(server, { model: 'openclaw', ...userMessage('a') })).status, 502)
        await waitFor(() => events.length === 3, 'the lost connection')
        const ok = await chat(server, { model: 'openclaw', ...userMessage('b') })
        assert.equal(ok.status, 200)
        await ok.text()
        assert.deepEqual(events, [
          'owner connecting',
          'owner open',
          'owner closed',
          'owner connecting',
          'owner reconnected',
          'owner open',
        ])
      },
      record
    )
    assert.equal(events.at(-1), 'owner closed', 'closed with the backend')
  })

  it('reports a failed agent run with the gateway message', async () => {
    const turn = (ctx: TurnCtx) => {
      ctx.ack()
      ctx.fail('model provider unavailable')
    }
    await withGateway({ turn }, async ({ server }) => {
      const res = await chat(server, { model: 'openclaw', ...userMessage('x') })
      const body = await res.json()
      assert.equal(res.status, 502)
      assert.equal(body.error.message, 'model provider unavailable')
    })
  })

  it('retries a retryable UNAVAILABLE on connect, honouring retryAfterMs', async () => {
    await withGateway({ unavailable: 2 }, async ({ fake, server }) => {
      const res = await chat(server, { model: 'openclaw', ...userMessage('after start') })
      assert.equal(res.status, 200)
      assert.equal((await res.json()).choices[0].message.content, 'echo: after start')
      assert.equal(fake.connects.length, 3)
    })
  })

  it('fails fast on a token mismatch, naming the token, without reconnecting in a loop', async () => {
    await withGateway(
      { token: 'the-right-token' },
      async ({ fake, server }) => {
        const res = await chat(server, { model: 'openclaw', ...userMessage('hi') })
        const body = await res.json()
        assert.equal(res.status, 502)
        assert.match(body.error.message, /token \(backend\.token\).*AUTH_TOKEN_MISMATCH/)
        assert.ok(!body.error.message.includes(GATEWAY_TOKEN), 'the token itself is not shown')
        const stream = await chat(server, { model: 'openclaw', stream: true, ...userMessage('x') })
        assert.equal(stream.status, 502)
        assert.match((await stream.json()).error.message, /AUTH_TOKEN_MISMATCH/)
        assert.equal(fake.conns.length, 1)
      },
      { authRetryMs: 60_000 }
    )
  })

  it('closes a silent connection (no ticks) and fails its turns', async () => {
    const turn = (ctx: TurnCtx) => ctx.ack()
    await withGateway({ turn, ticks: false, tickIntervalMs: 20 }, async ({ fake, server }) => {
      const res = await chat(server, { model: 'openclaw', ...userMessage('anyone?') })
      const body = await res.json()
      assert.equal(res.status, 502)
      assert.match(body.error.message, /went silent/)
      assert.equal((await fake.conns[0].closed).code, 4000)
      await settled(server)
    })
  })

  it('lists the gateway agents for /v1/models and routing', async () => {
    await withGateway({}, async ({ server }) => {
      const res = await fetch(`${server.url}/v1/models`, {
        headers: { authorization: 'Bearer test-token' },
      })
      const ids = (await res.json()).data.map((m: { id: string }) => m.id)
      assert.deepEqual(ids.sort(), [
        'openclaw',
        'openclaw/default',
        'openclaw/main',
        'openclaw/ops',
      ])
      const ops = await chat(server, { model: 'openclaw/ops', ...userMessage('hi ops') })
      assert.equal(ops.status, 200)
      assert.equal(ops.headers.get('x-openclaw-agent-id'), 'ops')
      // `beta` is in the local config but not on the gateway.
      const beta = await chat(server, { model: 'openclaw/beta', ...userMessage('hi') })
      assert.equal(beta.status, 400)
      await beta.text()
    })
  })

  describe('device identity', () => {
    let dir: string
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gcc-device-'))
    })
    after(async () => {
      await rm(dir, { recursive: true, force: true })
    })

    it('is persisted through the store with the device token the gateway issues', async () => {
      const path = join(dir, 'state', 'device.json')
      const opts = { deviceIdentity: path, store: fileStore }
      let firstId = ''
      await withGateway(
        { deviceToken: 'dt-1' },
        async ({ fake, server }) => {
          assert.equal((await chat(server, userMessage('one'))).status, 200)
          firstId = fake.connects[0].params.device.id
        },
        opts
      )
      const saved = JSON.parse(await readFile(path, 'utf8'))
      assert.equal(saved.deviceId, firstId)
      assert.equal(saved.deviceToken, 'dt-1')
      await withGateway(
        {},
        async ({ fake, server }) => {
          assert.equal((await chat(server, userMessage('two'))).status, 200)
          assert.equal(fake.connects[0].params.device.id, firstId)
          assert.equal(fake.connects[0].verified, undefined)
        },
        opts
      )
    })

    it('uses a JWK given inline as a fixed identity', async () => {
      const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
        'sign',
        'verify',
      ])) as CryptoKeyPair
      const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
      const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
      await withGateway(
        {},
        async ({ fake, server }) => {
          assert.equal((await chat(server, userMessage('jwk'))).status, 200)
          const { device } = fake.connects[0].params
          assert.equal(device.publicKey, b64url(raw))
          assert.equal(device.id, await sha256Hex(raw))
          assert.equal(fake.connects[0].verified, undefined)
        },
        { deviceIdentity: JSON.stringify(jwk) }
      )
    })
  })

  it('is what a `gateway` backend config creates, closed on shutdown', async () => {
    const fake = await startFake()
    const server = await startServer({
      config: { backend: { type: 'gateway', url: fake.url, token: GATEWAY_TOKEN } },
      backendRuntime: nodeBackendRuntime(),
    })
    try {
      const res = await chat(server, { model: 'openclaw', ...userMessage('via config') })
      assert.equal((await res.json()).choices[0].message.content, 'echo: via config')
      server.shutdown.abort()
      await fake.conns[0].closed
    } finally {
      await server.close()
      await fake.close()
    }
  })
})
