import { existsSync, readFileSync } from 'node:fs'
import { Miniflare } from 'miniflare'
import {
  CONFORMANCE_HEARTBEAT_SECONDS,
  CONFORMANCE_TOKEN,
  describeConformance,
} from '../test/conformance.ts'

// Bundled by `npm run build:worker` (test:runtimes does it first), exactly as wrangler deploys it.
const SCRIPT = 'dist/worker/worker.js'

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
