import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import worker from '../src/runtimes/worker.ts'

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

  it('refuses to start without the token secret in token mode', async () => {
    const { OPENCLAW_GATEWAY_TOKEN: _, ...noToken } = base
    const res = await call(noToken)
    assert.equal(res.status, 500)
    assert.match((await res.json()).error.message, /gateway\.auth\.token/)
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
