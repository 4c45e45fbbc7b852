import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Miniflare } from 'miniflare'
import {
  CONFORMANCE_HEARTBEAT_SECONDS,
  CONFORMANCE_TOKEN,
  describeConformance,
} from '../test/conformance.ts'
import { freePort } from '../test/free-port.ts'

// Bundled by `npm run build:worker` (test:runtimes does it first), exactly as wrangler deploys it.
const SCRIPT = 'build/worker/worker.js'

// The same compatibility settings wrangler.toml gives the deployed worker.
const toml = readFileSync('wrangler.toml', 'utf8')
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)![1]
const compatibilityFlags = JSON.parse(/^compatibility_flags\s*=\s*(\[.*\])/m.exec(toml)![1])

describeConformance(
  'workerd (Miniflare)',
  async ({ enabled }) => {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run npm run build:worker`)
    const mf = new Miniflare({
      modules: true,
      scriptPath: SCRIPT,
      compatibilityDate,
      compatibilityFlags,
      host: '127.0.0.1',
      port: 0,
      // Config as a deployment gives it: vars plus the token as a secret.
      bindings: {
        OPENCLAW_CHAT_COMPLETIONS_ENABLED: String(enabled),
        OPENCLAW_RESPONSES_ENABLED: String(enabled),
        OPENCLAW_AUTH_MODE: 'token',
        OPENCLAW_AGENTS: 'main,beta',
        OPENCLAW_BACKEND: '{"type": "echo"}',
        OPENCLAW_GATEWAY_TOKEN: CONFORMANCE_TOKEN,
        OPENCLAW_CONFIG: JSON.stringify({
          gateway: {
            http: {
              endpoints: {
                chatCompletions: { heartbeatSeconds: CONFORMANCE_HEARTBEAT_SECONDS },
                responses: { heartbeatSeconds: CONFORMANCE_HEARTBEAT_SECONDS },
              },
            },
          },
        }),
      },
    })
    const url = await mf.ready
    return { url: url.origin, close: () => mf.dispose() }
  },
  {
    seesIdleDisconnect: false,
    losesEarlyAnswers:
      'local workerd closes with the body unread, and some clients lose the answer to the reset; ' +
      "on Cloudflare the edge, not the worker, holds the client's connection",
    refusesBadHosts:
      'Miniflare answers a plain 500 itself before the worker runs; on Cloudflare the Host ' +
      'header picks the zone, so such a request never reaches the worker',
  }
)

/** The vars wrangler.toml deploys (`[vars]`), as Miniflare bindings. */
const deployedVars = () => {
  const section = /^\[vars\]\n([\s\S]*?)(?:\n\[|$)/m.exec(toml)![1]
  const vars: Record<string, string> = {}
  for (const [, name, double, single] of section.matchAll(
    /^(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')/gm
  )) {
    vars[name] = double ?? single
  }
  return vars
}

describe('the worker bundle as deployed', () => {
  it('without the token secret, answers 500 saying how to set it', async () => {
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run npm run build:worker`)
    const mf = new Miniflare({
      modules: true,
      scriptPath: SCRIPT,
      compatibilityDate,
      compatibilityFlags,
      bindings: deployedVars(),
    })
    try {
      const res = await mf.dispatchFetch('https://gcc.example.workers.dev/v1/models', {
        headers: { authorization: 'Bearer local-dev-token' },
      })
      assert.equal(res.status, 500)
      const { error } = (await res.json()) as { error: { message: string } }
      assert.equal(
        error.message,
        'The gateway is misconfigured: the secret OPENCLAW_GATEWAY_TOKEN is not set ' +
          '(`npx wrangler secret put OPENCLAW_GATEWAY_TOKEN`).'
      )
    } finally {
      await mf.dispose()
    }
  })
})

describe('npm run dev:worker', () => {
  it('serves a fresh clone with the local default token, on loopback', async () => {
    const port = await freePort()
    // An empty env file stands in for a clone's missing .dev.vars (a developer's own is skipped).
    const dir = mkdtempSync(join(tmpdir(), 'gcc-dev-worker-'))
    const envFile = join(dir, 'empty.env')
    writeFileSync(envFile, '')
    const child = spawn(
      'npm',
      ['run', 'dev:worker', '--', '--port', String(port), '--env-file', envFile],
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let output = ''
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      await new Promise<void>((resolve, reject) => {
        const read = (chunk: Buffer) => {
          output += chunk
          if (/Ready on http:\/\/127\.0\.0\.1:\d+/.test(output)) resolve()
        }
        child.stdout!.on('data', read)
        child.stderr!.on('data', read)
        exited.then(() => reject(new Error(`wrangler dev exited before it was ready:\n${output}`)))
      })
      const ask = (token: string) =>
        fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: 'hi from dev' }] }),
        })
      const res = await ask('local-dev-token')
      const text = await res.text()
      assert.equal(res.status, 200, text)
      assert.equal(JSON.parse(text).choices[0].message.content, 'hi from dev')
      const wrong = await ask('not-the-token')
      assert.equal(wrong.status, 401)
      await wrong.body?.cancel()
    } finally {
      // npm, wrangler and workerd share the group the child leads.
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
