/**
 * The Durable Objects store under Miniflare: the worker bundle as two instances (two workers,
 * each its own isolate, as two machines of the edge would be) bound to the same Durable Object
 * namespaces, as wrangler.toml declares them. What one instance does, the other sees: a lockout,
 * a session's turn lock (freed at once when its client leaves), a stored response. Then the
 * store itself, driven from this process through Miniflare's bindings: leases, giving up a
 * place, expiry.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { Miniflare, type Response as MiniflareResponse } from 'miniflare'
import type { Store } from '../src/core/store.ts'
import { send, type DurableNamespace } from '../src/runtimes/durable-protocol.ts'
import { DURABLE_BINDINGS, durableStore } from '../src/runtimes/durable-store.ts'
import { sseChunks, waitFor, within } from '../test/helpers.ts'

// Bundled by `npm run build:worker` (test:runtimes does it first), exactly as wrangler deploys it.
const SCRIPT = 'build/worker/worker.js'
const TOKEN = 'durable-token'
/** API keys with limits: `rpm` and `concurrency` are counted in the key's object. */
const RPM_KEY = 'ocg_durable-rpm-key'
const BUSY_KEY = 'ocg_durable-busy-key'
const sha256 = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`

const toml = readFileSync('wrangler.toml', 'utf8')
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)![1]
const compatibilityFlags = JSON.parse(/^compatibility_flags\s*=\s*(\[.*\])/m.exec(toml)![1])

/** wrangler.toml's Durable Object bindings: binding name → class name. */
const declaredObjects = () => {
  const objects: Record<string, string> = {}
  for (const [, body] of toml.matchAll(
    /^\[\[durable_objects\.bindings\]\]\n((?:\w+ = .*\n?)+)/gm
  )) {
    const name = /^name = "([^"]+)"/m.exec(body)![1]
    objects[name] = /^class_name = "([^"]+)"/m.exec(body)![1]
  }
  return objects
}

/** The pieces of content of a chat stream, as they arrive. */
async function* contents(res: MiniflareResponse): AsyncGenerator<string> {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return
    buffered += decoder.decode(value, { stream: true })
    const end = buffered.lastIndexOf('\n\n')
    if (end === -1) continue
    for (const chunk of sseChunks(buffered.slice(0, end + 2))) {
      const content = chunk.choices[0]?.delta?.content
      if (content) yield content
    }
    buffered = buffered.slice(end + 2)
  }
}

/** The first worker's own objects; the second's bindings point at the first's classes. */
const durableObjects = (scriptName?: string) =>
  Object.fromEntries(
    Object.entries(declaredObjects()).map(([binding, className]) => [
      binding,
      { className, scriptName, useSQLite: true },
    ])
  )

const worker = (name: string, scriptName?: string) => ({
  name,
  modules: true,
  scriptPath: SCRIPT,
  compatibilityDate,
  compatibilityFlags,
  routes: [`${name}.test/*`],
  durableObjects: durableObjects(scriptName),
  bindings: {
    OPENCLAW_CHAT_COMPLETIONS_ENABLED: 'true',
    OPENCLAW_RESPONSES_ENABLED: 'true',
    OPENCLAW_AUTH_MODE: 'token',
    OPENCLAW_AGENTS: 'main',
    // Slow enough that a second turn started during the first would interleave with it.
    OPENCLAW_BACKEND: '{"type": "echo", "chunkChars": 4, "delayMs": 20}',
    OPENCLAW_GATEWAY_TOKEN: TOKEN,
    OPENCLAW_CONFIG: JSON.stringify({
      gateway: {
        // A lock or slot its holder failed to release blocks the next one for ten minutes, not
        // the default 30 s: long past any test's bound, so a release that went missing fails.
        store: { type: 'durable-objects', leaseMs: 600_000 },
        auth: {
          rateLimit: { maxAttempts: 3, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false },
        },
        http: {
          apiKeys: [
            { id: 'rpm', hash: sha256(RPM_KEY), agents: ['*'], rpm: 2 },
            { id: 'busy', hash: sha256(BUSY_KEY), agents: ['*'], concurrency: 1 },
          ],
        },
      },
    }),
  },
})

describe('Durable Objects: two worker instances sharing the store', () => {
  let mf: Miniflare
  /** A request to one of the two instances (`one` or `two`), as a client from `ip`. */
  const request = (
    instance: 'one' | 'two',
    path: string,
    {
      body,
      method = body === undefined ? 'GET' : 'POST',
      ip = '198.51.100.1',
      token = TOKEN,
      headers = {} as Record<string, string>,
      signal,
    }: {
      body?: unknown
      method?: string
      ip?: string
      token?: string
      headers?: Record<string, string>
      /** Aborted: the client leaves (its connection closes). */
      signal?: AbortSignal
    } = {}
  ) =>
    mf.dispatchFetch(`http://${instance}.test${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        'cf-connecting-ip': ip,
        'content-type': 'application/json',
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    })

  before(async () => {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run npm run build:worker`)
    mf = new Miniflare({ workers: [worker('one'), worker('two', 'one')] })
    await mf.ready
  })
  after(() => mf?.dispose())

  it('locks a client out on one instance after its failed logins on the other', async () => {
    const ip = '203.0.113.7'
    const ask = (instance: 'one' | 'two', client: string, token?: string) =>
      request(instance, '/v1/chat/completions', {
        body: { messages: [{ role: 'user', content: 'hi' }] },
        ip: client,
        token,
      })
    for (let i = 0; i < 3; i++) {
      const res = await ask('one', ip, 'wrong')
      assert.equal(res.status, 401, await res.text())
    }
    const locked = await ask('two', ip)
    assert.equal(locked.status, 429, await locked.text())
    assert.ok(Number(locked.headers.get('retry-after')) > 0)
    const models = await request('two', '/v1/models', { ip })
    assert.equal(models.status, 429, await models.text())
    // Another client is let in.
    const other = await ask('two', '203.0.113.8')
    assert.equal(other.status, 200, await other.text())
  })

  it('runs two turns of one session, one through each instance, one after the other', async () => {
    const log: string[] = []
    /** Reads a chat stream, logging `<who> text` for each piece of content and `<who> done`. */
    const follow = async (who: string, res: MiniflareResponse, onFirst?: () => void) => {
      assert.equal(res.status, 200)
      let first = true
      for await (const _ of contents(res)) {
        log.push(`${who} text`)
        if (first) onFirst?.()
        first = false
      }
      log.push(`${who} done`)
    }
    const turn = (instance: 'one' | 'two', content: string) =>
      request(instance, '/v1/chat/completions', {
        body: { stream: true, messages: [{ role: 'user', content }] },
        headers: { 'x-openclaw-session-key': 'durable-objects-e2e' },
      })

    // A's answer takes 40 chunks, 20 ms apart; B is sent as soon as A's first one is here.
    let second: Promise<void> | undefined
    await follow('A', await turn('one', 'a'.repeat(160)), () => {
      log.push('B sent')
      second = turn('two', 'b'.repeat(16)).then((res) => follow('B', res))
    })
    // A's lock not released would hold B for the whole (ten-minute) lease: a failure, not a hang.
    await within(second!, "B's turn after A's")

    const firstB = log.indexOf('B text')
    assert.ok(log.indexOf('B sent') < log.lastIndexOf('A text'), log.join(', '))
    assert.ok(firstB > log.lastIndexOf('A text'), `B's turn overlapped A's: ${log.join(', ')}`)
    assert.equal(log.at(-1), 'B done')
  })

  it('frees the session at once when its client leaves mid-turn', async () => {
    const log: string[] = []
    const turn = (instance: 'one' | 'two', content: string, signal?: AbortSignal) =>
      request(instance, '/v1/chat/completions', {
        body: { stream: true, messages: [{ role: 'user', content }] },
        headers: { 'x-openclaw-session-key': 'durable-objects-leaving' },
        signal,
      })

    // A's answer would take 1000 chunks, 20 ms apart: a run the client's leaving did not stop
    // would hold the lock long past the bound below too, not only a release that went missing.
    const leaving = new AbortController()
    const a = await turn('one', 'a'.repeat(4000), leaving.signal)
    assert.equal(a.status, 200)
    const aText = contents(a)
    assert.equal((await aText.next()).done, false)
    log.push('A text')

    // B's headers go out before its turn asks for the lock: from here it waits for A's.
    const b = await turn('two', 'b'.repeat(16))
    assert.equal(b.status, 200)
    log.push('B answered')
    const second = (async () => {
      for await (const _ of contents(b)) log.push('B text')
      log.push('B done')
    })()
    // Ten more of A's chunks while B waits (A's stream is the clock, as in the test above).
    for (let i = 0; i < 10; i++) {
      assert.equal((await aText.next()).done, false)
      log.push('A text')
    }
    log.push('A left')
    leaving.abort()

    // The lease is ten minutes: B runs within the bound only if A's lock was released.
    await within(second, "B's turn after A's client left")
    assert.ok(log.indexOf('B text') > log.indexOf('A left'), `B ran during A: ${log.join(', ')}`)
    assert.equal(log.at(-1), 'B done')
  })

  it("counts an API key's requests and answers in progress on both instances", async () => {
    const ask = (instance: 'one' | 'two', token: string, stream = false) =>
      request(instance, '/v1/chat/completions', {
        body: { stream, messages: [{ role: 'user', content: 'c'.repeat(160) }] },
        token,
      })
    for (const [instance, remaining] of [
      ['one', '1'],
      ['two', '0'],
    ] as const) {
      const res = await ask(instance, RPM_KEY)
      assert.equal(res.status, 200, await res.text())
      assert.equal(res.headers.get('x-ratelimit-remaining-requests'), remaining)
    }
    const over = await ask('one', RPM_KEY)
    assert.equal(over.status, 429, await over.text())
    assert.equal(over.headers.get('x-ratelimit-limit-requests'), '2')

    // The key's one slot is taken by a stream on one instance while the other is asked.
    const streaming = await ask('one', BUSY_KEY, true)
    assert.equal(streaming.status, 200)
    const reader = streaming.body!.getReader()
    await reader.read()
    const busy = await ask('two', BUSY_KEY)
    assert.equal(busy.status, 429, await busy.text())
    while (!(await reader.read()).done);
  })

  it('continues on one instance a response stored by the other', async () => {
    const first = await request('one', '/v1/responses', {
      body: { model: 'openclaw', input: 'the first question' },
    })
    const made = (await first.json()) as { id: string; output: { id: string }[] }
    assert.equal(first.status, 200, JSON.stringify(made))

    const seen = await request('two', `/v1/responses/${made.id}`)
    assert.equal(seen.status, 200, await seen.text())

    // The first response's session: a lock it left behind would hold this one for the lease.
    const next = await within(
      request('two', '/v1/responses', {
        body: { model: 'openclaw', input: 'the second one', previous_response_id: made.id },
      }),
      'the next turn of the session'
    )
    const continued = (await next.json()) as { previous_response_id: string }
    assert.equal(next.status, 200, JSON.stringify(continued))
    assert.equal(continued.previous_response_id, made.id)
    const unknown = await request('two', '/v1/responses', {
      body: { model: 'openclaw', input: 'hello', previous_response_id: 'resp_unknown' },
    })
    assert.equal(unknown.status, 400, 'an id that was never stored is not found')

    // An output item of the first response, found by its own id through the item index.
    const referenced = await request('two', '/v1/responses', {
      body: {
        model: 'openclaw',
        input: [
          { type: 'item_reference', id: made.output[0].id },
          { role: 'user', content: 'and again' },
        ],
      },
    })
    assert.equal(referenced.status, 200, await referenced.text())

    const deleted = await request('one', `/v1/responses/${made.id}`, { method: 'DELETE' })
    assert.equal(deleted.status, 200, await deleted.text())
    const gone = await request('two', `/v1/responses/${made.id}`)
    assert.equal(gone.status, 404, await gone.text())
  })
})

describe("the Durable Objects store, driven through Miniflare's bindings", () => {
  let mf: Miniflare
  let env: Record<string, DurableNamespace>
  /** A store as one isolate makes it; several stand for several isolates. */
  const store = (options: Partial<Parameters<typeof durableStore>[1]> = {}) =>
    durableStore(env, { responseTtlMs: 60_000, logger: { warn() {} }, ...options })
  const never = new AbortController().signal

  before(async () => {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run npm run build:worker`)
    mf = new Miniflare({
      modules: true,
      scriptPath: SCRIPT,
      compatibilityDate,
      compatibilityFlags,
      durableObjects: durableObjects(),
    })
    env = {}
    for (const name of Object.values(DURABLE_BINDINGS)) {
      env[name] = (await mf.getDurableObjectNamespace(name)) as unknown as DurableNamespace
    }
  })
  after(() => mf?.dispose())

  it('hands a lock whose holder stopped renewing to the next waiter when its lease ends', async () => {
    // A holder that died: it took the lock for a short lease and never renews it.
    const res = await send(env[DURABLE_BINDINGS.sessions], 'dead-holder', 'acquire', {
      ticket: 'dead',
      leaseMs: 300,
    })
    assert.deepEqual(await res.json(), { held: true })
    const release = await within(
      Promise.resolve(store().lockSession('dead-holder', never)),
      'the lease to end'
    )
    release()
  })

  it('keeps a lock past its lease while its holder renews it', async () => {
    let renewals = 0
    const sessions = env[DURABLE_BINDINGS.sessions]
    const counting: DurableNamespace = {
      idFromName: (name) => sessions.idFromName(name),
      get: (id) => ({
        fetch: async (url, init) => {
          const res = await sessions.get(id).fetch(url, init)
          if (url.endsWith('/renew')) renewals++
          return res
        },
      }),
    }
    const holder = durableStore(
      { ...env, [DURABLE_BINDINGS.sessions]: counting },
      { responseTtlMs: 60_000, leaseMs: 600 }
    )
    const release = await holder.lockSession('renewed', never)
    let granted = false
    const next = Promise.resolve(store().lockSession('renewed', never))
    void next.then(() => (granted = true))
    // Renewed every 200 ms: six renewals span two leases, and the waiter still waits.
    await waitFor(() => renewals >= 6, 'six renewals', 20_000)
    assert.equal(granted, false, 'the lock passed on while its holder still renewed it')
    release()
    ;(await within(next, 'the lock after its release'))()
  })

  it('gives up the place of a waiter whose signal aborts', async () => {
    const s = store()
    const release = await s.lockSession('give-up', never)
    const leaving = new AbortController()
    const waiting = Promise.resolve(s.lockSession('give-up', leaving.signal))
    const reason = new Error('client left')
    leaving.abort(reason)
    await assert.rejects(waiting, (err: unknown) => err === reason)
    release()
    ;(
      await within(
        Promise.resolve(store().lockSession('give-up', never)),
        'the lock after its release'
      )
    )()
  })

  it('counts hits and concurrency slots of a key across isolates', async () => {
    const [a, b] = [store(), store()]
    assert.deepEqual(
      [await a.hit('key-1', 2, 60_000), await b.hit('key-1', 2, 60_000)].map((r) => r.remaining),
      [1, 0]
    )
    const refused = await a.hit('key-1', 2, 60_000)
    assert.equal(refused.allowed, false)
    assert.ok(refused.resetMs > 0 && refused.resetMs <= 60_000)

    const slot = await a.slot('key-1', 1)
    assert.ok(slot)
    assert.equal(await b.slot('key-1', 1), undefined)
    slot()
    slot()
    const again = await b.slot('key-1', 1)
    assert.ok(again, 'a released slot is free for another isolate')
    again()
  })

  it("clears a client's failures when it succeeds", async () => {
    const [a, b] = [store(), store()]
    const rule = { maxAttempts: 3, windowMs: 60_000, lockoutMs: 60_000 }
    assert.equal(await a.failed('192.0.2.1', rule), false)
    assert.equal(await a.failed('192.0.2.1', rule), false)
    assert.equal(await b.lockedFor('192.0.2.1'), 0)
    await b.succeeded('192.0.2.1')
    assert.equal(await a.failed('192.0.2.1', rule), false)
    assert.equal(await a.failed('192.0.2.1', rule), false)
    assert.equal(await b.failed('192.0.2.1', rule), true)
    assert.ok((await a.lockedFor('192.0.2.1')) > 0)
  })

  const stored = (id: string, text = 'hi') => ({
    response: { id, output: [{ id: `msg_${id}`, type: 'message', text }] },
    input: [],
    subject: 'someone',
    agentId: 'main',
    sessionKey: 'agent:main:test',
  })

  it('keeps a response larger than one storage entry, and finds its items', async () => {
    const value = stored('resp_large', 'x'.repeat(300_000))
    await store().responses.put('resp_large', value)
    assert.deepEqual(await store().responses.get('resp_large'), value)
    const found = await store().responses.item('msg_resp_large')
    assert.equal(found?.owner.response.id, 'resp_large')
    assert.equal(await store().responses.delete('resp_large'), true)
    assert.equal(await store().responses.delete('resp_large'), false)
    assert.equal(await store().responses.item('msg_resp_large'), undefined)
  })

  it('forgets a response when its time is up', async () => {
    const expiring = store({ responseTtlMs: 0 })
    await expiring.responses.put('resp_gone', stored('resp_gone'))
    assert.equal(await expiring.responses.get('resp_gone'), undefined)
    assert.equal(await expiring.responses.item('msg_resp_gone'), undefined)
    assert.equal(await expiring.responses.delete('resp_gone'), false)
  })
})
