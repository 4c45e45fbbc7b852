import { existsSync } from 'node:fs'
import { configFile, describeConformance, spawnServer } from '../test/conformance.ts'

// Built by `npm run build:bin` (test:runtimes does it first). Missing means a failure, not a skip.
const BINARY = 'dist/gateway-chat-completions'

describeConformance('the Bun single binary', async ({ enabled }) => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build:bin`)
  const file = configFile(enabled)
  return spawnServer(BINARY, ['serve', '--config', file.path, '--port', '0'], file.cleanup)
})
