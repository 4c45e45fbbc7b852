/**
 * The shared-state store as the app uses it: two servers given one store behave as one for
 * lockouts, session locks and stored responses; a store that cannot reach its engine gets a 503
 * (auth limits fail closed). The Redis and Durable Objects stores run the same scenarios against
 * their engines in runtime-tests/.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { AgentBackend } from '../src/backend.ts'
import {
  ConfigError,
  createChatCompletionsApp,
  memoryStore,
  StoreUnavailableError,
  type Store,
} from '../src/index.ts'
import {
  assertError,
  chat,
  deferred,
  startServer,
  testConfig,
  TOKEN,
  userMessage,
  waitFor,
  type TestServer,
} from './helpers.ts'
import { RESPONSES_ON } from './responses-helpers.ts'

const RETENTION = { maxResponses: 100, ttlMs: 60_000 }

const STRICT = { maxAttempts: 2, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }
const STRICT_LOCKOUT = { gateway: { auth: { rateLimit: STRICT } } }

/** A store whose engine is down: every operation fails as a shared store's would. */
const downStore = (): Store => {
  const down = () => Promise.reject(new StoreUnavailableError('connection refused'))
  return {
    kind: 'down',
    lockedFor: down,
    failed: down,
    succeeded: down,
    lockSession: down,
    hit: down,
    slot: down,
    responses: { get: down, put: down, delete: down, item: down },
  }
}

describe('the shared-state store', () => {
  const servers: TestServer[] = []
  const start = async (options: Parameters<typeof startServer>[0]) => {
    const server = await startServer(options)
    servers.push(server)
    return server
  }
  after(() => Promise.all(servers.map((s) => s.close())))

  it('locks a client out on every server sharing the store', async () => {
    const store = memoryStore({ responses: RETENTION })
    const a = await start({ config: STRICT_LOCKOUT, store })
    const b = await start({ config: STRICT_LOCKOUT, store })
    for (const server of [a, b]) {
      await assertError(
        await chat(server, userMessage('hi'), { authorization: 'Bearer wrong' }),
        401
      )
    }
    // The right token, through the first server: the failures seen by both locked it out.
    await assertError(await chat(a, userMessage('hi')), 429, { code: 'rate_limit_exceeded' })
  })

  it('runs one turn of a session at a time across servers', async () => {
    const store = memoryStore({ responses: RETENTION })
    // Counts the turns that asked for a session lock, so the test knows both are in line.
    let asked = 0
    const lockSession = store.lockSession.bind(store)
    store.lockSession = (key, signal) => {
      asked++
      return lockSession(key, signal)
    }
    const log: string[] = []
    const gates = [deferred(), deferred()]
    let runs = 0
    const backend: AgentBackend = {
      name: 'gated',
      async *run(input) {
        const n = runs++
        const text = input.messages.at(-1)!.text
        log.push(`start ${text}`)
        await gates[n].promise
        log.push(`end ${text}`)
        yield { type: 'done', text }
      },
    }
    const a = await start({ store, backend })
    const b = await start({ store, backend })
    const session = { 'x-openclaw-session-key': 'shared-session' }
    const first = chat(a, userMessage('one'), session)
    // The first turn holds the session before the second asks for it.
    await waitFor(() => runs === 1, 'the first turn')
    const second = chat(b, userMessage('two'), session)
    await waitFor(() => asked === 2, 'both turns asking for the session')
    // Were the second turn let in now, it would end first: its gate opens before the first's.
    gates[1].resolve()
    await new Promise((r) => setImmediate(r))
    gates[0].resolve()
    assert.equal((await first).status, 200)
    assert.equal((await second).status, 200)
    assert.deepEqual(log, ['start one', 'end one', 'start two', 'end two'])
  })

  it('continues a previous_response_id made on another server', async () => {
    const store = memoryStore({ responses: RETENTION })
    const a = await start({ config: RESPONSES_ON, store })
    const b = await start({ config: RESPONSES_ON, store })
    const post = (server: TestServer, body: object) =>
      fetch(`${server.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openclaw', ...body }),
      })
    const first = await post(a, { input: 'one' })
    assert.equal(first.status, 200)
    const { id } = await first.json()
    const second = await post(b, { input: 'two', previous_response_id: id })
    assert.equal(second.status, 200, await second.clone().text())
    assert.equal(
      second.headers.get('x-openclaw-session-key'),
      first.headers.get('x-openclaw-session-key')
    )
    const stored = await fetch(`${b.url}/v1/responses/${id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    assert.equal(stored.status, 200)
  })

  it('fails closed with a 503 when the store is down: auth, turns and stored responses', async () => {
    const config = { gateway: { ...STRICT_LOCKOUT.gateway, ...RESPONSES_ON.gateway } }
    const server = await start({ config, store: downStore() })
    // The lockout cannot be checked: the request is refused, even with the right token.
    const refused = await chat(server, userMessage('hi'))
    assert.equal(refused.headers.get('retry-after'), '1')
    await assertError(refused, 503, { code: 'store_unavailable' })

    // With loopback exempt from the lockout, auth passes; the session lock cannot be taken.
    const exempt = await start({ config: RESPONSES_ON, store: downStore() })
    const locked = await chat(exempt, userMessage('hi'))
    assert.equal(locked.headers.get('retry-after'), '1')
    await assertError(locked, 503, { code: 'store_unavailable' })
    const stored = await fetch(`${exempt.url}/v1/responses/resp_1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    await assertError(stored, 503, { code: 'store_unavailable' })
  })

  it('needs the runtime to make a shared store the config names', () => {
    assert.throws(
      () =>
        createChatCompletionsApp({ config: testConfig({ gateway: { store: { type: 'redis' } } }) }),
      (err) => err instanceof ConfigError && /gateway\.store/.test(err.message)
    )
  })
})
