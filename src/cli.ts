#!/usr/bin/env node
/** The Node CLI: `gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]`. */
import module from 'node:module'

// Node 22.1+ keeps the code it compiled for each module in a cache on disk (in the temporary
// directory; `NODE_DISABLE_COMPILE_CACHE=1` turns it off), so every start after the first
// reaches its first answer ~10 % sooner (bench/notes.md). It covers only modules loaded after it
// is on: the rest of the CLI is imported below, not above. Node 20 has no such cache.
const { enableCompileCache } = module as { enableCompileCache?: () => unknown }
enableCompileCache?.()

const { main } = await import('./runtimes/cli.ts')
const { nodeBackendRuntime, nodeClientAddress, nodeWatchClient, serve } =
  await import('./runtimes/node-server.ts')

main(process.argv.slice(2), {
  serve,
  clientAddress: nodeClientAddress,
  watchClient: nodeWatchClient,
  backendRuntime: nodeBackendRuntime(),
})
