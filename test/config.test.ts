/**
 * The config: strict where the keys are ours (a typo is an error that says what was meant), loose
 * where they are the gateway's, every problem reported at once in plain words, and `${VAR}`
 * placeholders expanded the same way in a file and in an object written in code.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gatewayConfig } from '../runtime-tests/openclaw/gateway.mjs'
import {
  ConfigError,
  createChatCompletionsApp,
  parseConfig,
  substituteEnv,
  type ConfigInput,
} from '../src/index.ts'

/** The problems `parseConfig` finds, as `path: reason` lines. */
const problems = (input: unknown, env = {}): string[] => {
  try {
    parseConfig(input, env)
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err.problems.map(({ path, reason }) => `${path}: ${reason}`)
  }
  return []
}

describe('the config', () => {
  describe('in the sections it owns', () => {
    it('refuses an unknown key, naming its path and the key it was meant to be', () => {
      const cases: [unknown, string][] = [
        [
          { gateway: { http: { endpoints: { chatCompletion: { enabled: true } } } } },
          'gateway.http.endpoints.chatCompletion: unknown key; did you mean chatCompletions?',
        ],
        [
          { gateway: { auth: { tokne: 'secret' } } },
          'gateway.auth.tokne: unknown key; did you mean token?',
        ],
        [
          { gateway: { auth: { rateLimit: { maxAtempts: 3 } } } },
          'gateway.auth.rateLimit.maxAtempts: unknown key; did you mean maxAttempts?',
        ],
        [
          { gateway: { auth: { trustedProxy: { userHeader: 'x-user', allowUser: [] } } } },
          'gateway.auth.trustedProxy.allowUser: unknown key; did you mean allowUsers?',
        ],
        [
          { gateway: { http: { cors: { allowedOrigin: ['https://a.example'] } } } },
          'gateway.http.cors.allowedOrigin: unknown key; did you mean allowedOrigins?',
        ],
        [
          { gateway: { http: { endpoints: { responses: { files: { pdf: { maxPage: 2 } } } } } } },
          'gateway.http.endpoints.responses.files.pdf.maxPage: unknown key; did you mean maxPages?',
        ],
        [
          { backend: { type: 'openai', baseUrl: 'http://x/v1', model: 'm', apikey: 'k' } },
          'backend.apikey: unknown key; did you mean apiKey?',
        ],
        [
          { backend: { type: 'gateway', sesions: {} } },
          'backend.sesions: unknown key; the keys here are type, url, token, password, ' +
            'deviceIdentity, connectTimeoutMs, clientTools',
        ],
        [{ agents: { lists: [] } }, 'agents.lists: unknown key; did you mean list?'],
        [
          { agents: { $include: './agents.json5' } },
          "agents.$include: the gateway's $include is not read here: write this section's keys " +
            'in the file itself',
        ],
      ]
      for (const [input, message] of cases) assert.deepEqual(problems(input), [message])
    })

    it('reports every problem in one pass, keeping .path and .reason for the first', () => {
      const input = {
        gateway: {
          port: 'x',
          auth: { mode: 'sometimes', tokne: 'secret', rateLimit: 'yes' },
          http: { endpoints: { chatCompletion: {}, responses: { maxBodyBytes: 1.5 } } },
        },
        backend: { type: 'openai' },
      }
      assert.deepEqual(problems(input), [
        'gateway.port: must be a number (got "x")',
        'gateway.auth.mode: must be one of "token", "password", "none" or "trusted-proxy" ' +
          '(got "sometimes")',
        'gateway.auth.rateLimit: must be false or an object (got "yes")',
        'gateway.auth.tokne: unknown key; did you mean token?',
        'gateway.http.endpoints.responses.maxBodyBytes: must be a whole number (got 1.5)',
        'gateway.http.endpoints.chatCompletion: unknown key; did you mean chatCompletions?',
        'backend.baseUrl: is required',
        'backend.model: is required',
      ])
      const err = (() => {
        try {
          parseConfig(input)
        } catch (e) {
          return e as ConfigError
        }
      })()!
      assert.equal(err.path, 'gateway.port')
      assert.equal(err.reason, 'must be a number (got "x")')
      assert.equal(err.message.split('\n').length, 8)
    })

    it('words the validator’s complaints plainly, never showing a secret', () => {
      assert.deepEqual(
        problems({
          gateway: {
            http: { endpoints: { chatCompletions: { enabled: 'yes', heartbeatSeconds: -1 } } },
            auth: { token: 12345 },
            bind: 5,
          },
          backend: { type: 'foo' },
        }),
        [
          'gateway.bind: must be a string (got 5)',
          'gateway.auth.token: must be a string (got a number)',
          'gateway.http.endpoints.chatCompletions.enabled: must be true or false (got "yes")',
          'gateway.http.endpoints.chatCompletions.heartbeatSeconds: must be at least 0 (got -1)',
          'backend.type: must be one of "echo", "gateway" or "openai" (got "foo")',
        ]
      )
      for (const line of problems({ gateway: { port: 1e6, trustedProxies: ['x'] } })) {
        assert.doesNotMatch(line, /Invalid (type|key|value)|Expected|received/)
      }
    })

    it('checks gateway.bind: loopback, lan, the gateway’s other modes, or an IP address', () => {
      for (const bind of ['loopback', 'lan', 'auto', 'tailnet', '127.0.0.1', '::1', 'localhost']) {
        assert.deepEqual(problems({ gateway: { bind } }), [], bind)
      }
      assert.deepEqual(problems({ gateway: { bind: 'my-host' } }), [
        'gateway.bind: must be loopback, lan, auto, custom, tailnet, localhost or an IP address ' +
          '(got "my-host")',
      ])
      assert.deepEqual(problems({ gateway: { bind: 'custom' } }), [
        "gateway.customBindHost: is required when gateway.bind is 'custom' (the IP address to " +
          'listen on)',
      ])
      assert.deepEqual(problems({ gateway: { bind: 'custom', customBindHost: '10.0.0.5' } }), [])
    })
  })

  describe('in the gateway’s own sections', () => {
    it('accepts what the real-gateway test gives the gateway', () => {
      const base = { port: 18789, token: 't', mockUrl: 'http://127.0.0.1:1', logFile: '/tmp/log' }
      assert.deepEqual(problems(gatewayConfig(base)), [])
      const explicit = gatewayConfig({
        ...base,
        auth: { mode: 'none' },
        agents: { ownership: 'explicit', entries: { main: {}, beta: {} } },
      })
      assert.deepEqual(problems(explicit), [])
      assert.deepEqual(
        parseConfig(explicit).agents.list.map((a) => a.id),
        ['main', 'beta']
      )
    })

    it('accepts a full OpenClaw config, the gateway’s keys in our sections included', () => {
      // From OpenClaw 2026.9.6's docs (gateway/configuration-examples.md, the expanded example),
      // plus every key its schema has in the sections we own.
      const config = {
        env: { vars: { OPENROUTER_API_KEY: 'sk-or-...' }, shellEnv: { enabled: true } },
        auth: { profiles: { 'anthropic:default': { provider: 'anthropic', mode: 'api_key' } } },
        logging: { level: 'info', file: '/tmp/openclaw/openclaw.log', consoleStyle: 'pretty' },
        channels: { telegram: { enabled: true, botToken: 'YOUR_TELEGRAM_BOT_TOKEN' } },
        agents: {
          defaults: {
            workspace: '~/.openclaw/workspace',
            model: { primary: 'anthropic/claude-sonnet-4-6', fallbacks: ['openai/gpt-5.4'] },
            skills: ['github', 'weather'],
            timeoutSeconds: 600,
            sandbox: { mode: 'non-main', docker: { image: 'openclaw-sandbox:bookworm-slim' } },
          },
          entries: {
            main: { default: true, identity: { name: 'Samantha', emoji: '🦥' } },
            quick: { skills: [], fastModeDefault: true, thinkingDefault: 'off' },
          },
        },
        // A placeholder for a key this server never reads: unset, and no problem.
        memory: { search: { provider: 'gemini', remote: { apiKey: '${GEMINI_API_KEY}' } } },
        models: { mode: 'merge', providers: { custom: { baseUrl: 'http://localhost:4000/v1' } } },
        hooks: { enabled: true, token: 'shared-secret', gmail: { serve: { bind: '127.0.0.1' } } },
        gateway: {
          mode: 'local',
          port: 18789,
          bind: 'loopback',
          controlUi: { enabled: true, basePath: '/openclaw' },
          auth: {
            mode: 'token',
            token: 'gateway-token',
            allowTailscale: true,
            identityScopes: { 'alice@example.com': ['operator.read'] },
            rateLimit: { maxAttempts: 10, windowMs: 60000, lockoutMs: 300000 },
          },
          tailscale: { mode: 'serve' },
          remote: { url: 'ws://gateway-host.ts.net:18789', token: '${REMOTE_TOKEN}' },
          reload: { mode: 'hybrid' },
          http: {
            endpoints: {
              chatCompletions: { enabled: true, images: { allowUrl: false, maxBytes: 1024 } },
              responses: {
                enabled: true,
                maxUrlParts: 4,
                files: { maxChars: 1000, pdf: { maxPages: 2, maxPixels: 1000, minTextChars: 1 } },
                images: { urlAllowlist: ['images.example.com'] },
              },
            },
            securityHeaders: { strictTransportSecurity: false },
          },
        },
      }
      assert.deepEqual(problems(config), [])
      const parsed = parseConfig(config)
      assert.deepEqual(
        parsed.agents.list.map((a) => a.id),
        ['main', 'quick']
      )
      assert.equal(parsed.gateway.auth.token, 'gateway-token')
      // Accepted, never carried along.
      assert.equal(parsed.gateway.auth.identityScopes, undefined)

      const proxied = {
        gateway: {
          auth: {
            mode: 'trusted-proxy',
            trustedProxy: {
              userHeader: 'x-forwarded-user',
              cloudflareAccessOidc: { issuer: 'https://team.cloudflareaccess.com' },
              deviceAutoApprove: { enabled: false },
            },
          },
        },
      }
      assert.deepEqual(problems(proxied), [])
    })
  })

  describe('placeholders', () => {
    const TOKEN = { gateway: { auth: { token: '${OPENCLAW_GATEWAY_TOKEN:-local-dev-token}' } } }

    it('are expanded in a config object written in code, as in a file', () => {
      assert.equal(parseConfig(TOKEN).gateway.auth.token, 'local-dev-token')
      const env = { OPENCLAW_GATEWAY_TOKEN: 'from-env' }
      assert.equal(parseConfig(TOKEN, env).gateway.auth.token, 'from-env')
      const { backend } = parseConfig(
        { backend: { type: 'gateway', url: 'ws://${HOST}:18789' } },
        { HOST: 'gw' }
      )
      assert.equal(backend.type === 'gateway' && backend.url, 'ws://gw:18789')
      assert.equal(
        parseConfig({ gateway: { auth: { token: '$${NOT_A_VAR}' } } }).gateway.auth.token,
        '${NOT_A_VAR}'
      )
    })

    it('never leave a literal secret in the app: the default, or the variable', async () => {
      const ask = (app: ReturnType<typeof createChatCompletionsApp>, token: string) =>
        app.request('/v1/models', { headers: { authorization: `Bearer ${token}` } })
      const enabled = {
        gateway: { ...TOKEN.gateway, http: { endpoints: { chatCompletions: { enabled: true } } } },
      } as ConfigInput
      const app = createChatCompletionsApp({ config: enabled })
      assert.equal(app.config.gateway.auth.token, 'local-dev-token')
      assert.equal((await ask(app, 'local-dev-token')).status, 200)
      assert.equal((await ask(app, TOKEN.gateway.auth.token)).status, 401)
      const fromEnv = createChatCompletionsApp({
        config: enabled,
        env: { OPENCLAW_GATEWAY_TOKEN: 'from-env' },
      })
      assert.equal((await ask(fromEnv, 'from-env')).status, 200)
      assert.equal((await ask(fromEnv, 'local-dev-token')).status, 401)
    })

    it('with an unset variable and no default are refused where the value is used', () => {
      const config = {
        gateway: { auth: { token: '${GCC_UNSET_TOKEN}' } },
        backend: { type: 'openai', baseUrl: '${GCC_UNSET_URL}/v1', model: 'm' },
        memory: { apiKey: '${GCC_UNSET_ELSEWHERE}' },
      }
      assert.deepEqual(problems(config), [
        'gateway.auth.token: environment variable GCC_UNSET_TOKEN is not set (write ' +
          '${GCC_UNSET_TOKEN:-default} to give a default)',
        'backend.baseUrl: environment variable GCC_UNSET_URL is not set (write ' +
          '${GCC_UNSET_URL:-default} to give a default)',
      ])
      assert.throws(() => createChatCompletionsApp({ config: config as ConfigInput, env: {} }), {
        name: 'ConfigError',
        message: /^gateway\.auth\.token: environment variable GCC_UNSET_TOKEN is not set/,
      })
    })

    it('are expanded once: a parsed config is taken as it is', () => {
      const parsed = parseConfig(
        { gateway: { auth: { token: '${T}' } } },
        { T: 'has ${ODD} chars' }
      )
      assert.equal(parseConfig(parsed).gateway.auth.token, 'has ${ODD} chars')
      const app = createChatCompletionsApp({ config: parsed })
      assert.equal(app.config.gateway.auth.token, 'has ${ODD} chars')
    })

    it('substituteEnv lists every unset variable', () => {
      assert.throws(
        () => substituteEnv({ a: '${GCC_A}', b: ['${GCC_B}'] }, {}),
        (err) => {
          assert.ok(err instanceof ConfigError)
          assert.deepEqual(
            err.problems.map((p) => p.path),
            ['a', 'b[0]']
          )
          return true
        }
      )
    })
  })
})
