/**
 * Per-client API keys (`gateway.http.apiKeys`) on every endpoint, through a real server: what a
 * key may reach (agents, endpoints, its own stored responses and sessions), expiry, its limits
 * and their headers, the slots coming back whatever the client does, the token turned off, and
 * that logs and metrics name a key by its id only.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import OpenAI from 'openai'
import {
  ConfigError,
  createChatCompletionsApp,
  memoryStore,
  parseConfig,
  type AgentEvent,
  type AgentRunInput,
  type ConfigInput,
  type Release,
  type Store,
} from '../src/index.ts'
import { createLogger } from '../src/runtimes/logger.ts'
import { createPromMetrics } from '../src/runtimes/metrics.ts'
import {
  assertError,
  bodyReader,
  chat,
  probeBackend,
  settled,
  startServer,
  testConfig,
  TOKEN,
  untilAborted,
  userMessage,
  waitFor,
  within,
  withServer,
  type TestServer,
} from './helpers.ts'
import { createResponse, deleteResponse, getResponse, RESPONSES_ON } from './responses-helpers.ts'

/** A key as `keys create` makes them, and its config hash computed independently. */
const newKey = (tag: string) => `ocg_${tag}-${crypto.randomUUID()}`
const sha = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`

const APP = newKey('app')
const OTHER = newKey('other')
const BETA_ONLY = newKey('beta')
const EXPIRED = newKey('expired')
const CHAT_ONLY = newKey('chat')

const entry = (id: string, key: string, extra: Record<string, unknown> = {}) => ({
  id,
  hash: sha(key),
  agents: ['*'],
  ...extra,
})

const KEYS = [
  entry('app', APP),
  entry('other', OTHER),
  entry('beta-only', BETA_ONLY, { agents: ['beta'] }),
  entry('expired', EXPIRED, { expiresAt: '2020-01-01T00:00:00Z' }),
  entry('chat-only', CHAT_ONLY, { endpoints: ['chat'], expiresAt: '2099-01-01T00:00:00Z' }),
]

const withKeys = (keys: unknown[], extra: Record<string, unknown> = {}): ConfigInput =>
  ({
    gateway: { ...RESPONSES_ON.gateway, http: { ...RESPONSES_ON.gateway.http, apiKeys: keys } },
    ...extra,
  }) as ConfigInput

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

const models = async (server: TestServer, key: string, path = '') => {
  const res = await fetch(`${server.url}/v1/models${path}`, { headers: bearer(key) })
  return res
}

const modelIds = async (server: TestServer, key: string) => {
  const res = await models(server, key)
  assert.equal(res.status, 200)
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id)
}

const RATE_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
]

/** OpenAI's (Go's) duration form: `20ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`. */
const GO_DURATION = /^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$/

describe('API keys: who gets in', () => {
  it('lets a key in on chat, responses and models, and the token still works', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      const res = await chat(server, userMessage('hi from a key'), bearer(APP))
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.choices[0].message.content, 'hi from a key')
      // No rpm: no rate headers.
      for (const name of RATE_HEADERS) assert.equal(res.headers.get(name), null)

      const created = await createResponse(server, { input: 'hi' }, bearer(APP))
      assert.equal(created.status, 200)
      assert.equal((await created.json()).status, 'completed')

      assert.ok((await modelIds(server, APP)).includes('openclaw/beta'))
      assert.equal((await chat(server, userMessage('token'))).status, 200)
    })
  })

  it('refuses a wrong key, and wrong keys count toward the lockout like wrong tokens', async () => {
    const rateLimit = { maxAttempts: 2, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }
    const config = withKeys(KEYS, {})
    ;(config.gateway as Record<string, unknown>).auth = { mode: 'token', token: TOKEN, rateLimit }
    await withServer({ config }, async (server) => {
      await assertError(await chat(server, userMessage('x'), bearer(newKey('wrong'))), 401, {
        message: 'Invalid bearer token or API key.',
        code: 'invalid_api_key',
      })
      await assertError(await chat(server, userMessage('x'), bearer(`${APP}x`)), 401)
      // Locked out: even the right key waits.
      const locked = await chat(server, userMessage('x'), bearer(APP))
      await assertError(locked, 429, { code: 'rate_limit_exceeded' })
      assert.match(locked.headers.get('retry-after') ?? '', /^\d+$/)
    })
  })

  it('answers an expired key with a 401 that says so', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      for (const res of [
        await chat(server, userMessage('x'), bearer(EXPIRED)),
        await models(server, EXPIRED),
        await createResponse(server, { input: 'x' }, bearer(EXPIRED)),
      ]) {
        await assertError(res, 401, {
          message: "API key 'expired' expired at 2020-01-01T00:00:00Z.",
          code: 'invalid_api_key',
        })
      }
      // One that expires later works.
      assert.equal((await chat(server, userMessage('x'), bearer(CHAT_ONLY))).status, 200)
    })
  })

  it('keeps a key to its endpoints, and out of the operator endpoints', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      assert.equal((await chat(server, userMessage('x'), bearer(CHAT_ONLY))).status, 200)
      await assertError(await models(server, CHAT_ONLY), 403, {
        message: "API key 'chat-only' may not use the models endpoints (it may use: chat).",
        code: 'endpoint_not_allowed',
      })
      await assertError(await models(server, CHAT_ONLY, '/openclaw'), 403)
      await assertError(await createResponse(server, { input: 'x' }, bearer(CHAT_ONLY)), 403)
      await assertError(await getResponse(server, 'resp_x', bearer(CHAT_ONLY)), 403)
      const details = await fetch(`${server.url}/health/details`, { headers: bearer(APP) })
      await assertError(details, 403, { code: 'endpoint_not_allowed' })
    })
  })

  it('gives a key read and write but never admin, whatever x-openclaw-scopes says', async () => {
    const backend = probeBackend(async function* () {
      yield { type: 'done', text: 'ok' } satisfies AgentEvent
    })
    await withServer({ config: withKeys(KEYS), backend: backend.backend }, async (server) => {
      const admin = { ...bearer(APP), 'x-openclaw-scopes': 'operator.admin' }
      await assertError(
        await chat(server, userMessage('x'), { ...admin, 'x-openclaw-model': 'openai/gpt-5' }),
        403,
        { message: 'missing scope: operator.admin' }
      )
      // Nor does a key holder get the owner's turn.
      assert.equal((await chat(server, userMessage('x'), admin)).status, 200)
      assert.equal(backend.inputs.at(-1)!.senderIsOwner, false)
    })
  })
})

describe('API keys: agents', () => {
  it('refuses agents outside the allowlist with 403, and names only its own', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      const ok = await chat(
        server,
        { model: 'openclaw/beta', ...userMessage('x') },
        bearer(BETA_ONLY)
      )
      assert.equal(ok.status, 200)
      assert.equal(ok.headers.get('x-openclaw-agent-id'), 'beta')

      const refused = {
        message: "API key 'beta-only' may not use agent 'main'. Use 'openclaw/beta'.",
        code: 'agent_not_allowed',
      }
      await assertError(
        await chat(server, { model: 'openclaw/main', ...userMessage('x') }, bearer(BETA_ONLY)),
        403,
        refused
      )
      // The default agent and the agent header are held to the same list.
      await assertError(
        await chat(server, { model: 'openclaw', ...userMessage('x') }, bearer(BETA_ONLY)),
        403,
        refused
      )
      await assertError(
        await chat(server, userMessage('x'), {
          ...bearer(BETA_ONLY),
          'x-openclaw-agent-id': 'main',
        }),
        403,
        refused
      )
      await assertError(
        await createResponse(server, { model: 'openclaw/main', input: 'x' }, bearer(BETA_ONLY)),
        403,
        refused
      )
      // An unknown agent is a 400 as ever, listing only the agents the key may use.
      const unknown = await assertError(
        await chat(server, { model: 'openclaw/nope', ...userMessage('x') }, bearer(BETA_ONLY)),
        400,
        { code: 'model_not_found' }
      )
      assert.equal(unknown.message, "Unknown agent 'nope'. Agents: beta.")
    })
  })

  it('lists only the agents a key may use in /v1/models, and 404s the others', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      assert.deepEqual(await modelIds(server, BETA_ONLY), ['openclaw/beta'])
      assert.deepEqual(await modelIds(server, APP), await modelIds(server, TOKEN))
      assert.equal((await models(server, BETA_ONLY, '/openclaw%2Fbeta')).status, 200)
      for (const id of ['openclaw%2Fmain', 'openclaw', 'openclaw%2Fdefault']) {
        await assertError(await models(server, BETA_ONLY, `/${id}`), 404, {
          code: 'model_not_found',
        })
      }
    })
  })

  it('refuses a previous_response_id whose agent the key may no longer use', async () => {
    // Two instances sharing one store, the second with the key's list narrowed (a new config
    // rolling out): the key's own stored response names an agent it may not use any more.
    const store = memoryStore({ responses: { maxResponses: 100, ttlMs: 60_000 } })
    const wide = await startServer({ config: withKeys([entry('app', APP)]), store })
    const narrow = await startServer({
      config: withKeys([entry('app', APP, { agents: ['main'] })]),
      store,
    })
    try {
      const first = await createResponse(wide, { model: 'openclaw/beta', input: 'x' }, bearer(APP))
      const { id } = await first.json()
      assert.equal(first.status, 200)
      await assertError(
        await createResponse(narrow, { previous_response_id: id, input: 'y' }, bearer(APP)),
        403,
        { code: 'agent_not_allowed', message: /may not use agent 'beta'/ }
      )
      const again = await createResponse(
        wide,
        { previous_response_id: id, input: 'y' },
        bearer(APP)
      )
      assert.equal(again.status, 200)
    } finally {
      await Promise.all([wide.close(), narrow.close()])
    }
  })
})

describe('API keys: what is theirs', () => {
  it('scopes stored responses to the key that made them', async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      const made = await createResponse(server, { input: 'mine' }, bearer(APP))
      const { id } = await made.json()
      assert.equal((await getResponse(server, id, bearer(APP))).status, 200)
      const items = await fetch(`${server.url}/v1/responses/${id}/input_items`, {
        headers: bearer(APP),
      })
      assert.equal(items.status, 200)
      // Another key, and the token, do not see it.
      for (const key of [OTHER, TOKEN]) {
        await assertError(await getResponse(server, id, bearer(key)), 404)
        await assertError(await deleteResponse(server, id, bearer(key)), 404)
      }
      await assertError(
        await createResponse(server, { previous_response_id: id, input: 'x' }, bearer(OTHER)),
        400,
        { code: 'previous_response_not_found' }
      )
      const next = await createResponse(
        server,
        { previous_response_id: id, input: 'x' },
        bearer(APP)
      )
      assert.equal(next.status, 200)
      const deleted = await deleteResponse(server, id, bearer(APP))
      assert.deepEqual(await deleted.json(), { id, object: 'response', deleted: true })
      await assertError(await getResponse(server, id, bearer(APP)), 404)
    })
  })

  it("keeps a key's sessions apart from everyone else's", async () => {
    await withServer({ config: withKeys(KEYS) }, async (server) => {
      const session = async (key: string, body: object, headers: Record<string, string> = {}) => {
        const res = await chat(
          server,
          { ...userMessage('x'), ...body },
          { ...bearer(key), ...headers }
        )
        assert.equal(res.status, 200)
        await res.text()
        return decodeURIComponent(res.headers.get('x-openclaw-session-key')!)
      }
      assert.equal(await session(APP, { user: 'alice' }), 'agent:main:key:app:openai-user:alice')
      assert.equal(await session(TOKEN, { user: 'alice' }), 'agent:main:openai-user:alice')
      assert.match(await session(APP, {}), /^agent:main:key:app:openai:[0-9a-f-]{36}$/)
      // A key naming a session of the operator's gets its own of that name.
      const named = await session(APP, {}, { 'x-openclaw-session-key': 'agent:main:main' })
      assert.equal(named, 'agent:main:key:app:agent:main:main')
      // The name its answer gave is taken back as it is.
      assert.equal(await session(APP, {}, { 'x-openclaw-session-key': named }), named)
      assert.equal(
        await session(OTHER, {}, { 'x-openclaw-session-key': named }),
        `agent:main:key:other:${named}`
      )
    })
  })
})

/** A store on a clock the test moves, counting the concurrency slots it has out. */
const trackedStore = () => {
  let now = 1_000_000
  const inner = memoryStore({ responses: { maxResponses: 100, ttlMs: 60_000 }, now: () => now })
  let held = 0
  let hits = 0
  const slot: Store['slot'] = (key, max) => {
    const release = inner.slot(key, max) as Release | undefined
    if (!release) return undefined
    held++
    let given = false
    return () => {
      if (given) return
      given = true
      held--
      release()
    }
  }
  const hit: Store['hit'] = (key, limit, windowMs) => {
    hits++
    return inner.hit(key, limit, windowMs)
  }
  const store = new Proxy(inner, {
    get: (target, name) =>
      name === 'slot' ? slot : name === 'hit' ? hit : Reflect.get(target, name, target),
  })
  return {
    store: store as Store,
    advance: (ms: number) => (now += ms),
    get held() {
      return held
    },
    get hits() {
      return hits
    },
  }
}

describe('API keys: rpm', () => {
  it('sends the rate headers on answers, then a 429 with retry-after, and resets', async () => {
    const tracked = trackedStore()
    const keys = [entry('app', APP, { rpm: 2 })]
    await withServer({ config: withKeys(keys), store: tracked.store }, async (server) => {
      const first = await chat(server, userMessage('1'), bearer(APP))
      assert.equal(first.status, 200)
      assert.equal(first.headers.get('x-ratelimit-limit-requests'), '2')
      assert.equal(first.headers.get('x-ratelimit-remaining-requests'), '1')
      assert.equal(first.headers.get('x-ratelimit-reset-requests'), '1m0s')
      await first.text()

      tracked.advance(1_500)
      // A stream carries them too.
      const second = await chat(server, { stream: true, ...userMessage('2') }, bearer(APP))
      assert.equal(second.headers.get('x-ratelimit-remaining-requests'), '0')
      assert.equal(second.headers.get('x-ratelimit-reset-requests'), '58.5s')
      assert.match(await second.text(), /\[DONE\]/)

      const over = await chat(server, userMessage('3'), bearer(APP))
      assert.equal(over.headers.get('retry-after'), '59')
      assert.equal(over.headers.get('x-ratelimit-limit-requests'), '2')
      assert.equal(over.headers.get('x-ratelimit-remaining-requests'), '0')
      assert.match(over.headers.get('x-ratelimit-reset-requests')!, GO_DURATION)
      await assertError(over, 429, {
        message: "Rate limit reached for API key 'app': 2 requests per minute. Try again in 59s.",
        code: 'rate_limit_exceeded',
      })
      // Every endpoint counts against the same minute.
      await assertError(await models(server, APP), 429)
      // The token is not the key's: no limit, no headers.
      const token = await chat(server, userMessage('t'))
      assert.equal(token.status, 200)
      assert.equal(token.headers.get('x-ratelimit-limit-requests'), null)

      tracked.advance(58_500)
      const fresh = await models(server, APP)
      assert.equal(fresh.status, 200)
      assert.equal(fresh.headers.get('x-ratelimit-remaining-requests'), '1')
      // One visit to the store per request for the limits, whatever the answer's length.
      assert.equal(tracked.hits, 5)
    })
  })

  it('reaches the openai SDK as a RateLimitError with the headers', async () => {
    const keys = [entry('app', APP, { rpm: 1 })]
    await withServer({ config: withKeys(keys) }, async (server) => {
      const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: APP, maxRetries: 0 })
      const { response } = await openai.chat.completions
        .create({ model: 'openclaw', messages: [{ role: 'user', content: 'one' }] })
        .withResponse()
      assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '0')
      await assert.rejects(
        openai.chat.completions.create({
          model: 'openclaw',
          messages: [{ role: 'user', content: 'two' }],
        }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.RateLimitError, String(err))
          assert.equal(err.status, 429)
          assert.equal(err.code, 'rate_limit_exceeded')
          assert.equal(err.type, 'rate_limit_error')
          assert.match(err.headers.get('retry-after') ?? '', /^\d+$/)
          assert.equal(err.headers.get('x-ratelimit-limit-requests'), '1')
          assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0')
          assert.match(err.headers.get('x-ratelimit-reset-requests') ?? '', GO_DURATION)
          return true
        }
      )
    })
  })
})

/** Echoes, except that `hold` says `first` and then waits for the client to leave. */
const holdingBackend = () =>
  probeBackend(async function* (input: AgentRunInput, signal: AbortSignal) {
    if (input.message.includes('hold')) {
      yield { type: 'text', delta: 'first' } satisfies AgentEvent
      await untilAborted(signal)
      return
    }
    yield { type: 'done', text: input.message } satisfies AgentEvent
  })

describe('API keys: concurrency', () => {
  const keys = [entry('app', APP, { concurrency: 2, agents: ['main'] })]

  const openStream = async (server: TestServer) => {
    const res = await chat(server, { stream: true, ...userMessage('hold') }, bearer(APP))
    assert.equal(res.status, 200)
    const reader = bodyReader(res)
    await reader.until((text) => text.includes('first'))
    return reader
  }

  it('refuses a request over the limit with a 429, until one ends', async () => {
    const tracked = trackedStore()
    const { backend } = holdingBackend()
    await withServer({ config: withKeys(keys), store: tracked.store, backend }, async (server) => {
      const a = await openStream(server)
      const b = await openStream(server)
      const over = await chat(server, userMessage('x'), bearer(APP))
      assert.equal(over.headers.get('retry-after'), '1')
      await assertError(over, 429, {
        message:
          "API key 'app' already has 2 requests in progress, its limit. Try again when one has finished.",
        code: 'concurrency_limit_exceeded',
      })
      // Other callers are not held back.
      assert.equal((await chat(server, userMessage('token'))).status, 200)
      await a.cancel()
      await waitFor(() => tracked.held === 1, 'the left stream to give its slot back')
      assert.equal((await chat(server, userMessage('x'), bearer(APP))).status, 200)
      await b.cancel()
      await waitFor(() => tracked.held === 0, 'every slot back')
    })
  })

  it('gives every slot back after many requests, whichever way each ended', async () => {
    const tracked = trackedStore()
    const { backend } = holdingBackend()
    await withServer({ config: withKeys(keys), store: tracked.store, backend }, async (server) => {
      // Each way a keyed request can end after it took its slot.
      const ways: [string, (server: TestServer) => Promise<unknown>][] = [
        ['answered', async (s) => (await chat(s, userMessage('fast'), bearer(APP))).text()],
        [
          'streamed',
          async (s) =>
            (await chat(s, { stream: true, ...userMessage('fast') }, bearer(APP))).text(),
        ],
        ['a stream whose client leaves mid-way', async (s) => (await openStream(s)).cancel()],
        [
          'a non-stream answer whose client leaves while the agent works',
          async (s) => {
            const gone = new AbortController()
            const res = chat(s, userMessage('hold'), bearer(APP), { signal: gone.signal })
            await waitFor(() => tracked.held > 0 && s.app.stats().activeRuns > 0, 'the run')
            gone.abort()
            await res.catch(() => {})
          },
        ],
        ['a bad body', async (s) => (await chat(s, '{not json', bearer(APP))).text()],
        [
          'an agent outside the list',
          async (s) =>
            (await chat(s, { model: 'openclaw/beta', ...userMessage('x') }, bearer(APP))).text(),
        ],
        [
          'an unknown agent',
          async (s) =>
            (await chat(s, { model: 'openclaw/nope', ...userMessage('x') }, bearer(APP))).text(),
        ],
        [
          'a response',
          async (s) => (await createResponse(s, { input: 'fast' }, bearer(APP))).text(),
        ],
        [
          'a streamed response',
          async (s) =>
            (await createResponse(s, { input: 'fast', stream: true }, bearer(APP))).text(),
        ],
        ['the models', async (s) => (await models(s, APP)).text()],
      ]
      for (let round = 0; round < 5; round++) {
        for (const [what, way] of ways) {
          await within(way(server), `round ${round}: ${what}`)
          await waitFor(() => tracked.held === 0, `the slot of ${what} (round ${round})`)
        }
      }
      // And both slots are there to take, at once.
      const a = await openStream(server)
      const b = await openStream(server)
      await assertError(await chat(server, userMessage('x'), bearer(APP)), 429)
      await Promise.all([a.cancel(), b.cancel()])
      await waitFor(() => tracked.held === 0, 'every slot back')
      await settled(server)
    })
  })
})

describe('API keys only (gateway.http.apiKeysOnly)', () => {
  it('turns the token away from the /v1 endpoints, and keeps it for the operator ones', async () => {
    const config = withKeys(KEYS)
    ;(config.gateway!.http as Record<string, unknown>).apiKeysOnly = true
    await withServer({ config }, async (server) => {
      const refused = {
        message:
          'The gateway token is not accepted here (gateway.http.apiKeysOnly): use an API key.',
        code: 'invalid_api_key',
      }
      await assertError(await chat(server, userMessage('x')), 401, refused)
      await assertError(await createResponse(server, { input: 'x' }), 401, refused)
      await assertError(await models(server, TOKEN), 401, refused)
      assert.equal((await chat(server, userMessage('x'), bearer(APP))).status, 200)
      assert.equal((await models(server, APP)).status, 200)
      const details = await fetch(`${server.url}/health/details`, { headers: bearer(TOKEN) })
      assert.equal(details.status, 200)
    })
  })

  it('is refused without a key, and keys are refused under none and trusted-proxy', () => {
    assert.throws(
      () =>
        createChatCompletionsApp({
          config: testConfig({ gateway: { http: { apiKeysOnly: true } } } as ConfigInput),
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.path === 'gateway.http.apiKeysOnly' &&
        /no key is configured/.test(err.reason)
    )
    assert.throws(
      () =>
        createChatCompletionsApp({
          config: testConfig({
            gateway: { auth: { mode: 'none' }, http: { apiKeys: [entry('app', APP)] } },
          } as ConfigInput),
        }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.path === 'gateway.http.apiKeys' &&
        /token or password, not 'none'/.test(err.reason)
    )
  })
})

describe('API keys in config', () => {
  const problems = (keys: unknown[], extra: Record<string, unknown> = {}) => {
    try {
      parseConfig(testConfig(withKeys(keys, extra)))
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err))
      return err.problems.map(({ path, reason }) => `${path}: ${reason}`)
    }
    return []
  }

  it('takes an entry as keys create prints it, with its defaults', () => {
    const config = parseConfig(testConfig(withKeys([entry('app', APP, { agents: ['Main'] })])))
    assert.deepEqual(config.gateway.http.apiKeys, [
      { id: 'app', hash: sha(APP), agents: ['main'], endpoints: ['chat', 'responses', 'models'] },
    ])
    assert.equal(config.gateway.http.apiKeysOnly, false)
  })

  it('reports every bad entry at once, in plain words', () => {
    const at = 'gateway.http.apiKeys'
    assert.deepEqual(
      problems([
        { id: 'bad id', hash: 'sha256:abc', agents: [] },
        { ...entry('app', APP), endpoints: ['chat', 'completions'], expiresAt: '2027-01-01' },
        { ...entry('app', OTHER), agents: ['mian'], rpm: 0, expireAt: '2027-01-01T00:00:00Z' },
      ]),
      [
        `${at}[0].id: must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63} (got "bad id")`,
        `${at}[0].hash: must be 'sha256:' and 64 hex digits (keys create prints it) (got a string)`,
        `${at}[0].agents: must name at least one agent, or '*' for all`,
        `${at}[1].endpoints[1]: must be one of "chat", "responses" or "models" (got "completions")`,
        `${at}[1].expiresAt: must be an ISO 8601 date-time with its time zone, e.g. ` +
          '2027-01-01T00:00:00Z (got "2027-01-01")',
        `${at}[2].rpm: must be at least 1 (got 0)`,
        `${at}[2].expireAt: unknown key; did you mean expiresAt?`,
      ]
    )
    assert.deepEqual(
      problems([entry('app', APP), { ...entry('app', APP), agents: ['mian', 'beta'] }]),
      [
        `${at}[1].id: duplicate key id 'app'`,
        `${at}[1].hash: the same key as 'app': make a new one`,
        `${at}[1].agents[0]: unknown agent 'mian'; did you mean main?`,
      ]
    )
  })

  it('never echoes a key pasted where its hash goes', () => {
    const [problem] = problems([{ id: 'app', hash: APP, agents: ['main'] }])
    assert.match(problem, /^gateway\.http\.apiKeys\[0\]\.hash: holds a key itself/)
    assert.ok(!problem.includes(APP.slice(4)), problem)
  })
})

describe('API keys in logs and metrics', () => {
  it('names the key by its id in the request log and the metrics, never the key', async () => {
    const lines: string[] = []
    const logger = createLogger({
      format: 'json',
      level: 'debug',
      color: false,
      write: (line) => lines.push(line),
    })
    const keys = [...KEYS.slice(1), entry('app', APP, { rpm: 3 })]
    const wrong = newKey('wrong')
    await withServer(
      {
        config: withKeys(keys, { metrics: { enabled: true } }),
        logger,
        metrics: createPromMetrics({ defaultMetrics: false }),
      },
      async (server) => {
        const answers = [
          await chat(server, { user: 'alice', ...userMessage('x') }, bearer(APP)),
          await chat(server, { stream: true, ...userMessage('x') }, bearer(APP)),
          await createResponse(server, { input: 'x' }, bearer(APP)),
          await chat(server, userMessage('x'), bearer(APP)),
          await chat(server, userMessage('x'), bearer(wrong)),
          await chat(server, userMessage('x'), bearer(EXPIRED)),
          await models(server, BETA_ONLY),
        ]
        assert.deepEqual(
          answers.map((res) => res.status),
          [200, 200, 200, 429, 401, 401, 200]
        )
        await Promise.all(answers.map((res) => res.text()))
        const requests = () =>
          lines.map((line) => JSON.parse(line)).filter((record) => record.msg === 'request')
        await waitFor(() => requests().length === answers.length, 'every request line')
        assert.deepEqual(
          requests().map((r) => r.key),
          ['app', 'app', 'app', 'app', undefined, 'expired', 'beta-only']
        )
        assert.match(requests()[0].session, /^agent:main:key:app:openai-user:#[0-9a-f]{8}$/)

        const res = await fetch(`${server.url}/metrics`, { headers: bearer(TOKEN) })
        const text = await res.text()
        assert.match(
          text,
          /^openclaw_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200",agent="main",key="app"\} 2$/m
        )
        assert.match(text, /status="429",agent="",key="app"\} 1$/m)
        assert.match(
          text,
          /route="\/v1\/models",method="GET",status="200",agent="",key="beta-only"\} 1$/m
        )

        for (const secret of [APP, OTHER, BETA_ONLY, EXPIRED, CHAT_ONLY, wrong]) {
          for (const line of [...lines, text]) {
            assert.ok(!line.includes(secret), `a key in: ${line}`)
            // Nor a piece long enough to matter.
            assert.ok(!line.includes(secret.slice(4, 20)), `part of a key in: ${line}`)
          }
        }
      }
    )
  })
})
