import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import type { AgentEvent } from '../src/index.ts'
import { chat, probeBackend, startServer, userMessage, type TestServer } from './helpers.ts'

const SDK_HEADERS = [
  'authorization',
  'content-type',
  'x-stainless-os',
  'x-stainless-lang',
  'x-stainless-retry-count',
  'openai-organization',
  'openai-project',
  'x-request-id',
]

const preflight = (server: TestServer, origin: string) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': SDK_HEADERS.join(','),
    },
  })

describe('CORS', () => {
  it('is off by default: no CORS headers, and a preflight is not answered', async () => {
    const server = await startServer()
    try {
      const res = await preflight(server, 'https://app.example.com')
      assert.equal(res.status, 405)
      assert.equal(res.headers.get('access-control-allow-origin'), null)
      const post = await chat(server, userMessage('hi'), { origin: 'https://app.example.com' })
      assert.equal(post.headers.get('access-control-allow-origin'), null)
    } finally {
      await server.close()
    }
  })

  describe('with an origin allowlist', () => {
    let server: TestServer
    before(async () => {
      server = await startServer({
        config: { gateway: { http: { cors: { allowedOrigins: ['https://app.example.com'] } } } },
      })
    })
    after(() => server.close())

    it('answers a preflight without auth and allows the headers the official SDK sends', async () => {
      const res = await preflight(server, 'https://app.example.com')
      assert.equal(res.status, 204)
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/)
      const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase()
      for (const header of SDK_HEADERS) assert.ok(allowed.includes(header), header)
      assert.equal(res.headers.get('access-control-allow-credentials'), null)
      // A preflight is an answer too: it carries the headers every answer has.
      assert.ok(res.headers.get('x-request-id'))
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff')
    })

    it('gives no allow-origin to an origin that is not on the list', async () => {
      const res = await preflight(server, 'https://evil.example.com')
      assert.equal(res.headers.get('access-control-allow-origin'), null)
    })

    it('still needs the token for the real request, and exposes x-request-id', async () => {
      const origin = { origin: 'https://app.example.com' }
      const denied = await chat(server, userMessage('hi'), { ...origin, authorization: '' })
      assert.equal(denied.status, 401)
      const res = await chat(server, userMessage('hi'), origin)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com')
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/)
      assert.equal(res.headers.get('access-control-allow-credentials'), null)
    })
  })

  it('never allows credentials, even with "*"', async () => {
    const server = await startServer({
      config: { gateway: { http: { cors: { allowedOrigins: ['*'] } } } },
    })
    try {
      const res = await preflight(server, 'https://anywhere.example.com')
      assert.equal(res.headers.get('access-control-allow-origin'), '*')
      assert.equal(res.headers.get('access-control-allow-credentials'), null)
    } finally {
      await server.close()
    }
  })
})

describe('the failed-auth lockout behind a proxy', () => {
  const limit = { maxAttempts: 1, windowMs: 60_000, lockoutMs: 60_000, exemptLoopback: false }
  const wrong = (server: TestServer, forwardedFor?: string) =>
    chat(server, userMessage('x'), {
      authorization: 'Bearer wrong',
      ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
    })

  it('keys on X-Forwarded-For only when the connection comes from a trusted proxy', async () => {
    const server = await startServer({
      config: { gateway: { auth: { rateLimit: limit }, trustedProxies: ['127.0.0.1'] } },
    })
    try {
      assert.equal((await wrong(server, '203.0.113.7')).status, 401)
      assert.equal((await wrong(server, '203.0.113.7')).status, 429)
      // Another client behind the same proxy is not locked out by the first one's failures.
      assert.equal((await wrong(server, '203.0.113.8')).status, 401)
      // A client cannot slip out by prepending a forged address: the rightmost untrusted wins.
      assert.equal((await wrong(server, '198.51.100.1, 203.0.113.7')).status, 429)
    } finally {
      await server.close()
    }
  })

  it('ignores X-Forwarded-For from a connection that is not a trusted proxy', async () => {
    const server = await startServer({ config: { gateway: { auth: { rateLimit: limit } } } })
    try {
      assert.equal((await wrong(server, '203.0.113.7')).status, 401)
      // Same socket address (127.0.0.1), so the lockout holds whatever the header claims.
      assert.equal((await wrong(server, '203.0.113.99')).status, 429)
    } finally {
      await server.close()
    }
  })
})

describe('secrets and internals stay out of answers and logs', () => {
  const SECRET = 'sk-very-secret-token-1234567890'
  let server: TestServer
  const logs: string[] = []
  const log = (message: string, err?: unknown) => {
    logs.push(
      `${message} ${err instanceof Error ? `${err.message}\n${err.stack}` : String(err ?? '')}`
    )
  }
  const probe = probeBackend(async function* (input) {
    if (input.message.includes('crash')) throw new Error(`backend exploded near ${SECRET}`)
    yield { type: 'done', text: 'ok' } satisfies AgentEvent
  })

  before(async () => {
    server = await startServer({
      backend: probe.backend,
      config: { gateway: { auth: { token: SECRET } } },
      logger: { info: log, warn: log, error: log },
    })
  })
  after(() => server.close())

  it('never sends the secret or a stack trace back, whatever the failure', async () => {
    const answers = await Promise.all([
      chat(server, userMessage('x'), { authorization: `Bearer ${SECRET.slice(0, -1)}` }),
      chat(server, userMessage('x'), { authorization: `Bearer ${SECRET}x` }),
      chat(server, userMessage('x'), { authorization: '' }),
      chat(server, userMessage('crash'), { authorization: `Bearer ${SECRET}` }),
      chat(
        server,
        { stream: true, ...userMessage('crash') },
        { authorization: `Bearer ${SECRET}` }
      ),
      chat(server, '{bad json', { authorization: `Bearer ${SECRET}` }),
    ])
    const statuses = answers.map((r) => r.status)
    assert.deepEqual(statuses, [401, 401, 401, 500, 200, 400])
    for (const res of answers) {
      const text = await res.text()
      assert.ok(!text.includes(SECRET), text)
      assert.ok(!text.includes('exploded'), text)
      assert.doesNotMatch(text, /\n\s+at /, 'no stack trace')
    }
  })

  it('logs the backend failure for the operator, but never the bearer secret', () => {
    const joined = logs.join('\n')
    assert.match(joined, /backend failed/)
    assert.ok(!joined.includes(`Bearer ${SECRET}`))
    // The only place the secret appears is the backend's own error text, which is its business.
    assert.ok(!joined.replaceAll(`near ${SECRET}`, '').includes(SECRET))
  })
})

describe('auth mode none', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gcc-security-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('must be explicit: without a secret, token mode refuses to start', async () => {
    const file = join(dir, 'no-secret.json5')
    await writeFile(
      file,
      '{ gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } }'
    )
    const env = { ...process.env }
    delete env.OPENCLAW_GATEWAY_TOKEN
    delete env.OPENCLAW_GATEWAY_PASSWORD
    const child = spawn(
      'node',
      ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', file, '--port', '0'],
      { env }
    )
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const code = await new Promise((resolve) => child.once('exit', resolve))
    assert.equal(code, 2)
    assert.match(stderr, /gateway\.auth\.token/)
  })

  it('is announced loudly at start when bound to a non-loopback address', async () => {
    const file = join(dir, 'none.json5')
    await writeFile(
      file,
      '{ gateway: { auth: { mode: "none" }, http: { endpoints: { chatCompletions: { enabled: true } } } } }'
    )
    const child = spawn(
      'node',
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'serve',
        '--config',
        file,
        '--port',
        '0',
        '--host',
        '0.0.0.0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    const exited = new Promise((resolve) => child.once('exit', resolve))
    const warning = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (/WARNING/.test(line)) resolve(line)
      })
      exited.then(() => reject(new Error('the CLI exited before warning')))
    })
    assert.match(warning, /auth mode 'none' on 0\.0\.0\.0/)
    child.kill('SIGTERM')
    await exited
  })
})
