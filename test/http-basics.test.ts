import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent } from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  sseData,
  startBareServer,
  startServer,
  TOKEN,
  userMessage,
  type TestServer,
} from './helpers.ts'

const auth = { authorization: `Bearer ${TOKEN}` }

const request = (
  server: TestServer,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {}
) => fetch(`${server.url}${path}`, init)

const modelEntry = (id: string) => ({
  id,
  object: 'model',
  created: 0,
  owned_by: 'openclaw',
  permission: [],
})

const DISABLED_MESSAGE = /gateway\.http\.endpoints\.chatCompletions\.enabled/

const GENERATED_ID = /^[A-Za-z0-9_=-]{1,255}$/

const answer = async function* (): AsyncIterable<AgentEvent> {
  yield { type: 'done', text: 'ok' }
}

describe('HTTP basics', () => {
  describe('when the endpoint is not enabled', () => {
    let byDefault: TestServer
    let explicitly: TestServer
    before(async () => {
      byDefault = await startBareServer({ config: { gateway: { auth: { token: TOKEN } } } })
      explicitly = await startServer({
        config: { gateway: { http: { endpoints: { chatCompletions: { enabled: false } } } } },
      })
    })
    after(() => Promise.all([byDefault.close(), explicitly.close()]))

    it('answers the chat route with 404 and a message that says how to enable it', async () => {
      for (const server of [byDefault, explicitly]) {
        const res = await chat(server, userMessage('hi'))
        await assertError(res, 404, { message: DISABLED_MESSAGE })
      }
    })

    it('answers 404 before checking the method or the token', async () => {
      for (const server of [byDefault, explicitly]) {
        await assertError(await request(server, '/v1/chat/completions'), 404, {
          message: DISABLED_MESSAGE,
        })
        await assertError(await request(server, '/v1/chat/completions', { method: 'POST' }), 404, {
          message: DISABLED_MESSAGE,
        })
      }
    })

    it('answers the models routes with the same 404', async () => {
      for (const server of [byDefault, explicitly]) {
        for (const path of ['/v1/models', '/v1/models/openclaw', '/v1/models/openclaw%2Fmain']) {
          await assertError(await request(server, path, { headers: auth }), 404, {
            message: DISABLED_MESSAGE,
          })
        }
      }
    })

    it('still answers /health', async () => {
      for (const server of [byDefault, explicitly]) {
        const res = await request(server, '/health')
        assert.equal(res.status, 200)
        assert.deepEqual(await res.json(), { status: 'ok' })
      }
    })
  })

  describe('methods, paths and /health', () => {
    let server: TestServer
    const probe = probeBackend(answer)
    before(async () => {
      server = await startServer({ backend: probe.backend })
    })
    after(() => server.close())

    it('answers other methods on the chat route with 405 and Allow: POST, before auth', async () => {
      for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const res = await request(server, '/v1/chat/completions', { method })
        assert.equal(res.headers.get('allow'), 'POST', method)
        await assertError(res, 405, { param: null })
      }
      const head = await request(server, '/v1/chat/completions', { method: 'HEAD' })
      assert.equal(head.status, 405)
      assert.equal(head.headers.get('allow'), 'POST')
    })

    it('answers 405 even to a wrong token or a request with a body', async () => {
      const res = await request(server, '/v1/chat/completions', {
        method: 'PUT',
        headers: { authorization: 'Bearer nope' },
        body: JSON.stringify(userMessage('hi')),
      })
      assert.equal(res.headers.get('allow'), 'POST')
      await assertError(res, 405)
    })

    it('answers other methods on the models routes with 405 and Allow: GET', async () => {
      for (const path of ['/v1/models', '/v1/models/openclaw']) {
        for (const method of ['POST', 'PUT', 'DELETE']) {
          const res = await request(server, path, { method })
          assert.equal(res.headers.get('allow'), 'GET', `${method} ${path}`)
          await assertError(res, 405)
        }
      }
    })

    it('answers an unknown path with a JSON 404 without asking for a token', async () => {
      const cases: [string, string][] = [
        ['GET', '/'],
        ['GET', '/v1/nope'],
        ['POST', '/v1/completions'],
        ['POST', '/v1/responses'],
        ['POST', '/v1/chat/completions/'],
        ['POST', '/v1/chat'],
      ]
      for (const [method, path] of cases) {
        await assertError(await request(server, path, { method }), 404, { param: null })
      }
    })

    it('ignores the query string when matching the chat route', async () => {
      const res = await fetch(`${server.url}/v1/chat/completions?foo=bar`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify(userMessage('hi')),
      })
      assert.equal(res.status, 200)
    })

    it('answers /health with {"status":"ok"} without a token and without running an agent', async () => {
      const before = probe.inputs.length
      for (const headers of [{}, { authorization: 'Bearer nope' }, auth]) {
        const res = await request(server, '/health', { headers })
        assert.equal(res.status, 200)
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
        assert.deepEqual(await res.json(), { status: 'ok' })
      }
      assert.equal(probe.inputs.length, before)
    })
  })

  describe('x-request-id', () => {
    let server: TestServer
    before(async () => {
      server = await startServer()
    })
    after(() => server.close())

    const idOf = async (headers: Record<string, string>) => {
      const res = await chat(server, userMessage('hi'), headers)
      assert.equal(res.status, 200)
      await res.body?.cancel()
      return res.headers.get('x-request-id')
    }

    it("echoes the client's id when it is letters, digits, _, - and =", async () => {
      for (const id of ['abc', 'Req_123-xyz=', 'a-b_c=d', '0']) {
        assert.equal(await idOf({ 'x-request-id': id }), id)
      }
    })

    it('echoes an id of exactly 255 characters', async () => {
      const id = 'a'.repeat(254) + 'Z'
      assert.equal(await idOf({ 'x-request-id': id }), id)
    })

    it('generates an id when the client sends none', async () => {
      const first = await idOf({})
      const second = await idOf({})
      assert.match(first ?? '', GENERATED_ID)
      assert.match(second ?? '', GENERATED_ID)
      assert.notEqual(first, second)
    })

    it('replaces an id of more than 255 characters with a generated one', async () => {
      const id = 'a'.repeat(256)
      const got = await idOf({ 'x-request-id': id })
      assert.notEqual(got, id)
      assert.match(got ?? '', GENERATED_ID)
    })

    it('replaces an id with any other character with a generated one', async () => {
      for (const id of ['abc.def', 'a b', 'a/b', 'a:b', 'a+b', '{x}', 'a%20b']) {
        const got = await idOf({ 'x-request-id': id })
        assert.notEqual(got, id)
        assert.match(got ?? '', GENERATED_ID, id)
      }
    })

    it('is on every answer: stream, errors, /health and /v1/models', async () => {
      const id = { 'x-request-id': 'trace-42' }
      const answers: [string, Response][] = [
        ['stream', await chat(server, { stream: true, ...userMessage('hi') }, id)],
        ['400', await chat(server, { messages: [] }, id)],
        ['401', await chat(server, userMessage('hi'), { ...id, authorization: 'Bearer nope' })],
        ['404', await request(server, '/nope', { headers: id })],
        ['405', await request(server, '/v1/chat/completions', { headers: id })],
        ['health', await request(server, '/health', { headers: id })],
        ['models', await request(server, '/v1/models', { headers: { ...id, ...auth } })],
        ['model', await request(server, '/v1/models/openclaw', { headers: { ...id, ...auth } })],
      ]
      for (const [what, res] of answers) {
        assert.equal(res.headers.get('x-request-id'), 'trace-42', what)
        await res.text()
      }
    })
  })

  describe('the route headers on chat answers', () => {
    let server: TestServer
    const probe = probeBackend(answer)
    before(async () => {
      server = await startServer({ backend: probe.backend })
    })
    after(() => server.close())

    it('name the agent and the session the backend received', async () => {
      const res = await chat(server, { model: 'openclaw/beta', ...userMessage('hi') })
      assert.equal(res.status, 200)
      await res.json()
      const input = probe.inputs.at(-1)!
      assert.equal(input.agentId, 'beta')
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'beta')
      assert.equal(res.headers.get('x-openclaw-session-key'), input.sessionKey)
      assert.match(input.sessionKey, /^agent:beta:openai:/)
    })

    it('give a session key that the client can send back to continue the session', async () => {
      const first = await chat(server, { user: 'Alice', ...userMessage('hi') })
      assert.equal(first.headers.get('x-openclaw-session-key'), 'agent:main:openai-user:alice')
      await first.json()
      const key = first.headers.get('x-openclaw-session-key')!
      const second = await chat(server, userMessage('again'), { 'x-openclaw-session-key': key })
      assert.equal(second.headers.get('x-openclaw-session-key'), key)
      await second.json()
      assert.equal(probe.inputs.at(-1)!.sessionKey, key)
    })

    it('are on stream answers too', async () => {
      const res = await chat(
        server,
        { stream: true, ...userMessage('hi') },
        { 'x-openclaw-agent-id': 'beta' }
      )
      assert.equal(res.status, 200)
      assert.equal(sseData(await res.text()).at(-1), '[DONE]')
      const input = probe.inputs.at(-1)!
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'beta')
      assert.equal(res.headers.get('x-openclaw-session-key'), input.sessionKey)
    })
  })

  describe('/v1/models', () => {
    let server: TestServer
    let betaDefault: TestServer
    let listed: TestServer
    before(async () => {
      server = await startServer()
      betaDefault = await startServer({
        config: { agents: { list: [{ id: 'main' }, { id: 'beta', default: true }] } },
      })
      const probe = probeBackend(answer)
      listed = await startServer({
        backend: {
          ...probe.backend,
          listAgents: async () => [{ id: 'alpha' }, { id: 'gamma', default: true }],
        },
      })
    })
    after(() => Promise.all([server.close(), betaDefault.close(), listed.close()]))

    const getJson = async (target: TestServer, path: string) => {
      const res = await request(target, path, { headers: auth })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      return res.json()
    }

    it('lists openclaw, openclaw/default, the default agent, then every agent', async () => {
      assert.deepEqual(await getJson(server, '/v1/models'), {
        object: 'list',
        data: ['openclaw', 'openclaw/default', 'openclaw/main', 'openclaw/beta'].map(modelEntry),
      })
    })

    it('lists each agent once when the default agent is not the first', async () => {
      assert.deepEqual(await getJson(betaDefault, '/v1/models'), {
        object: 'list',
        data: ['openclaw', 'openclaw/default', 'openclaw/beta', 'openclaw/main'].map(modelEntry),
      })
    })

    it("lists the backend's agents when the backend has its own list", async () => {
      assert.deepEqual(await getJson(listed, '/v1/models'), {
        object: 'list',
        data: ['openclaw', 'openclaw/default', 'openclaw/gamma', 'openclaw/alpha'].map(modelEntry),
      })
      assert.deepEqual(
        await getJson(listed, '/v1/models/openclaw%2Falpha'),
        modelEntry('openclaw/alpha')
      )
      await assertError(await request(listed, '/v1/models/openclaw%2Fmain', { headers: auth }), 404)
    })

    it('answers one model by its URL-encoded id', async () => {
      const cases: [string, string][] = [
        ['openclaw%2Fdefault', 'openclaw/default'],
        ['openclaw', 'openclaw'],
        ['openclaw%2Fmain', 'openclaw/main'],
        ['openclaw%2Fbeta', 'openclaw/beta'],
        ['openclaw/beta', 'openclaw/beta'],
        ['OpenClaw%2FBeta', 'openclaw/beta'],
        ['openclaw%3Abeta', 'openclaw/beta'],
        ['agent%3Abeta', 'openclaw/beta'],
      ]
      for (const [path, id] of cases) {
        assert.deepEqual(await getJson(server, `/v1/models/${path}`), modelEntry(id), path)
      }
    })

    it('answers 400 Invalid model id. for an id that is not an agent target', async () => {
      for (const path of [
        'nope',
        'gpt-4o',
        'openai%2Fgpt-4o',
        'openclaw%2F',
        'openclaw%2Fbad%20id',
      ]) {
        const res = await request(server, `/v1/models/${path}`, { headers: auth })
        await assertError(res, 400, { message: 'Invalid model id.', param: null })
      }
    })

    it('answers 400 for an empty id and for a malformed encoding', async () => {
      await assertError(await request(server, '/v1/models/%20', { headers: auth }), 400, {
        message: 'Missing model id.',
      })
      await assertError(
        await request(server, '/v1/models/openclaw%E0%A4%A', { headers: auth }),
        400,
        {
          message: 'Invalid model id encoding.',
        }
      )
    })

    it('answers 404 for an agent that is not configured', async () => {
      const res = await request(server, '/v1/models/openclaw%2Fnosuch', { headers: auth })
      await assertError(res, 404, { message: "Model 'openclaw/nosuch' not found.", param: null })
    })

    it('asks for the same token as the chat route', async () => {
      for (const path of ['/v1/models', '/v1/models/openclaw%2Fdefault', '/v1/models/nope']) {
        for (const headers of [{}, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
          await assertError(await request(server, path, { headers }), 401, {
            code: 'invalid_api_key',
          })
        }
      }
    })
  })
})
