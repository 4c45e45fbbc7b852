import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  ConfigError,
  createChatCompletionsApp,
  type AgentEvent,
  type ConfigInput,
} from '../src/index.ts'
import { nodeClientAddress } from '../src/runtimes/node.ts'
import {
  assertError,
  probeBackend,
  startBareServer,
  userMessage,
  type TestServer,
} from './helpers.ts'

const answer = async function* (): AsyncIterable<AgentEvent> {
  yield { type: 'done', text: 'ok' }
}

const PASSWORD = 'proxy-fallback-password'
const ALICE = 'alice@example.com'
/** Where "the proxy" connects from: the test sets the peer address in a header of its own. */
const PROXY = '10.1.2.3'
const CLIENT = '203.0.113.9'

const config = (trustedProxy: Record<string, unknown> = {}, extra: ConfigInput = {}) =>
  ({
    gateway: {
      trustedProxies: ['10.0.0.0/8', '127.0.0.1'],
      auth: {
        mode: 'trusted-proxy',
        password: PASSWORD,
        rateLimit: { maxAttempts: 2, exemptLoopback: false },
        trustedProxy: {
          userHeader: 'x-forwarded-user',
          requiredHeaders: ['x-proxy-id'],
          allowUsers: [ALICE, 'bob'],
          ...trustedProxy,
        },
      },
      http: { endpoints: { chatCompletions: { enabled: true } } },
      ...extra.gateway,
    },
  }) as ConfigInput

/** A request as the proxy forwards it for `user`, from `peer`. */
const proxied = (user: string | undefined, overrides: Record<string, string | undefined> = {}) => {
  const headers: Record<string, string | undefined> = {
    'x-test-peer': PROXY,
    'x-proxy-id': 'edge-1',
    'x-forwarded-for': CLIENT,
    'x-forwarded-user': user,
    ...overrides,
  }
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >
}

const start = (cfg: ConfigInput, backend = probeBackend(answer).backend) =>
  startBareServer({
    config: cfg,
    backend,
    // The peer is the socket's address unless the test says which proxy it plays.
    clientAddress: (c) => c.req.header('x-test-peer') ?? nodeClientAddress(c),
  })

describe('trusted-proxy auth', () => {
  const probe = probeBackend(answer)
  let server: TestServer
  before(async () => {
    server = await start(config(), probe.backend)
  })
  after(() => server.close())

  const chat = (headers: Record<string, string>, body = JSON.stringify(userMessage('hi'))) => {
    probe.inputs.length = 0
    return fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    })
  }
  const runs = async (headers: Record<string, string>) => {
    const res = await chat(headers)
    assert.equal(res.status, 200, await res.text())
    assert.equal(probe.inputs.length, 1)
    return probe.inputs[0]
  }
  const refused = async (headers: Record<string, string>, status: number, message?: RegExp) => {
    await assertError(await chat(headers), status, { message })
    assert.equal(probe.inputs.length, 0, 'the agent must not run')
  }

  it('lets in the user a trusted proxy vouches for, with every scope by default', async () => {
    const input = await runs(proxied(ALICE))
    assert.equal(input.senderIsOwner, true)
    assert.equal((await runs(proxied('bob'))).senderIsOwner, true)
  })

  it('takes the user trimmed, and compares it exactly', async () => {
    await runs(proxied(`  ${ALICE}  `))
    await refused(proxied('Alice@example.com'), 401, /not allowed/)
    await refused(proxied('mallory'), 401, /not allowed/)
    // A proxy that appended to a forged header: the whole value is no allowed user.
    await refused(proxied(`mallory, ${ALICE}`), 401, /not allowed/)
  })

  it('honours x-openclaw-scopes for proxied users', async () => {
    const input = await runs({ ...proxied(ALICE), 'x-openclaw-scopes': 'operator.write' })
    assert.equal(input.senderIsOwner, false)
    await refused({ ...proxied(ALICE), 'x-openclaw-scopes': 'operator.read' }, 403)
    await refused(
      { ...proxied(ALICE), 'x-openclaw-scopes': 'operator.write', 'x-openclaw-model': 'a/b' },
      403,
      /missing scope: operator\.admin/
    )
    const models = await fetch(`${server.url}/v1/models`, {
      headers: { ...proxied(ALICE), 'x-openclaw-scopes': 'operator.sessions.write' },
    })
    await assertError(models, 403, { message: 'missing scope: operator.read' })
  })

  it('needs the peer to be a trusted proxy (exact address or range, IPv4-mapped too)', async () => {
    await refused(proxied(ALICE, { 'x-test-peer': '192.0.2.1' }), 401, /trusted proxy/)
    await runs(proxied(ALICE, { 'x-test-peer': '::ffff:10.200.0.1' }))
    await refused(proxied(ALICE, { 'x-test-peer': '11.0.0.1' }), 401)
  })

  it('refuses a proxy on this host unless allowLoopback', async () => {
    await refused(proxied(ALICE, { 'x-test-peer': '127.0.0.1' }), 401, /allowLoopback/)
  })

  it('needs every required header and a user', async () => {
    await refused(proxied(ALICE, { 'x-proxy-id': undefined }), 401, /x-proxy-id/)
    await refused(proxied(ALICE, { 'x-proxy-id': '  ' }), 401, /x-proxy-id/)
    await refused(proxied(undefined), 401, /named no user/)
    await refused(proxied('   '), 401, /named no user/)
  })

  it('needs the proxy to say whom it forwards for (not loopback, not a proxy)', async () => {
    for (const xff of [undefined, '127.0.0.1', '10.9.9.9', 'not an address']) {
      const headers = proxied(ALICE, { 'x-forwarded-for': xff })
      await assertError(await chat(headers), 403, {
        message: /^Proxy client attribution is required\./,
        code: 'proxy_attribution_required',
      })
    }
    await runs(proxied(ALICE, { 'x-forwarded-for': `${CLIENT}, 10.9.9.9` }))
  })

  it('refuses a foreign browser origin, even from a trusted proxy', async () => {
    await refused(proxied(ALICE, { origin: 'https://evil.example' }), 401, /origin/)
  })

  describe('the password fallback, on this host with nothing forwarded', () => {
    const direct = (secret?: string, extra: Record<string, string> = {}) => ({
      ...(secret && { authorization: `Bearer ${secret}` }),
      ...extra,
    })

    it('lets the password in as a shared secret: every scope, whatever is declared', async () => {
      const input = await runs(direct(PASSWORD, { 'x-openclaw-scopes': 'operator.read' }))
      assert.equal(input.senderIsOwner, true)
    })

    it('not with forwarded headers, nor without the password', async () => {
      await refused(direct(PASSWORD, { 'x-forwarded-for': CLIENT }), 401)
      await refused(direct(PASSWORD, { 'x-forwarded-proto': 'https' }), 401)
      await refused(direct(), 401, /may not vouch/)
    })

    it('counts wrong passwords toward the lockout', async () => {
      await refused(direct('wrong-1'), 401, /Invalid bearer password/)
      await refused(direct('wrong-2'), 401, /Invalid bearer password/)
      const locked = await chat(direct(PASSWORD))
      await assertError(locked, 429)
    })
  })
})

describe('trusted-proxy auth from a proxy on this host', () => {
  let server: TestServer
  before(async () => {
    server = await start(config({ allowLoopback: true }))
  })
  after(() => server.close())

  it('lets a loopback proxy vouch when allowLoopback is set', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: proxied(ALICE, { 'x-test-peer': undefined }),
      body: JSON.stringify(userMessage('hi')),
    })
    assert.equal(res.status, 200, await res.text())
  })
})

describe('trusted-proxy auth at start-up', () => {
  const refuses = (cfg: ConfigInput, key: string, reason: RegExp, env = {}) =>
    assert.throws(
      () => createChatCompletionsApp({ config: cfg, env }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.equal(err.path, key)
        assert.match(err.reason, reason)
        return true
      }
    )

  it('needs trustedProxy with a userHeader', () => {
    const cfg = config() as any
    delete cfg.gateway.auth.trustedProxy
    refuses(cfg, 'gateway.auth.trustedProxy', /needs gateway\.auth\.trustedProxy/)
    refuses(config({ userHeader: '  ' }), 'gateway.auth.trustedProxy.userHeader', /required/)
  })

  it('needs at least one trusted proxy, each an address or a range', () => {
    refuses(
      config({}, { gateway: { trustedProxies: [] } }),
      'gateway.trustedProxies',
      /at least one/
    )
    refuses(
      config({}, { gateway: { trustedProxies: ['proxy.local'] } }),
      'gateway.trustedProxies[0]',
      /IP address or a CIDR/
    )
  })

  it('refuses a token beside it, from config or the environment', () => {
    const cfg = config() as any
    cfg.gateway.auth.token = 'a-token'
    refuses(cfg, 'gateway.auth.token', /mutually exclusive/)
    refuses(config(), 'gateway.auth.token', /OPENCLAW_GATEWAY_TOKEN/, {
      OPENCLAW_GATEWAY_TOKEN: 'from-env',
    })
  })
})
