import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  ConfigError,
  createChatCompletionsApp,
  type AgentEvent,
  type ConfigInput,
} from '../src/index.ts'
import {
  assertError,
  chat,
  probeBackend,
  startServer,
  testConfig,
  userMessage,
  type TestServer,
} from './helpers.ts'

const INVALID_MODEL = 'Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.'
const RESERVED = '`x-openclaw-session-key` cannot use reserved internal session namespaces.'
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
const STATELESS = (agent: string) => new RegExp(`^agent:${agent}:openai:${UUID}$`)

const answer = async function* (): AsyncIterable<AgentEvent> {
  yield { type: 'done', text: 'ok' }
}

/** A server with a probe backend, and helpers that read what the backend received. */
const routed = (options: { config?: ConfigInput } = {}) => {
  const probe = probeBackend(answer)
  const state = { server: undefined as unknown as TestServer }
  before(async () => {
    state.server = await startServer({ ...options, backend: probe.backend })
  })
  after(() => state.server.close())

  /** Sends one request that must succeed; returns the backend's input and the answer. */
  const route = async (
    body: Record<string, unknown> = {},
    headers: Record<string, string> = {}
  ) => {
    probe.inputs.length = 0
    const res = await chat(state.server, { ...userMessage('hi'), ...body }, headers)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.equal(probe.inputs.length, 1)
    const input = probe.inputs[0]
    assert.equal(res.headers.get('x-openclaw-agent-id'), input.agentId)
    assert.equal(res.headers.get('x-openclaw-session-key'), input.sessionKey)
    return { input, body: JSON.parse(text) }
  }

  /** Sends one request that must be refused with 400 before the agent runs. */
  const refused = async (
    body: Record<string, unknown>,
    headers: Record<string, string>,
    message: string | RegExp,
    param: string | null
  ) => {
    probe.inputs.length = 0
    const res = await chat(state.server, { ...userMessage('hi'), ...body }, headers)
    await assertError(res, 400, { message, param })
    assert.equal(probe.inputs.length, 0, 'the agent must not run')
  }

  return { route, refused }
}

describe('routing', () => {
  describe('the agent', () => {
    const { route, refused } = routed()

    it('is the default agent when model is absent, openclaw or openclaw/default', async () => {
      for (const model of [
        undefined,
        'openclaw',
        'openclaw/default',
        'OpenClaw',
        'OPENCLAW/DEFAULT',
      ]) {
        const { input, body } = await route(model === undefined ? {} : { model })
        assert.equal(input.agentId, 'main', model)
        assert.match(input.sessionKey, STATELESS('main'))
        assert.equal(body.model, model ?? 'openclaw')
      }
    })

    it('is the agent the model names, in any accepted form and letter case', async () => {
      const models = ['openclaw/beta', 'openclaw:beta', 'agent:beta', 'OpenClaw/BETA', 'AGENT:Beta']
      for (const model of models) {
        const { input, body } = await route({ model })
        assert.equal(input.agentId, 'beta', model)
        assert.match(input.sessionKey, STATELESS('beta'))
        assert.equal(body.model, model, 'the answer echoes the model string as sent')
      }
      assert.equal((await route({ model: 'openclaw/main' })).input.agentId, 'main')
    })

    it('is the x-openclaw-agent-id header, over the agent in the model', async () => {
      const { input } = await route({ model: 'openclaw/main' }, { 'x-openclaw-agent-id': 'beta' })
      assert.equal(input.agentId, 'beta')
      assert.match(input.sessionKey, STATELESS('beta'))
      const back = await route({ model: 'openclaw:beta' }, { 'x-openclaw-agent-id': 'main' })
      assert.equal(back.input.agentId, 'main')
    })

    it('is the x-openclaw-agent alias when the main header is absent', async () => {
      assert.equal((await route({}, { 'x-openclaw-agent': 'beta' })).input.agentId, 'beta')
      const both = await route({}, { 'x-openclaw-agent-id': 'main', 'x-openclaw-agent': 'beta' })
      assert.equal(both.input.agentId, 'main')
    })

    it('from the header is compared in lower case', async () => {
      assert.equal((await route({}, { 'x-openclaw-agent-id': 'BETA' })).input.agentId, 'beta')
    })

    it('from the header accepts any model string', async () => {
      for (const model of ['gpt-4o', 'openai/', 'openai/gpt-5.4', 'openclaw/nosuchagent', '']) {
        const { input, body } = await route({ model }, { 'x-openclaw-agent-id': 'beta' })
        assert.equal(input.agentId, 'beta', model)
        assert.equal(body.model, model)
      }
    })

    it('falls back to the model when the header is blank', async () => {
      assert.equal(
        (await route({ model: 'openclaw/beta' }, { 'x-openclaw-agent-id': ' ' })).input.agentId,
        'beta'
      )
    })

    it('must be configured: unknown agents from the header or the model are refused', async () => {
      await refused(
        {},
        { 'x-openclaw-agent-id': 'nosuchagent' },
        "Unknown agent 'nosuchagent'. Agents: main, beta.",
        null
      )
      await refused(
        {},
        { 'x-openclaw-agent': 'nosuchagent' },
        "Unknown agent 'nosuchagent'. Agents: main, beta.",
        null
      )
      await refused(
        { model: 'openclaw/nosuchagent' },
        {},
        "Unknown agent 'nosuchagent'. Agents: main, beta.",
        'model'
      )
      await refused(
        { model: 'agent:NoSuchAgent' },
        {},
        "Unknown agent 'nosuchagent'. Agents: main, beta.",
        'model'
      )
      await refused(
        {},
        { 'x-openclaw-agent-id': 'bad agent!' },
        "Unknown agent 'bad agent!'. Agents: main, beta.",
        null
      )
    })

    it('cannot come from a model that is not an openclaw target', async () => {
      const models = [
        'gpt-4o',
        'openai/',
        'openai/gpt-5.4',
        'openclaw/',
        'openclaw:',
        'agent:',
        'openclaw/main/extra',
        'openclaw/bad agent',
        'openclaw/-main',
        'claw/main',
        'dna:beta',
      ]
      for (const model of models) await refused({ model }, {}, INVALID_MODEL, 'model')
    })
  })

  describe('an unknown agent among many', () => {
    const ids = Array.from({ length: 12 }, (_, i) => `agent${i + 1}`)
    const { refused } = routed({ config: { agents: { list: ids.map((id) => ({ id })) } } })
    it('is refused with the first ten agent ids', async () => {
      await refused(
        { model: 'openclaw/agent13' },
        {},
        "Unknown agent 'agent13'. Agents: agent1, agent2, agent3, agent4, agent5, agent6, " +
          'agent7, agent8, agent9, agent10, ….',
        'model'
      )
    })
  })

  describe('the default agent', () => {
    describe('when one is marked default', () => {
      const { route } = routed({
        config: { agents: { list: [{ id: 'main' }, { id: 'beta', default: true }] } },
      })
      it('serves openclaw, openclaw/default and an absent model', async () => {
        for (const body of [{}, { model: 'openclaw' }, { model: 'openclaw/default' }]) {
          assert.equal((await route(body)).input.agentId, 'beta')
        }
        assert.equal((await route({ model: 'openclaw/main' })).input.agentId, 'main')
      })
    })

    describe('when none is marked default', () => {
      const { route } = routed({ config: { agents: { list: [{ id: 'alpha' }, { id: 'zeta' }] } } })
      it('is the first agent in the list', async () => {
        assert.equal((await route()).input.agentId, 'alpha')
        assert.equal((await route({ model: 'openclaw/default' })).input.agentId, 'alpha')
      })
    })
  })

  describe('with agents.ownership "explicit"', () => {
    const NO_OWNER =
      /^Multiple agents are configured, but this operation has no explicit owner\. Select an agent explicitly; CLI callers can pass --agent <id>, channels can add a binding, and ambient services can set their agentId target\. Agents: main, beta\.$/

    describe('and several agents', () => {
      const { route, refused } = routed({
        config: { agents: { ownership: 'explicit', list: [{ id: 'main' }, { id: 'beta' }] } },
      })

      it('refuses a request that names no agent, listing the agents', async () => {
        for (const body of [{}, { model: 'openclaw' }, { model: 'OpenClaw/Default' }]) {
          await refused(body, {}, NO_OWNER, 'model')
        }
      })

      it('serves a request that names its agent, by model or header', async () => {
        assert.equal((await route({ model: 'openclaw/beta' })).input.agentId, 'beta')
        assert.equal((await route({ model: 'agent:main' })).input.agentId, 'main')
        assert.equal((await route({}, { 'x-openclaw-agent-id': 'beta' })).input.agentId, 'beta')
      })
    })

    describe('and one agent, which owns every request', () => {
      const { route } = routed({
        config: { agents: { ownership: 'explicit', list: [{ id: 'solo' }] } },
      })
      it('serves openclaw, openclaw/default and an absent model', async () => {
        for (const body of [{}, { model: 'openclaw' }, { model: 'openclaw/default' }]) {
          assert.equal((await route(body)).input.agentId, 'solo')
        }
      })
    })

    describe('and a roster in the 2026.9 form (agents.entries, keyed by id)', () => {
      const { route, refused } = routed({
        config: {
          agents: {
            ownership: 'explicit',
            entries: { main: { name: 'Main' }, beta: { workspace: '~/beta' } },
          },
        },
      })
      it('reads the agents from the keys', async () => {
        await refused({}, {}, NO_OWNER, 'model')
        assert.equal((await route({ model: 'openclaw/beta' })).input.agentId, 'beta')
      })
    })

    it('cannot be combined with a default marker', () => {
      assert.throws(
        () =>
          createChatCompletionsApp({
            config: testConfig({
              agents: { ownership: 'explicit', list: [{ id: 'main', default: true }, { id: 'b' }] },
            }),
          }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.path === 'agents.list[0].default' &&
          /explicit cannot be combined/.test(err.reason)
      )
    })
  })

  describe('the agents a backend lists', () => {
    const probe = probeBackend(answer)
    let server: TestServer
    before(async () => {
      server = await startServer({
        backend: {
          ...probe.backend,
          listAgents: async () => [{ id: 'alpha' }, { id: 'gamma', default: true }],
        },
      })
    })
    after(() => server.close())

    it('replace the configured ones for routing', async () => {
      const res = await chat(server, userMessage('hi'))
      assert.equal(res.status, 200)
      await res.text()
      assert.equal(probe.inputs.at(-1)!.agentId, 'gamma')
      const alpha = await chat(server, { model: 'openclaw/alpha', ...userMessage('hi') })
      assert.equal(alpha.status, 200)
      await alpha.text()
      assert.equal(probe.inputs.at(-1)!.agentId, 'alpha')
      const runs = probe.inputs.length
      const main = await chat(server, { model: 'openclaw/main', ...userMessage('hi') })
      await assertError(main, 400, {
        message: "Unknown agent 'main'. Agents: alpha, gamma.",
        param: 'model',
      })
      assert.equal(probe.inputs.length, runs)
    })
  })

  describe('the session key', () => {
    const { route, refused } = routed()

    it('is new for every request without user or header (stateless)', async () => {
      const keys = new Set<string>()
      for (let i = 0; i < 5; i++) {
        const { input } = await route()
        assert.match(input.sessionKey, STATELESS('main'))
        keys.add(input.sessionKey)
      }
      assert.equal(keys.size, 5)
    })

    it('comes from user, lower-cased, under the chosen agent', async () => {
      const { input } = await route({ user: 'Alice' })
      assert.equal(input.sessionKey, 'agent:main:openai-user:alice')
      assert.equal(input.user, 'Alice')
      assert.equal(
        (await route({ user: 'alice' })).input.sessionKey,
        'agent:main:openai-user:alice'
      )
      const beta = await route({ user: 'Bob', model: 'openclaw/beta' })
      assert.equal(beta.input.sessionKey, 'agent:beta:openai-user:bob')
      const header = await route({ user: 'Bob' }, { 'x-openclaw-agent-id': 'beta' })
      assert.equal(header.input.sessionKey, 'agent:beta:openai-user:bob')
    })

    it('comes from the trimmed user, kept as is otherwise', async () => {
      const { input } = await route({ user: '  Carol:Work  ' })
      assert.equal(input.sessionKey, 'agent:main:openai-user:carol:work')
      assert.equal(input.user, 'Carol:Work')
    })

    it('is stateless when user is empty or blank', async () => {
      for (const user of ['', '   ']) {
        const { input } = await route({ user })
        assert.match(input.sessionKey, STATELESS('main'))
        assert.equal(input.user, undefined)
      }
    })

    it('is the x-openclaw-session-key header verbatim, over user, whatever the agent', async () => {
      const key = 'agent:beta:openai:custom'
      assert.equal((await route({}, { 'x-openclaw-session-key': key })).input.sessionKey, key)
      const main = await route({ user: 'alice' }, { 'x-openclaw-session-key': key })
      assert.equal(main.input.agentId, 'main')
      assert.equal(main.input.sessionKey, key)
      const mixed = 'agent:main:openai:MixedCase-Key'
      assert.equal((await route({}, { 'x-openclaw-session-key': mixed })).input.sessionKey, mixed)
      assert.equal(
        (await route({}, { 'x-openclaw-session-key': 'my-app:42' })).input.sessionKey,
        'my-app:42'
      )
    })

    it('cannot use the reserved subagent, cron and acp namespaces', async () => {
      const keys = [
        'subagent:x',
        'cron:daily',
        'acp:abc',
        'SubAgent:X',
        'CRON:x',
        'agent:main:subagent:x',
        'agent:beta:cron:job-1',
        'agent:main:acp:1',
        'AGENT:MAIN:CRON:x',
      ]
      for (const key of keys) await refused({}, { 'x-openclaw-session-key': key }, RESERVED, null)
    })

    it('cannot use the agent-harness namespace, under any agent and in any case', async () => {
      const keys = [
        'harness:codex:1',
        'HARNESS:x',
        'harness:',
        'agent:main:harness:codex:thread-1',
        'agent:beta:harness:claude',
        'Agent:Main:Harness:X',
        // The agent part is whatever lies between the first two colons, blanks around it trimmed.
        'agent: main :harness:x',
        'agent:no-such-agent:harness:x',
      ]
      for (const key of keys) await refused({}, { 'x-openclaw-session-key': key }, RESERVED, null)
    })

    it('takes a key whole when its agent part is malformed, as the gateway does', async () => {
      for (const key of [
        // A blank agent id, or a rest that starts with a colon: no agent part, so the namespace
        // is the whole key, which starts with `agent:`.
        'agent: :harness:x',
        'agent::harness:x',
        'agent:main::harness:x',
        'agent:main::cron:x',
        // Only one `agent:<id>:` level is read.
        'agent:main:agent:beta:harness:x',
        // The namespace needs its colon.
        'agent:main:harness',
        'harness',
        'my-harness:x',
        'agent:main:openai:harness:x',
      ]) {
        assert.equal((await route({}, { 'x-openclaw-session-key': key })).input.sessionKey, key)
      }
    })

    it('may mention a reserved word anywhere but at the start of a namespace', async () => {
      for (const key of [
        'mysubagent:x',
        'agent:main:openai:cron',
        'agent:main:my-acp:1',
        'session-cron:1',
      ]) {
        assert.equal((await route({}, { 'x-openclaw-session-key': key })).input.sessionKey, key)
      }
    })
  })

  describe('the message channel', () => {
    const { route } = routed()

    it('is webchat by default', async () => {
      assert.equal((await route()).input.messageChannel, 'webchat')
    })

    it('is the x-openclaw-message-channel header', async () => {
      const headers = { 'x-openclaw-message-channel': 'custom-client-channel' }
      assert.equal((await route({}, headers)).input.messageChannel, 'custom-client-channel')
    })

    it('falls back to webchat for a value that is not a channel name', async () => {
      for (const channel of ['not a channel', '-leading', 'a'.repeat(65), ' ']) {
        const headers = { 'x-openclaw-message-channel': channel }
        assert.equal((await route({}, headers)).input.messageChannel, 'webchat', channel)
      }
    })
  })

  describe('the model override', () => {
    const { route, refused } = routed()

    it('is absent without the x-openclaw-model header', async () => {
      assert.equal('modelOverride' in (await route()).input, false)
    })

    it('is the x-openclaw-model header as sent, with a provider or bare', async () => {
      for (const model of [
        'openai/gpt-5.4',
        'gpt-5.4',
        'ollama/llama3.2:3b',
        'openrouter/meta/llama-3',
      ]) {
        assert.equal((await route({}, { 'x-openclaw-model': model })).input.modelOverride, model)
      }
    })

    it('does not change the agent', async () => {
      const { input } = await route(
        { model: 'openclaw/beta' },
        { 'x-openclaw-model': 'openai/gpt-5.4' }
      )
      assert.equal(input.agentId, 'beta')
    })

    it('must parse as provider/model or a bare model', async () => {
      for (const model of ['openai/', '/gpt-5.4', 'open ai/gpt']) {
        await refused({}, { 'x-openclaw-model': model }, 'Invalid `x-openclaw-model`.', null)
      }
    })
  })
})
