import assert from 'node:assert/strict'
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
const BINARY = 'dist/gateway-chat-completions'

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
