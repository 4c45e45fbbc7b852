import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { ConfigError, createChatCompletionsApp, type ChatCompletionsOptions } from '../src/index.ts'
import {
  assertError,
  probeBackend,
  startBareServer,
  startServer,
  TOKEN,
  userMessage,
  type TestServer,
} from './helpers.ts'

const ENABLED = { http: { endpoints: { chatCompletions: { enabled: true } } } }

/** POSTs a valid chat request with exactly the headers given (no token unless one is given). */
const post = (server: TestServer, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(userMessage('hi')),
  })

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` })

const get = (server: TestServer, path: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { headers })

const assertOk = async (res: Response) => {
  const text = await res.text()
  assert.equal(res.status, 200, text)
}

const assertUnauthorized = (res: Response) =>
  assertError(res, 401, { type: 'authentication_error', code: 'invalid_api_key', param: null })

/** A 429 whose Retry-After is whole seconds, at most the lockout. */
const assertLockedOut = async (res: Response, lockoutSeconds = 60) => {
  const retryAfter = res.headers.get('retry-after') ?? ''
  await assertError(res, 429, { type: 'rate_limit_error', param: null })
  assert.match(retryAfter, /^\d+$/)
  const seconds = Number(retryAfter)
  assert.ok(seconds >= 1 && seconds <= lockoutSeconds, `Retry-After: ${retryAfter}`)
}

describe('auth', () => {
  const servers: TestServer[] = []
  const start = async (options: Parameters<typeof startServer>[0] = {}) => {
    const server = await startServer(options)
    servers.push(server)
    return server
  }
  const startBare = async (options: ChatCompletionsOptions) => {
    const server = await startBareServer(options)
    servers.push(server)
    return server
  }
  after(() => Promise.all(servers.map((s) => s.close())))

  describe('in token mode', () => {
    it('accepts the configured token', async () => {
      const server = await start()
      await assertOk(await post(server, bearer(TOKEN)))
    })

    it('accepts the bearer scheme in any letter case', async () => {
      const server = await start()
      for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
        await assertOk(await post(server, { authorization: `${scheme} ${TOKEN}` }))
      }
    })

    it('answers a missing token with 401 in the OpenAI error shape', async () => {
      const server = await start()
      await assertUnauthorized(await post(server))
    })

    it('answers a wrong token with 401, however close it is to the right one', async () => {
      const server = await start()
      for (const wrong of [
        'nope',
        TOKEN.toUpperCase(),
        `${TOKEN}x`,
        TOKEN.slice(0, -1),
        `x${TOKEN}`,
      ]) {
        await assertUnauthorized(await post(server, bearer(wrong)))
      }
    })

    it('answers 401 when the token is not sent with the bearer scheme', async () => {
      const server = await start()
      for (const authorization of [TOKEN, `Basic ${btoa(`user:${TOKEN}`)}`, `Token ${TOKEN}`]) {
        await assertUnauthorized(await post(server, { authorization }))
      }
    })

    it('never runs the agent for a rejected request', async () => {
      const probe = probeBackend(async function* () {
        yield { type: 'done', text: 'ok' }
      })
      const server = await start({ backend: probe.backend })
      await assertUnauthorized(await post(server))
      await assertUnauthorized(await post(server, bearer('nope')))
      assert.equal(probe.inputs.length, 0)
      await assertOk(await post(server, bearer(TOKEN)))
      assert.equal(probe.inputs.length, 1)
    })

    it('guards /v1/models and /v1/models/{id} with the same token', async () => {
      const server = await start()
      for (const path of ['/v1/models', '/v1/models/openclaw']) {
        await assertUnauthorized(await get(server, path))
        await assertUnauthorized(await get(server, path, bearer('nope')))
        await assertOk(await get(server, path, bearer(TOKEN)))
      }
    })
  })

  describe('in password mode', () => {
    it('accepts the password and refuses the token that is also configured', async () => {
      const server = await start({
        config: { gateway: { auth: { mode: 'password', password: 'pw-1' } } },
      })
      await assertOk(await post(server, bearer('pw-1')))
      await assertUnauthorized(await post(server, bearer(TOKEN)))
      await assertUnauthorized(await post(server))
    })

    it('accepts the token and refuses the password when the mode says token', async () => {
      const server = await start({
        config: { gateway: { auth: { mode: 'token', password: 'pw-1' } } },
      })
      await assertOk(await post(server, bearer(TOKEN)))
      await assertUnauthorized(await post(server, bearer('pw-1')))
    })
  })

  describe('in mode none', () => {
    it('answers without any credential, and ignores one that is sent', async () => {
      const server = await start({ config: { gateway: { auth: { mode: 'none' } } } })
      await assertOk(await post(server))
      await assertOk(await post(server, bearer('anything')))
      await assertOk(await get(server, '/v1/models'))
    })
  })

  describe('the failed-auth lockout', () => {
    const strict = { maxAttempts: 2, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }

    it('locks an address out after maxAttempts wrong tokens, even for the right token', async () => {
      const server = await start({ config: { gateway: { auth: { rateLimit: strict } } } })
      await assertUnauthorized(await post(server, bearer('wrong-1')))
      await assertUnauthorized(await post(server, bearer('wrong-2')))
      await assertLockedOut(await post(server, bearer(TOKEN)))
      await assertLockedOut(await post(server))
    })

    it('locks the models routes too, since they share the auth', async () => {
      const server = await start({ config: { gateway: { auth: { rateLimit: strict } } } })
      await assertUnauthorized(await get(server, '/v1/models', bearer('wrong-1')))
      await assertUnauthorized(await post(server, bearer('wrong-2')))
      await assertLockedOut(await get(server, '/v1/models', bearer(TOKEN)))
      await assertLockedOut(await get(server, '/v1/models/openclaw', bearer(TOKEN)))
    })

    it('does not count a missing token as a failed attempt', async () => {
      const server = await start({ config: { gateway: { auth: { rateLimit: strict } } } })
      for (let i = 0; i < 3; i++) await assertUnauthorized(await post(server))
      await assertUnauthorized(await post(server, bearer('wrong')))
      for (let i = 0; i < 3; i++) await assertUnauthorized(await post(server))
      await assertOk(await post(server, bearer(TOKEN)))
    })

    it('forgets earlier failures after a success', async () => {
      const server = await start({ config: { gateway: { auth: { rateLimit: strict } } } })
      await assertUnauthorized(await post(server, bearer('wrong-1')))
      await assertOk(await post(server, bearer(TOKEN)))
      await assertUnauthorized(await post(server, bearer('wrong-2')))
      await assertOk(await post(server, bearer(TOKEN)))
    })

    it('keeps one count per client address', async () => {
      const server = await start({
        config: { gateway: { auth: { rateLimit: strict } } },
        clientAddress: (c) => c.req.header('x-test-address'),
      })
      const from = (address: string, secret: string) =>
        post(server, { 'x-test-address': address, ...bearer(secret) })
      await assertUnauthorized(await from('203.0.113.1', 'wrong-1'))
      await assertUnauthorized(await from('203.0.113.1', 'wrong-2'))
      await assertLockedOut(await from('203.0.113.1', TOKEN))
      await assertOk(await from('203.0.113.2', TOKEN))
    })

    it('never locks out when rateLimit is false', async () => {
      const server = await start({ config: { gateway: { auth: { rateLimit: false } } } })
      for (let i = 0; i < 12; i++)
        await assertUnauthorized(await post(server, bearer(`wrong-${i}`)))
      await assertOk(await post(server, bearer(TOKEN)))
    })

    it('is on by default for non-loopback addresses', async () => {
      const server = await start({ clientAddress: () => '203.0.113.9' })
      for (let i = 0; i < 10; i++)
        await assertUnauthorized(await post(server, bearer(`wrong-${i}`)))
      await assertLockedOut(await post(server, bearer(TOKEN)), 300)
    })

    it('exempts loopback clients by default', async () => {
      const server = await start({
        config: { gateway: { auth: { rateLimit: { maxAttempts: 2 } } } },
      })
      for (let i = 0; i < 5; i++) await assertUnauthorized(await post(server, bearer(`wrong-${i}`)))
      await assertOk(await post(server, bearer(TOKEN)))
    })
  })

  describe('at start-up', () => {
    const assertConfigError = (options: ChatCompletionsOptions, key: string, envVar: string) =>
      assert.throws(
        () => createChatCompletionsApp(options),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err))
          assert.equal(err.path, key)
          assert.ok(err.message.includes(key), err.message)
          assert.ok(err.message.includes(envVar), err.message)
          return true
        }
      )

    it('refuses token mode without a token, naming the key and the env var', () => {
      assertConfigError(
        { config: { gateway: { auth: { mode: 'token' } } } },
        'gateway.auth.token',
        'OPENCLAW_GATEWAY_TOKEN'
      )
    })

    it('refuses the default config, whose mode is token, when no secret is set', () => {
      assertConfigError({ config: {} }, 'gateway.auth.token', 'OPENCLAW_GATEWAY_TOKEN')
      assertConfigError({}, 'gateway.auth.token', 'OPENCLAW_GATEWAY_TOKEN')
    })

    it('refuses password mode without a password, naming the key and the env var', () => {
      assertConfigError(
        { config: { gateway: { auth: { mode: 'password', token: 'a-token' } } } },
        'gateway.auth.password',
        'OPENCLAW_GATEWAY_PASSWORD'
      )
    })

    it('treats an empty environment variable as unset', () => {
      assertConfigError(
        { config: { gateway: { auth: { mode: 'token' } } }, env: { OPENCLAW_GATEWAY_TOKEN: '' } },
        'gateway.auth.token',
        'OPENCLAW_GATEWAY_TOKEN'
      )
    })

    it('needs no secret in mode none', () => {
      assert.doesNotThrow(() =>
        createChatCompletionsApp({ config: { gateway: { auth: { mode: 'none' } } } })
      )
    })

    it('takes the token from OPENCLAW_GATEWAY_TOKEN', async () => {
      const server = await startBare({
        config: { gateway: { auth: { mode: 'token' }, ...ENABLED } },
        env: { OPENCLAW_GATEWAY_TOKEN: 'env-token' },
      })
      await assertOk(await post(server, bearer('env-token')))
      await assertUnauthorized(await post(server, bearer(TOKEN)))
    })

    it('takes the password from OPENCLAW_GATEWAY_PASSWORD and infers password mode', async () => {
      const server = await startBare({
        config: { gateway: ENABLED },
        env: { OPENCLAW_GATEWAY_PASSWORD: 'env-password' },
      })
      await assertOk(await post(server, bearer('env-password')))
      await assertUnauthorized(await post(server, bearer('env-token')))
    })

    it('prefers the token in the config over the environment', async () => {
      const server = await startBare({
        config: { gateway: { auth: { token: 'config-token' }, ...ENABLED } },
        env: { OPENCLAW_GATEWAY_TOKEN: 'env-token' },
      })
      await assertOk(await post(server, bearer('config-token')))
      await assertUnauthorized(await post(server, bearer('env-token')))
    })

    it('infers password mode when only a password is configured', async () => {
      const server = await startBare({
        config: { gateway: { auth: { password: 'pw-2' }, ...ENABLED } },
      })
      await assertOk(await post(server, bearer('pw-2')))
      await assertUnauthorized(await post(server, bearer('pw-3')))
    })

    it('infers password mode when both a token and a password are configured', async () => {
      const server = await startBare({
        config: { gateway: { auth: { token: 'tok-2', password: 'pw-2' }, ...ENABLED } },
      })
      await assertOk(await post(server, bearer('pw-2')))
      await assertUnauthorized(await post(server, bearer('tok-2')))
    })

    it('infers token mode when only a token comes from the environment', async () => {
      const server = await startBare({
        config: { gateway: ENABLED },
        env: { OPENCLAW_GATEWAY_TOKEN: 'env-token' },
      })
      await assertOk(await post(server, bearer('env-token')))
    })
  })
})
