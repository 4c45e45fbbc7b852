import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  conformanceConfig,
  configFile,
  CONFORMANCE_TOKEN,
  describeConformance,
  spawnServer,
  type Target,
} from '../test/conformance.ts'
import { sseChunks, sseData } from '../test/helpers.ts'

// Built by `npm run build:bin` (test:runtimes does it first). Missing means a failure, not a skip.
const BINARY = 'build/gateway-chat-completions'

const startBinary = async (config: unknown) => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build:bin`)
  const dir = mkdtempSync(join(tmpdir(), 'gcc-bun-'))
  const path = join(dir, 'config.json5')
  writeFileSync(path, JSON.stringify(config))
  return spawnServer(BINARY, ['serve', '--config', path, '--port', '0'], () =>
    rmSync(dir, { recursive: true, force: true })
  )
}

describeConformance('the Bun single binary', async ({ enabled }) => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build:bin`)
  const file = configFile(enabled)
  return spawnServer(BINARY, ['serve', '--config', file.path, '--port', '0'], file.cleanup)
})

describe('the Bun single binary with heartbeats off', () => {
  let server: Target
  before(async () => {
    const config = conformanceConfig(true) as any
    config.gateway.http.endpoints.chatCompletions.heartbeatSeconds = 0
    server = await startBinary(config)
  })
  after(() => server?.close())

  // Bun.serve's default idle timeout is 10 s: past it, a silent stream would be cut.
  it('still answers a stream whose agent is silent for 15 seconds', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CONFORMANCE_TOKEN}` },
      body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: '/stall 15000' }] }),
    })
    const text = await res.text()
    assert.equal(sseData(text).at(-1), '[DONE]')
    const content = sseChunks(text)
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('')
    assert.equal(content, '/stall 15000')
  })
})

describe('the Bun single binary on a bad command line or config', () => {
  /** Runs the binary to its exit; its output must be our message, never bundle source. */
  const run = (args: string[], config?: unknown) => {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build:bin`)
    const dir = mkdtempSync(join(tmpdir(), 'gcc-bun-'))
    try {
      const path = join(dir, 'config.json5')
      writeFileSync(path, JSON.stringify(config ?? conformanceConfig(true)))
      const env = { ...process.env }
      delete env.OPENCLAW_GATEWAY_TOKEN
      delete env.OPENCLAW_CONFIG_PATH
      const result = spawnSync(BINARY, ['serve', '--config', path, '--port', '0', ...args], {
        encoding: 'utf8',
        env,
        timeout: 30_000,
      })
      return { status: result.status, stdout: result.stdout, stderr: result.stderr }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  it('exits 2 naming --host for a host that is not an address', () => {
    const { status, stdout, stderr } = run(['--host', 'no.such.host'])
    assert.equal(status, 2)
    assert.equal(
      stderr,
      'gateway-chat-completions: --host: must be loopback, lan, localhost or an IP address ' +
        '(got "no.such.host")\n'
    )
    assert.equal(stdout, '')
  })

  it('exits 2 naming gateway.bind for a bind that is not an address', () => {
    const config = conformanceConfig(true) as any
    config.gateway.bind = 'no.such.host'
    const { status, stderr } = run([], config)
    assert.equal(status, 2)
    assert.equal(
      stderr,
      'gateway-chat-completions: invalid config: gateway.bind: must be loopback, lan, auto, ' +
        'custom, tailnet, localhost or an IP address (got "no.such.host")\n'
    )
  })

  it('exits 2 with a did-you-mean for an unknown option', () => {
    const { status, stderr } = run(['--prot', '1'])
    assert.equal(status, 2)
    assert.match(
      stderr,
      /^gateway-chat-completions: unknown option --prot; did you mean --port\?\n\nUsage:/
    )
  })
})
