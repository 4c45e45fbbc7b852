import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import worker from '../src/runtimes/worker.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

// The worker entry is Web-standard, so its handler can be called as workerd calls it.
const call = (env: Record<string, unknown>, path = '/v1/models', token = 'secret') =>
  worker.fetch(
    new Request(`http://worker${path}`, { headers: { authorization: `Bearer ${token}` } }),
    env,
    {}
  )

const base = {
  OPENCLAW_CHAT_COMPLETIONS_ENABLED: 'true',
  OPENCLAW_AUTH_MODE: 'token',
  OPENCLAW_GATEWAY_TOKEN: 'secret',
  OPENCLAW_AGENTS: 'main,beta',
}

describe('the Workers entry reads its config from bindings', () => {
  it('serves the agents named in OPENCLAW_AGENTS behind the token secret', async () => {
    const res = await call({ ...base })
    assert.equal(res.status, 200)
    const ids = (await res.json()).data.map((m: { id: string }) => m.id)
    assert.deepEqual(ids, ['openclaw', 'openclaw/default', 'openclaw/main', 'openclaw/beta'])
    assert.equal((await call({ ...base }, '/v1/models', 'wrong')).status, 401)
  })

  it('keeps the endpoint off unless OPENCLAW_CHAT_COMPLETIONS_ENABLED is "true"', async () => {
    const res = await call({ ...base, OPENCLAW_CHAT_COMPLETIONS_ENABLED: 'false' })
    assert.equal(res.status, 404)
  })

  it('turns the Responses endpoint on with OPENCLAW_RESPONSES_ENABLED', async () => {
    const env = { ...base, OPENCLAW_RESPONSES_ENABLED: 'true' }
    const res = await worker.fetch(
      new Request('http://worker/v1/responses', {
        method: 'POST',
        headers: { authorization: 'Bearer secret' },
        body: JSON.stringify({ input: 'hi from a worker' }),
      }),
      env,
      {}
    )
    assert.equal(res.status, 200)
    assert.equal((await res.json()).output[0].content[0].text, 'hi from a worker')
    const off = await call({ ...base, OPENCLAW_RESPONSES_ENABLED: 'no' }, '/v1/responses/resp_x')
    assert.equal(off.status, 404)
    assert.match((await off.json()).error.message, /responses\.enabled: true/)
  })

  it('lets the separate bindings win over OPENCLAW_CONFIG', async () => {
    const config = { agents: { list: [{ id: 'other' }] }, gateway: { auth: { mode: 'none' } } }
    const res = await call({ ...base, OPENCLAW_CONFIG: JSON.stringify(config) }, '/v1/models', 'x')
    assert.equal(res.status, 401, 'OPENCLAW_AUTH_MODE=token wins over the config’s none')
    const ok = await call({ ...base, OPENCLAW_CONFIG: JSON.stringify(config) })
    assert.ok((await ok.json()).data.some((m: { id: string }) => m.id === 'openclaw/beta'))
  })

  it('answers 500 naming the key when a binding is wrong, without the secret', async () => {
    const res = await call({ ...base, OPENCLAW_AUTH_MODE: 'sometimes' })
    assert.equal(res.status, 500)
    const { error } = await res.json()
    assert.match(error.message, /gateway\.auth\.mode/)
    assert.doesNotMatch(error.message, /secret/)
  })

  it('refuses to start without the token secret, saying how to set it', async () => {
    const { OPENCLAW_GATEWAY_TOKEN: _, ...noToken } = base
    const res = await call(noToken)
    assert.equal(res.status, 500)
    assert.equal(
      (await res.json()).error.message,
      'The gateway is misconfigured: the secret OPENCLAW_GATEWAY_TOKEN is not set ' +
        '(`npx wrangler secret put OPENCLAW_GATEWAY_TOKEN`).'
    )
    const password = await call({ ...noToken, OPENCLAW_AUTH_MODE: 'password' })
    assert.match(
      (await password.json()).error.message,
      /wrangler secret put OPENCLAW_GATEWAY_PASSWORD/
    )
  })

  it('names every bad key of OPENCLAW_CONFIG in the answer, and no value', async () => {
    const config = { gateway: { auth: { tokne: 'hunter2' }, http: { cors: { origins: [] } } } }
    const res = await call({ ...base, OPENCLAW_CONFIG: JSON.stringify(config) })
    assert.equal(res.status, 500)
    assert.equal(
      (await res.json()).error.message,
      'The gateway is misconfigured: see gateway.auth.tokne, gateway.http.cors.origins in the logs.'
    )
  })

  describe('in local development (npm run dev:worker)', () => {
    const { OPENCLAW_GATEWAY_TOKEN: _, ...noSecret } = base
    const dev = { ...noSecret, OPENCLAW_DEV_TOKEN: 'local-dev-token' }
    const at = (url: string, env: Record<string, unknown>, token = 'local-dev-token') =>
      worker.fetch(new Request(url, { headers: { authorization: `Bearer ${token}` } }), env, {})

    it('serves loopback requests with the development token when no secret is set', async () => {
      for (const origin of [
        'http://127.0.0.1:8793',
        'http://localhost:8793',
        'http://[::1]:8793',
      ]) {
        const res = await at(`${origin}/v1/models`, { ...dev })
        assert.equal(res.status, 200, origin)
        await res.body?.cancel()
      }
      const wrong = await at('http://127.0.0.1:8793/v1/models', { ...dev }, 'guess')
      assert.equal(wrong.status, 401)
      await wrong.body?.cancel()
    })

    it('never serves it on a deployed worker, whose URL is the zone’s', async () => {
      const res = await at('https://gcc.example.workers.dev/v1/models', { ...dev })
      assert.equal(res.status, 500)
      assert.match((await res.json()).error.message, /wrangler secret put OPENCLAW_GATEWAY_TOKEN/)
    })

    it('gives way to a real secret (.dev.vars, or wrangler secret put)', async () => {
      const env = { ...dev, OPENCLAW_GATEWAY_TOKEN: 'mine' }
      assert.equal((await at('http://127.0.0.1:8793/v1/models', env)).status, 401)
      const res = await at('https://gcc.example.workers.dev/v1/models', { ...env }, 'mine')
      assert.equal(res.status, 200)
      await res.body?.cancel()
    })

    it('comes only from the dev:worker script, never from wrangler.toml', () => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
      assert.match(pkg.scripts['dev:worker'], / --var OPENCLAW_DEV_TOKEN:local-dev-token(\s|$)/)
      assert.doesNotMatch(pkg.scripts['build:worker'], /OPENCLAW_DEV_TOKEN/)
      const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')
      const settings = toml.replace(/#.*$/gm, '')
      assert.doesNotMatch(settings, /OPENCLAW_DEV_TOKEN|OPENCLAW_GATEWAY_(TOKEN|PASSWORD)/)
      // wrangler dev must keep listening on loopback only.
      assert.match(settings, /\[dev\]\s*ip = "127\.0\.0\.1"/)
    })
  })

  it('takes the backend section from OPENCLAW_BACKEND', async () => {
    const env = { ...base, OPENCLAW_BACKEND: '{"type": "echo", "chunkChars": 2}' }
    const res = await worker.fetch(
      new Request('http://worker/v1/chat/completions', {
        method: 'POST',
        headers: { authorization: 'Bearer secret' },
        body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'abcd' }] }),
      }),
      env,
      {}
    )
    const deltas = (await res.text()).match(/"content":"[a-z]+"/g)
    assert.deepEqual(deltas, ['"content":"ab"', '"content":"cd"'])
  })
})
