/**
 * The Durable Objects store against stand-in objects: what it does when they fail, are slow or
 * cannot be reached, and how the worker entry chooses it. The objects themselves, under workerd,
 * are in runtime-tests/durable-objects.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { StoreUnavailableError, type Store } from '../src/core/store.ts'
import type { DurableNamespace } from '../src/runtimes/durable-protocol.ts'
import { DURABLE_BINDINGS, durableStore } from '../src/runtimes/durable-store.ts'
import worker from '../src/runtimes/worker.ts'
import { deferred } from './helpers.ts'

interface Call {
  name: string
  op: string
  args: Record<string, any>
}

/** Every binding answered by `answer`, each call recorded in `calls`. */
const standIns = (answer: (call: Call) => Response | Promise<Response>) => {
  const calls: Call[] = []
  const namespace: DurableNamespace = {
    idFromName: (name) => name,
    get: (id) => ({
      fetch: async (url, init) => {
        const call = {
          name: id as string,
          op: new URL(url).pathname.slice(1),
          args: JSON.parse(init!.body as string),
        }
        calls.push(call)
        return answer(call)
      },
    }),
  }
  const env = Object.fromEntries(Object.values(DURABLE_BINDINGS).map((name) => [name, namespace]))
  return { env, calls }
}

const json = (value: unknown) => Response.json(value)
const quiet = { warn() {} }
const never = new AbortController().signal
const RULE = { maxAttempts: 3, windowMs: 60_000, lockoutMs: 60_000 }

/** Each operation of the store, called once. */
const everyOperation = (store: Store): [string, () => Promise<unknown>][] => [
  ['lockedFor', async () => store.lockedFor('192.0.2.1')],
  ['failed', async () => store.failed('192.0.2.1', RULE)],
  ['lockSession', async () => store.lockSession('session', never)],
  ['hit', async () => store.hit('key', 10, 60_000)],
  ['slot', async () => store.slot('key', 1)],
  ['responses.get', () => store.responses.get('resp_1')],
  ['responses.put', () => store.responses.put('resp_1', storedResponse)],
  ['responses.delete', () => store.responses.delete('resp_1')],
  ['responses.item', () => store.responses.item('msg_1')],
]

const storedResponse = {
  response: { id: 'resp_1', output: [{ id: 'msg_1', type: 'message' }] },
  input: [],
  subject: 'someone',
  agentId: 'main',
  sessionKey: 'agent:main:test',
}

describe('the Durable Objects store', () => {
  it('throws StoreUnavailableError from every operation when the objects cannot be reached', async () => {
    const { env } = standIns(() => {
      throw new TypeError('Network connection lost.')
    })
    const store = durableStore(env, { responseTtlMs: 60_000, logger: quiet })
    for (const [what, operation] of everyOperation(store)) {
      await assert.rejects(operation(), StoreUnavailableError, what)
    }
  })

  it('throws StoreUnavailableError when an object fails', async () => {
    const { env } = standIns(failed)
    const store = durableStore(env, { responseTtlMs: 60_000, logger: quiet })
    for (const [what, operation] of everyOperation(store)) {
      await assert.rejects(operation(), /answered 500: storage overloaded/, what)
    }
  })

  it('gives up on an object that does not answer in time, but waits for a lock', async () => {
    const granted = deferred<Response>()
    const { env, calls } = standIns(({ op }) =>
      op === 'acquire' ? granted.promise : op === 'release' ? json({}) : new Promise(() => {})
    )
    const store = durableStore(env, { responseTtlMs: 60_000, timeoutMs: 10, logger: quiet })
    const locking = store.lockSession('session', never)
    await assert.rejects(async () => store.hit('key', 10, 60_000), StoreUnavailableError)
    // Longer than the timeout already: a wait for a turn is not a slow answer.
    granted.resolve(json({ held: true }))
    const release = await locking
    release()
    release()
    const ticket = calls.find((c) => c.op === 'acquire')!.args.ticket
    assert.deepEqual(
      calls.filter((c) => c.op === 'release').map((c) => c.args.ticket),
      [ticket],
      'released once, under the ticket it was granted to'
    )
  })

  it('tells the object when a waiter gives up its place', async () => {
    const { env, calls } = standIns(({ op }) =>
      op === 'release' ? json({}) : new Promise<Response>(() => {})
    )
    const store = durableStore(env, { responseTtlMs: 60_000, logger: quiet })
    const leaving = new AbortController()
    const waiting = Promise.resolve(store.lockSession('session', leaving.signal))
    const reason = new Error('client left')
    leaving.abort(reason)
    await assert.rejects(waiting, (err: unknown) => err === reason)
    const [acquire, release] = calls
    assert.equal(acquire.op, 'acquire')
    assert.equal(release?.op, 'release')
    assert.equal(release.args.ticket, acquire.args.ticket)
  })

  it('skips the call that clears failures when the check found none', async () => {
    let clean = true
    const { env, calls } = standIns(({ op }) =>
      json(op === 'locked-for' ? { seconds: 0, clean } : {})
    )
    const store = durableStore(env, { responseTtlMs: 60_000, logger: quiet })
    await store.lockedFor('192.0.2.1')
    await store.succeeded('192.0.2.1')
    assert.deepEqual(
      calls.map((c) => c.op),
      ['locked-for']
    )
    clean = false
    await store.lockedFor('192.0.2.1')
    await store.succeeded('192.0.2.1')
    assert.deepEqual(
      calls.map((c) => `${c.op} ${c.name}`),
      ['locked-for client:192.0.2.1', 'locked-for client:192.0.2.1', 'succeeded client:192.0.2.1']
    )
  })

  it('indexes a stored response by its output items', async () => {
    const { env, calls } = standIns(() => json({}))
    const store = durableStore(env, { responseTtlMs: 5_000, logger: quiet })
    await store.responses.put('resp_1', storedResponse)
    assert.deepEqual(
      calls.map((c) => [c.name, c.op, c.args.ttlMs]),
      [
        ['response:resp_1', 'put', 5_000],
        ['item:msg_1', 'put', 5_000],
      ]
    )
    assert.equal(calls[1].args.value, 'resp_1')
  })
})

const failed = () =>
  new Response(JSON.stringify({ error: 'storage overloaded' }), {
    status: 500,
    headers: { 'content-type': 'application/json' },
  })

describe('the worker entry and the Durable Objects store', () => {
  const base = {
    OPENCLAW_CHAT_COMPLETIONS_ENABLED: 'true',
    OPENCLAW_AUTH_MODE: 'token',
    OPENCLAW_GATEWAY_TOKEN: 'secret',
  }
  const ask = (env: Record<string, unknown>) =>
    worker.fetch(
      new Request('http://worker/v1/chat/completions', {
        method: 'POST',
        headers: {
          authorization: 'Bearer secret',
          'cf-connecting-ip': '203.0.113.1',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      }),
      env,
      {}
    )

  it('keeps the lockout in the objects when it has their bindings', async () => {
    const { env, calls } = standIns(({ op }) =>
      json(op === 'locked-for' ? { seconds: 0, clean: true } : { held: true })
    )
    const res = await ask({ ...base, ...env })
    assert.equal(res.status, 200, await res.text())
    assert.deepEqual(
      calls.map((c) => c.op),
      ['locked-for', 'acquire', 'release']
    )
    assert.equal(calls[0].name, 'client:203.0.113.1')
  })

  it('answers 503 when the objects cannot be reached (the lockout fails closed)', async () => {
    const { env } = standIns(() => {
      throw new TypeError('Network connection lost.')
    })
    const res = await ask({ ...base, ...env })
    assert.equal(res.status, 503)
  })

  it('keeps memory when the config says so, bindings or not', async () => {
    const { env, calls } = standIns(() => json({}))
    const config = JSON.stringify({ gateway: { store: { type: 'memory' } } })
    const res = await ask({ ...base, ...env, OPENCLAW_CONFIG: config })
    assert.equal(res.status, 200)
    assert.deepEqual(calls, [])
  })

  it('answers 500 when the config asks for the objects but a binding is missing', async () => {
    const { env } = standIns(() => json({}))
    const config = JSON.stringify({ gateway: { store: { type: 'durable-objects' } } })
    const { [DURABLE_BINDINGS.records]: _, ...partial } = env
    const errors: unknown[] = []
    const error = console.error
    console.error = (...args: unknown[]) => errors.push(args.join(' '))
    try {
      const res = await ask({ ...base, ...partial, OPENCLAW_CONFIG: config })
      assert.equal(res.status, 500)
      const { error: body } = (await res.json()) as { error: { message: string } }
      assert.match(body.message, /gateway\.store/)
    } finally {
      console.error = error
    }
    assert.match(String(errors[0]), new RegExp(DURABLE_BINDINGS.records))
  })
})
