import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createChatCompletionsApp } from '../src/index.ts'
import { defaultMountMatch, mount, nodeClientAddress } from '../src/runtimes/node.ts'
import { conformanceConfig, configFile, describeConformance, spawnServer } from './conformance.ts'

describeConformance('the Node CLI', async ({ enabled }) => {
  const file = configFile(enabled)
  return spawnServer(
    'node',
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', file.path, '--port', '0'],
    file.cleanup
  )
})

describeConformance('a host node:http server with the app mounted', async ({ enabled }) => {
  const server = createServer((_req, res) => res.end('host'))
  const app = createChatCompletionsApp({
    config: conformanceConfig(enabled),
    clientAddress: nodeClientAddress,
  })
  // The scenarios read the run counts from /health/details, which a host must opt into.
  mount(server, app, { match: (p) => defaultMountMatch(p) || p.startsWith('/health') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
})
