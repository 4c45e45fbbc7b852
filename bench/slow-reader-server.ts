/**
 * Scenario 4's server: our app on Node with an agent that would stream 50 MB (64 KiB deltas,
 * as fast as it is asked). Prints `listening on <url>`, and `aborted after <bytes>` when the
 * run's signal fires.
 */
import { createChatCompletionsApp, type AgentEvent } from '../src/index.ts'
import { nodeClientAddress, serve } from '../src/runtimes/node.ts'
import { TOKEN } from './lib.ts'

const TOTAL = 50 * 1024 * 1024
const DELTA = 'x'.repeat(64 * 1024)

const app = createChatCompletionsApp({
  config: {
    gateway: {
      auth: { mode: 'token', token: TOKEN },
      http: { endpoints: { chatCompletions: { enabled: true, heartbeatSeconds: 0 } } },
    },
  },
  clientAddress: nodeClientAddress,
  backend: {
    async *run(_input, signal) {
      let sent = 0
      signal.addEventListener('abort', () => console.log(`aborted after ${sent}`), { once: true })
      while (sent < TOTAL && !signal.aborted) {
        yield { type: 'text', delta: DELTA } satisfies AgentEvent
        sent += DELTA.length
      }
      yield { type: 'done' } satisfies AgentEvent
    },
  },
})
const { url } = await serve(app, { port: 0 })
console.log(`listening on ${url}`)
