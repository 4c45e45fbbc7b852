/**
 * The Redis store against a real redis-server (Debian's; `.ci/run` installs it). Two store
 * instances on one Redis stand for two gateway instances; a child process stands for one that
 * dies. Nothing here is skipped: without redis-server the tests fail and say what to install.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, before, beforeEach, describe, it } from 'node:test'
import { createClient } from '@redis/client'
import { StoreUnavailableError, type Store } from '../../src/core/store.ts'
import type { StoredResponse } from '../../src/responses/store.ts'
import { createRedisStore, type RedisStoreOptions } from '../../src/runtimes/redis-store.ts'
import { assertError, sseData } from '../../test/helpers.ts'
import { Gateway } from './gateway.ts'
import { RedisServer } from './server.ts'

const LEASE_MS = 600
const TIMEOUT_MS = 500
// Only turns a hang into a failure.
const SUITE_TIMEOUT_MS = 120_000

let redis: RedisServer
let raw: ReturnType<typeof createClient>
let listener: ReturnType<typeof createClient>
let prefix: string
let testNo = 0
const stores: Store[] = []

/** What a store logged, so a test can wait for "reachable again" rather than sleep. */
const logLines: string[] = []
const logged = (text: string) =>
  new Promise<void>((resolve) => {
    const check = () => {
      if (logLines.some((line) => line.includes(text))) return resolve()
      waiting.push(check)
    }
    check()
  })
let waiting: (() => void)[] = []
const logger = {
  info: (line: string) => note(line),
  warn: (line: string) => note(line),
}
const note = (line: string) => {
  logLines.push(line)
  const pending = waiting
  waiting = []
  for (const check of pending) check()
}

const store = (options: Partial<RedisStoreOptions> = {}) => {
  const made = createRedisStore({
    url: redis.url,
    prefix,
    leaseMs: LEASE_MS,
    timeoutMs: TIMEOUT_MS,
    responses: { maxResponses: 100, ttlMs: 60_000 },
    logger,
    ...options,
  })
  stores.push(made)
  return made
}

/** Every change Redis announced: key and what happened to it (`set`, `expire`, `expired`…). */
const changes: { key: string; event: string }[] = []
let onChange: (() => void)[] = []
const nextChange = () =>
  new Promise<void>((resolve) => {
    // A change made while the listener was reconnecting is not announced: look again anyway.
    const timer = setTimeout(resolve, 250)
    onChange.push(() => {
      clearTimeout(timer)
      resolve()
    })
  })

/**
 * Waits until `check` holds, looking again whenever Redis announces a change. The wall-clock
 * bound only turns a hang into a failure.
 */
const until = async (check: () => Promise<boolean>, boundMs = 30_000) => {
  const giveUp = Date.now() + boundMs
  for (;;) {
    const changed = nextChange()
    if (await check()) return
    if (Date.now() > giveUp) throw new Error(`gave up waiting for: ${check}`)
    await changed
  }
}

/** How many times `key` had `event`. */
const count = (key: string, event: string) =>
  changes.filter((change) => change.key === key && change.event === event).length

/** Whether a promise has settled by the time Redis answered a round trip. */
const settled = async (promise: Promise<unknown>) => {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true)
  )
  await raw.ping()
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

const never = () => new AbortController().signal
const lockKey = (key: string) => `${prefix}lock:${key}`
const lineOf = (key: string) => raw.zCard(`${prefix}lock-line:${key}`)

const response = (output: Record<string, unknown>[] = []): StoredResponse => ({
  response: { id: 'resp', object: 'response', output },
  input: [{ type: 'message', role: 'user', content: 'hi' }],
  subject: 'shared-secret',
  agentId: 'main',
  sessionKey: 'agent:main:openai:x',
})

before(async () => {
  redis = await RedisServer.start()
  raw = createClient({ url: redis.url, RESP: 2 })
  raw.on('error', () => {})
  await raw.connect()
  listener = raw.duplicate()
  listener.on('error', () => {})
  await listener.connect()
  const announced = '__keyspace@0__:'
  await listener.pSubscribe(`${announced}*`, (event, channel) => {
    changes.push({ key: channel.slice(announced.length), event })
    const waiting = onChange
    onChange = []
    for (const wake of waiting) wake()
  })
})

beforeEach(async () => {
  prefix = `t${++testNo}:`
  // A test that failed while Redis was stopped must not fail the ones after it too.
  if (!redis.running) await redis.start()
})

after(async () => {
  await Promise.all(stores.map((s) => s.close?.()))
  raw?.destroy()
  listener?.destroy()
  await redis?.stop()
})

describe('the Redis store: session locks', { timeout: SUITE_TIMEOUT_MS }, () => {
  it('lets one turn of a session run at a time across two instances', async () => {
    const a = store()
    const b = store()
    const held = await a.lockSession('s', never())
    const waiting = Promise.resolve(b.lockSession('s', never()))
    await until(async () => (await lineOf('s')) === 1)
    assert.equal(await settled(waiting), false)
    held()
    const next = await waiting
    assert.equal(await raw.exists(lockKey('s')), 1)
    next()
    await until(async () => (await raw.exists(lockKey('s'))) === 0)
  })

  it('never overlaps many turns of one session spread over two instances', async () => {
    const instances = [store(), store()]
    let inside = 0
    let most = 0
    const order: number[] = []
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const release = await instances[i % 2].lockSession('busy', never())
        inside++
        most = Math.max(most, inside)
        // The turn does a few things that yield to the event loop, as a real one does.
        for (let n = 0; n < 3; n++) await raw.ping()
        order.push(i)
        inside--
        release()
      })
    )
    assert.equal(most, 1)
    assert.equal(order.length, 12)
  })

  it('serves waiters in the order they came, whichever instance they came through', async () => {
    const [a, b] = [store(), store()]
    const held = await a.lockSession('fifo', never())
    const served: string[] = []
    const waits: Promise<void>[] = []
    for (const [name, instance] of [
      ['b1', b],
      ['a1', a],
      ['b2', b],
      ['a2', a],
    ] as const) {
      const place = (await lineOf('fifo')) + 1
      waits.push(
        Promise.resolve(instance.lockSession('fifo', never())).then((release) => {
          served.push(name)
          release()
        })
      )
      await until(async () => (await lineOf('fifo')) === place)
    }
    held()
    await Promise.all(waits)
    assert.deepEqual(served, ['b1', 'a1', 'b2', 'a2'])
  })

  it('gives up the place of a waiter that is aborted, with the signal’s reason', async () => {
    const [a, b] = [store(), store()]
    const held = await a.lockSession('abort', never())
    const controller = new AbortController()
    const waiting = Promise.resolve(b.lockSession('abort', controller.signal))
    await until(async () => (await lineOf('abort')) === 1)
    const reason = new Error('client went away')
    controller.abort(reason)
    await assert.rejects(waiting, (err) => err === reason)
    await until(async () => (await lineOf('abort')) === 0)
    // The next waiter is not held up behind the one that left.
    const third = Promise.resolve(b.lockSession('abort', never()))
    held()
    ;(await third)()
  })

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort(new Error('gone'))
    await assert.rejects(Promise.resolve(store().lockSession('x', controller.signal)), /gone/)
  })

  it('keeps a lock held past its lease while the holder lives (the lease is renewed)', async () => {
    const [a, b] = [store(), store()]
    const held = await a.lockSession('long', never())
    const waiting = Promise.resolve(b.lockSession('long', never()))
    // Four renewals: the lease was extended past its first end.
    const before = count(lockKey('long'), 'expire')
    await until(async () => count(lockKey('long'), 'expire') >= before + 4)
    assert.equal(await settled(waiting), false)
    held()
    ;(await waiting)()
  })

  it('frees the lock and the slot of an instance killed while holding them, once the lease ends', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'runtime-tests/redis/lock-holder.ts',
        redis.url,
        prefix,
        'dead',
        'k',
        '1000',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    const lines = createInterface({ input: child.stdout! })
    await once(lines, 'line')
    const b = store()
    assert.equal(await b.slot('k', 1), undefined)
    const waiting = Promise.resolve(b.lockSession('dead', never()))
    await until(async () => (await lineOf('dead')) === 1)
    child.kill('SIGKILL')
    await once(child, 'exit')
    ;(await waiting)()
    await until(async () => (await raw.zCard(`${prefix}slots:k`)) === 0)
    const slot = await b.slot('k', 1)
    assert.ok(slot)
    slot()
  })
})

describe('the Redis store: counters', { timeout: SUITE_TIMEOUT_MS }, () => {
  it('counts requests in a fixed window shared by instances; a refused one is not counted', async () => {
    const [a, b] = [store(), store()]
    const first = await a.hit('key1', 3, 60_000)
    assert.deepEqual(
      { ...first, resetMs: undefined },
      {
        allowed: true,
        limit: 3,
        remaining: 2,
        resetMs: undefined,
      }
    )
    assert.ok(first.resetMs > 0 && first.resetMs <= 60_000)
    assert.equal((await b.hit('key1', 3, 60_000)).remaining, 1)
    assert.equal((await a.hit('key1', 3, 60_000)).remaining, 0)
    const refused = await b.hit('key1', 3, 60_000)
    assert.equal(refused.allowed, false)
    assert.equal(refused.remaining, 0)
    assert.ok(refused.resetMs > 0 && refused.resetMs <= 60_000)
    assert.equal(await raw.get(`${prefix}rate:key1`), '3')
    // Another key has its own window.
    assert.equal((await b.hit('key2', 3, 60_000)).remaining, 2)
  })

  it('starts the count again when the window ends', async () => {
    const a = store()
    await a.hit('short', 1, 300)
    assert.equal((await a.hit('short', 1, 300)).allowed, false)
    await until(async () => (await raw.exists(`${prefix}rate:short`)) === 0)
    assert.deepEqual((await a.hit('short', 1, 300)).allowed, true)
  })

  it('shares concurrency slots across instances', async () => {
    const [a, b] = [store(), store()]
    const one = await a.slot('c', 2)
    const two = await b.slot('c', 2)
    assert.ok(one && two)
    assert.equal(await a.slot('c', 2), undefined)
    two()
    two()
    await until(async () => (await raw.zCard(`${prefix}slots:c`)) === 1)
    const three = await a.slot('c', 2)
    assert.ok(three)
    assert.equal(await b.slot('c', 2), undefined)
    one()
    three()
  })

  it('locks a client out on every instance, and a success clears it', async () => {
    const [a, b] = [store(), store()]
    const rule = { maxAttempts: 3, windowMs: 60_000, lockoutMs: 5_000 }
    assert.equal(await a.failed('10.0.0.1', rule), false)
    assert.equal(await b.failed('10.0.0.1', rule), false)
    assert.equal(await b.lockedFor('10.0.0.1'), 0)
    assert.equal(await a.failed('10.0.0.1', rule), true)
    const left = await b.lockedFor('10.0.0.1')
    assert.ok(left > 0 && left <= 5, String(left))
    assert.equal(await a.lockedFor('10.0.0.2'), 0)
    await b.succeeded('10.0.0.1')
    assert.equal(await a.lockedFor('10.0.0.1'), 0)
    // The count started again.
    assert.equal(await a.failed('10.0.0.1', rule), false)
  })

  it('lets failures older than the window go', async () => {
    const a = store()
    const rule = { maxAttempts: 2, windowMs: 200, lockoutMs: 5_000 }
    assert.equal(await a.failed('c', rule), false)
    await until(async () => (await raw.exists(`${prefix}auth-failures:c`)) === 0)
    assert.equal(await a.failed('c', rule), false)
  })
})

describe('the Redis store: stored responses', { timeout: SUITE_TIMEOUT_MS }, () => {
  it('keeps a response for every instance: get, item, delete', async () => {
    const [a, b] = [store(), store()]
    const item = { id: 'fc_1', type: 'function_call', name: 'f', arguments: '{}' }
    await a.responses.put('resp_1', response([item]))
    assert.deepEqual(await b.responses.get('resp_1'), response([item]))
    assert.deepEqual(await b.responses.item('fc_1'), { item, owner: response([item]) })
    assert.equal(await b.responses.item('fc_2'), undefined)
    assert.equal(await b.responses.delete('resp_1'), true)
    assert.equal(await a.responses.get('resp_1'), undefined)
    assert.equal(await a.responses.item('fc_1'), undefined)
    assert.equal(await a.responses.delete('resp_1'), false)
  })

  it('keeps at most maxResponses, the oldest going first', async () => {
    const a = store({ responses: { maxResponses: 2, ttlMs: 60_000 } })
    await a.responses.put('r1', response([{ id: 'i1' }]))
    await a.responses.put('r2', response())
    await a.responses.put('r3', response())
    assert.equal(await a.responses.get('r1'), undefined)
    assert.equal(await a.responses.item('i1'), undefined)
    assert.ok(await a.responses.get('r2'))
    assert.ok(await a.responses.get('r3'))
  })

  it('forgets a response when its time is up', async () => {
    const a = store({ responses: { maxResponses: 10, ttlMs: 200 } })
    await a.responses.put('brief', response([{ id: 'i9' }]))
    assert.ok(await a.responses.get('brief'))
    await until(async () => (await raw.exists(`${prefix}response:brief`)) === 0)
    assert.equal(await a.responses.get('brief'), undefined)
    assert.equal(await a.responses.item('i9'), undefined)
  })
})

describe('the Redis store when Redis goes away', { timeout: SUITE_TIMEOUT_MS }, () => {
  it('answers StoreUnavailableError when Redis is down, and works again when it is back', async () => {
    const [a, b] = [store(), store()]
    const held = await a.lockSession('outage', never())
    const waiting = Promise.resolve(b.lockSession('outage', never()))
    await until(async () => (await lineOf('outage')) === 1)
    // A waiter hears of it too, rather than waiting for a Redis that may not come back.
    const waiterRefused = assert.rejects(waiting, StoreUnavailableError)
    logLines.length = 0
    await redis.stop()
    await logged('Redis is unreachable')

    const ops: (() => unknown)[] = [
      () => a.lockedFor('c'),
      () => a.failed('c', { maxAttempts: 3, windowMs: 1000, lockoutMs: 1000 }),
      () => a.succeeded('c'),
      () => a.hit('k', 5, 1000),
      () => a.slot('k', 5),
      () => a.responses.get('r'),
      () => a.responses.put('r', response()),
      () => a.responses.delete('r'),
      () => a.responses.item('i'),
      () => a.lockSession('other', never()),
    ]
    for (const op of ops) {
      await assert.rejects(Promise.resolve().then(op), StoreUnavailableError)
    }
    await waiterRefused

    await redis.start()
    await logged('Redis is reachable again')
    // The holder's renewal takes its lock again in the Redis that came back empty, so a new
    // turn of the session still waits for it.
    await until(async () => (await raw.exists(lockKey('outage'))) === 1)
    const next = Promise.resolve(b.lockSession('outage', never()))
    await until(async () => (await lineOf('outage')) === 1)
    assert.equal(await settled(next), false)
    held()
    ;(await next)()
    assert.equal((await a.hit('k', 5, 1000)).allowed, true)
  })

  it('answers StoreUnavailableError within its timeout when Redis hangs', async () => {
    const a = store()
    assert.equal(await a.lockedFor('c'), 0)
    redis.freeze()
    try {
      await assert.rejects(Promise.resolve(a.lockedFor('c')), {
        name: 'StoreUnavailableError',
        message: `Redis did not answer within ${TIMEOUT_MS} ms`,
      })
      await assert.rejects(a.responses.get('r'), StoreUnavailableError)
    } finally {
      redis.thaw()
    }
    assert.equal(await a.lockedFor('c'), 0)
  })

  it('waits for the first connection of a store just made, then answers', async () => {
    assert.equal(await store().lockedFor('c'), 0)
  })

  it('answers StoreUnavailableError when Redis is down from the start', async () => {
    const nowhere = store({ url: 'redis://127.0.0.1:1' })
    await assert.rejects(Promise.resolve(nowhere.lockedFor('c')), StoreUnavailableError)
    await nowhere.close?.()
  })
})

describe('the Redis store on close', { timeout: SUITE_TIMEOUT_MS }, () => {
  it('gives back the locks and slots it held, and fails its waiters', async () => {
    const a = createRedisStore({
      url: redis.url,
      prefix,
      leaseMs: LEASE_MS,
      responses: { maxResponses: 10, ttlMs: 60_000 },
    })
    await a.lockSession('closing', never())
    assert.ok(await a.slot('closing', 1))
    const other = createRedisStore({
      url: redis.url,
      prefix,
      responses: { maxResponses: 1, ttlMs: 1 },
    })
    const waiting = Promise.resolve(other.lockSession('closing', never()))
    await until(async () => (await lineOf('closing')) === 1)
    const refused = assert.rejects(waiting, StoreUnavailableError)
    await other.close?.()
    await refused
    await a.close?.()
    assert.equal(await raw.exists(lockKey('closing')), 0)
    assert.equal(await raw.zCard(`${prefix}slots:closing`), 0)
    await assert.rejects(a.responses.get('r'), StoreUnavailableError)
  })

  it('leaves no timer or socket behind', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'runtime-tests/redis/close-check.ts', redis.url],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
    const { added, waiter } = JSON.parse(output)
    assert.deepEqual(added, [])
    assert.equal(waiter, 'StoreUnavailableError')
  })
})

describe('two gateway servers on one Redis', { timeout: SUITE_TIMEOUT_MS }, () => {
  const TOKEN = 'redis-e2e-token'
  const gateways: Gateway[] = []
  after(() => Promise.all(gateways.map((g) => g.close())))

  const config = (rateLimit: Record<string, unknown> = {}) => ({
    gateway: {
      auth: { mode: 'token', token: TOKEN, rateLimit },
      // The URL comes from OPENCLAW_REDIS_URL; a short lease so a dead server's lock goes soon.
      store: { type: 'redis', prefix, leaseMs: 1000, timeoutMs: TIMEOUT_MS },
      http: {
        endpoints: { chatCompletions: { enabled: true }, responses: { enabled: true } },
      },
    },
    agents: { list: [{ id: 'main', default: true }] },
    backend: { type: 'echo' },
  })
  const pair = async (rateLimit?: Record<string, unknown>) => {
    const started = await Promise.all([0, 1].map(() => Gateway.start(config(rateLimit), redis.url)))
    gateways.push(...started)
    return started
  }
  // Loopback clients are exempt from the lockout unless told otherwise; these tests come from it.
  const STRICT = { maxAttempts: 3, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }

  const chat = (
    gateway: Gateway,
    content: string,
    init: { session?: string; token?: string; stream?: boolean; signal?: AbortSignal } = {}
  ) =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal: init.signal,
      headers: {
        authorization: `Bearer ${init.token ?? TOKEN}`,
        'content-type': 'application/json',
        ...(init.session && { 'x-openclaw-session-key': init.session }),
      },
      body: JSON.stringify({
        model: 'openclaw',
        stream: init.stream ?? true,
        messages: [{ role: 'user', content }],
      }),
    })

  /** Reads a chat stream to its end, noting `<label> content` and `<label> done` in `log`. */
  const readStream = async (res: Response, label: string, log: string[]) => {
    assert.equal(res.status, 200)
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const bytes of res.body!) {
      buffer += decoder.decode(bytes, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1]
        buffer = buffer.slice(end + 2)
        if (data === '[DONE]') log.push(`${label} done`)
        else if (data && JSON.parse(data).choices?.[0]?.delta?.content) log.push(`${label} content`)
      }
    }
  }

  const responses = (gateway: Gateway, body: Record<string, unknown>) =>
    fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openclaw', ...body }),
    })

  it('refuses to start without a Redis URL, and says where to set it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gcc-redis-'))
    try {
      const path = join(dir, 'config.json5')
      writeFileSync(path, JSON.stringify(config()))
      const env = { ...process.env }
      delete env.OPENCLAW_REDIS_URL
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', path, '--port', '0'],
        { env, encoding: 'utf8', timeout: 30_000 }
      )
      assert.equal(run.status, 2, run.stderr)
      assert.match(run.stderr, /gateway\.store\.url: .*OPENCLAW_REDIS_URL/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('locks a client out on both servers after failed logins through either', async () => {
    const [a, b] = await pair(STRICT)
    for (const gateway of [a, b, a]) {
      const res = await chat(gateway, 'hi', { token: 'wrong' })
      assert.equal(res.status, 401, await res.text())
    }
    for (const gateway of [b, a]) {
      const res = await chat(gateway, 'hi')
      assert.equal(res.status, 429, await res.text())
      assert.ok(Number(res.headers.get('retry-after')) > 0)
    }
  })

  it('never overlaps two turns of one session, one through each server', async () => {
    const [a, b] = await pair()
    const log: string[] = []
    const leave = new AbortController()
    // The first turn holds the session, saying nothing, until its client leaves.
    const first = chat(a, '/stall 60000 one', { session: 'shared', signal: leave.signal })
    await until(async () => (await raw.exists(lockKey('shared'))) === 1)
    const second = chat(b, 'two', { session: 'shared' }).then((res) =>
      readStream(res, 'second', log)
    )
    // The second waits in line, and says nothing, while the first runs.
    await until(async () => (await lineOf('shared')) === 1)
    assert.deepEqual(log, [])
    log.push('first ended')
    leave.abort()
    await assert.rejects(first.then((res) => res.text()))
    await second
    assert.equal(log[0], 'first ended')
    assert.equal(log[1], 'second content')
    assert.equal(log.at(-1), 'second done')
  })

  it('continues on one server a previous_response_id made on the other', async () => {
    const [a, b] = await pair()
    const first = await responses(a, { input: 'one' })
    assert.equal(first.status, 200, await first.clone().text())
    const { id } = await first.json()
    const second = await responses(b, { input: 'two', previous_response_id: id })
    assert.equal(second.status, 200, await second.clone().text())
    assert.equal(
      second.headers.get('x-openclaw-session-key'),
      first.headers.get('x-openclaw-session-key')
    )
    const stored = await fetch(`${b.url}/v1/responses/${id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    assert.equal(stored.status, 200)
    assert.equal((await stored.json()).id, id)
  })

  it('frees the session of a server killed mid-turn once its lease runs out', async () => {
    const [a, b] = await pair()
    const dying = chat(a, '/stall 60000 never answered', { session: 'orphan' })
    await until(async () => (await raw.exists(lockKey('orphan'))) === 1)
    const next = chat(b, 'after the crash', { session: 'orphan' })
    await until(async () => (await lineOf('orphan')) === 1)
    await a.kill()
    await assert.rejects(dying.then((res) => res.text()))
    const log: string[] = []
    await readStream(await next, 'next', log)
    assert.equal(log.at(-1), 'next done')
  })

  it('answers 503 while Redis is down (auth limits fail closed), and recovers when it returns', async () => {
    const [strict] = await pair(STRICT)
    const [exempt] = await pair()
    await redis.stop()
    await Promise.all([
      strict.logged('Redis is unreachable'),
      exempt.logged('Redis is unreachable'),
    ])

    const unavailable = async (res: Response) => {
      assert.equal(res.headers.get('retry-after'), '1')
      await assertError(res, 503, {
        code: 'store_unavailable',
        message: 'The shared state store is unavailable; try again shortly.',
      })
    }
    // The lockout cannot be checked: refused, even with the right token.
    await unavailable(await chat(strict, 'hi', { stream: false }))
    // Exempt from the lockout, the turn cannot take its session's lock.
    await unavailable(await chat(exempt, 'hi', { session: 'down', stream: false }))
    await unavailable(
      await fetch(`${exempt.url}/v1/responses/resp_1`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
    )
    // A stream has begun when the turn asks for its lock: the error comes as its last event.
    const streamed = await (await chat(exempt, 'hi', { session: 'down' })).text()
    const events = sseData(streamed)
    assert.equal(events.at(-1), '[DONE]')
    assert.equal(JSON.parse(events.at(-2)!).error.code, 'store_unavailable')

    await redis.start()
    await Promise.all([
      strict.logged('Redis is reachable again'),
      exempt.logged('Redis is reachable again'),
    ])
    for (const gateway of [strict, exempt]) {
      const log: string[] = []
      await readStream(await chat(gateway, 'back', { session: 'down' }), 'back', log)
      assert.equal(log.at(-1), 'back done')
    }
    assert.equal((await responses(exempt, { input: 'hi' })).status, 200)
  })
})
