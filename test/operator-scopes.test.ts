import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent } from '../src/index.ts'
import {
  assertError,
  probeBackend,
  startBareServer,
  TOKEN,
  userMessage,
  type TestServer,
} from './helpers.ts'

const answer = async function* (): AsyncIterable<AgentEvent> {
  yield { type: 'done', text: 'ok' }
}

const missing = (scope: string) => ({
  message: `missing scope: ${scope}`,
  type: 'permission_error',
  code: 'missing_scope',
  param: null,
})

/** A server in `mode`, a probe backend, and requests that carry `x-openclaw-scopes` or not. */
const scoped = (auth: Record<string, unknown>, env: Record<string, string> = {}) => {
  const probe = probeBackend(answer)
  const state = { server: undefined as unknown as TestServer }
  before(async () => {
    state.server = await startBareServer({
      config: {
        gateway: { auth, http: { endpoints: { chatCompletions: { enabled: true } } } },
        agents: { list: [{ id: 'main' }] },
      },
      env,
      backend: probe.backend,
    })
  })
  after(() => state.server.close())

  const headersFor = (scopes: string | undefined, extra: Record<string, string>) => {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...extra }
    if (scopes !== undefined) headers['x-openclaw-scopes'] = scopes
    return headers
  }
  const chat = (scopes?: string, extra: Record<string, string> = {}, body?: string) => {
    probe.inputs.length = 0
    return fetch(`${state.server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headersFor(scopes, extra) },
      body: body ?? JSON.stringify(userMessage('hi')),
    })
  }
  const get = (path: string, scopes?: string) =>
    fetch(`${state.server.url}${path}`, { headers: headersFor(scopes, {}) })

  /** A chat turn that must run; returns whether it ran as the owner. */
  const owner = async (scopes?: string, extra: Record<string, string> = {}) => {
    const res = await chat(scopes, extra)
    assert.equal(res.status, 200, await res.text())
    assert.equal(probe.inputs.length, 1)
    return probe.inputs[0].senderIsOwner
  }
  /** A chat request that must be refused with 403 before the agent runs. */
  const forbidden = async (scopes: string, scope: string, extra: Record<string, string> = {}) => {
    await assertError(await chat(scopes, extra), 403, missing(scope))
    assert.equal(probe.inputs.length, 0, 'the agent must not run')
  }
  return { chat, get, owner, forbidden, url: () => state.server.url }
}

describe('operator scopes', () => {
  for (const [mode, auth] of [
    ['token', { mode: 'token', token: TOKEN }],
    ['password', { mode: 'password', password: TOKEN }],
  ] as const) {
    describe(`under ${mode} auth (a shared secret: every scope, whatever is declared)`, () => {
      const { get, owner } = scoped(auth)

      it('runs turns as the owner, even when the caller declares narrower scopes', async () => {
        assert.equal(await owner(), true)
        assert.equal(await owner('operator.approvals'), true)
        assert.equal(await owner(''), true)
      })

      it('serves the model list and the model override', async () => {
        assert.equal((await get('/v1/models', '')).status, 200)
        assert.equal((await get('/v1/models/openclaw', 'operator.write')).status, 200)
        assert.equal(await owner('operator.write', { 'x-openclaw-model': 'openai/gpt-5.4' }), true)
      })
    })
  }

  describe('under none auth (scopes as declared in x-openclaw-scopes)', () => {
    const { chat, get, owner, forbidden, url } = scoped({ mode: 'none' })

    it('without the header: every scope, so owner turns and every route', async () => {
      assert.equal(await owner(), true)
      assert.equal((await get('/v1/models')).status, 200)
      assert.equal(await owner(undefined, { 'x-openclaw-model': 'openai/gpt-5.4' }), true)
    })

    it('operator.write runs turns, not as the owner, and may list models', async () => {
      assert.equal(await owner('operator.write'), false)
      assert.equal((await get('/v1/models', 'operator.write')).status, 200)
      assert.equal((await get('/v1/models/openclaw%2Fmain', 'operator.write')).status, 200)
    })

    it('operator.admin covers everything and makes the turn the owner', async () => {
      assert.equal(await owner('operator.admin'), true)
      assert.equal(await owner(' operator.admin , ,'), true, 'trimmed, blanks dropped')
      assert.equal((await get('/v1/models', 'operator.admin')).status, 200)
    })

    it('x-openclaw-model needs operator.admin', async () => {
      await forbidden('operator.write', 'operator.admin', { 'x-openclaw-model': 'openai/gpt-5.4' })
      await forbidden('operator.read,operator.write', 'operator.admin', {
        'x-openclaw-model': 'gpt-5.4',
      })
      // A blank override asks for nothing.
      assert.equal(await owner('operator.write', { 'x-openclaw-model': ' ' }), false)
    })

    it('chat needs operator.write (or operator.sessions.write)', async () => {
      await forbidden('operator.read', 'operator.write')
      await forbidden('operator.approvals,operator.pairing', 'operator.write')
      assert.equal(await owner('operator.sessions.write'), false)
    })

    it('the model list needs operator.read (write implies it; sessions.write does not)', async () => {
      for (const path of ['/v1/models', '/v1/models/openclaw']) {
        await assertError(await get(path, 'operator.sessions.write'), 403, missing('operator.read'))
        await assertError(await get(path, 'operator.talk'), 403, missing('operator.read'))
        assert.equal((await get(path, 'operator.read')).status, 200)
      }
    })

    it('a present but empty header means no scopes at all', async () => {
      await forbidden('', 'operator.write')
      await forbidden(' , ', 'operator.write')
      await assertError(await get('/v1/models', ''), 403, missing('operator.read'))
    })

    it('compares scope names as sent', async () => {
      await forbidden('OPERATOR.WRITE', 'operator.write')
    })

    it('refuses a missing scope before reading the body, and after the method check', async () => {
      await assertError(
        await chat('operator.read', {}, '{not json'),
        403,
        missing('operator.write')
      )
      const res = await fetch(`${url()}/v1/models`, {
        method: 'POST',
        headers: { 'x-openclaw-scopes': '' },
      })
      await assertError(res, 405)
    })

    it('refuses a page from a foreign browser origin, and lets a loopback page in', async () => {
      const res = await chat(undefined, { origin: 'https://evil.example' })
      await assertError(res, 401, { message: /origin 'https:\/\/evil\.example' is not allowed/ })
      assert.equal(await owner(undefined, { origin: 'http://localhost:3000' }), true)
      assert.equal(await owner(undefined, { origin: 'http://127.0.0.1:8080' }), true)
      await assertError(await chat(undefined, { origin: 'null' }), 401)
    })
  })

  describe('under none auth with CORS origins', () => {
    const probe = probeBackend(answer)
    let server: TestServer
    before(async () => {
      server = await startBareServer({
        config: {
          gateway: {
            auth: { mode: 'none' },
            http: {
              endpoints: { chatCompletions: { enabled: true } },
              cors: { allowedOrigins: ['https://app.example.com'] },
            },
          },
        },
        backend: probe.backend,
      })
    })
    after(() => server.close())

    it('lets listed origins in, and no others', async () => {
      const send = (origin: string) =>
        fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { origin, 'content-type': 'application/json' },
          body: JSON.stringify(userMessage('hi')),
        })
      assert.equal((await send('https://app.example.com')).status, 200)
      await assertError(await send('https://other.example.com'), 401)
    })
  })
})
