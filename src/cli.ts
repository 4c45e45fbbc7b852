#!/usr/bin/env node
/** The Node CLI: `gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]`. */
import { main } from './runtimes/cli.ts'
import {
  nodeBackendRuntime,
  nodeClientAddress,
  nodeWatchClient,
  serve,
} from './runtimes/node-server.ts'

main(process.argv.slice(2), {
  serve,
  clientAddress: nodeClientAddress,
  watchClient: nodeWatchClient,
  backendRuntime: nodeBackendRuntime(),
})
