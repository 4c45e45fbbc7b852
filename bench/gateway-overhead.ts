/**
 * What the gateway backend adds over calling the gateway's `agent` method directly: the real
 * OpenClaw gateway (as `npm run test:openclaw` installs it) with its mock model, and one turn
 * at a time three ways, alternating round by round:
 * - direct: a minimal WebSocket client that connects once and sends `agent` as our backend does;
 * - ours: `POST /v1/chat/completions` on our server with the gateway backend;
 * - the gateway's own `/v1/chat/completions`, for context.
 * Each turn is a new session. The median turn time of each is reported.
 */
import { spawn } from 'node:child_process'
import WebSocket from 'ws'
import { TOKEN as OUR_TOKEN } from './answer.ts'
import { benchConfig, median, startServer } from './lib.ts'
// @ts-expect-error: plain .mjs modules without types
import { startGateway } from '../runtime-tests/openclaw/gateway.mjs'
// @ts-expect-error: plain .mjs modules without types
import { startMockModel } from '../runtime-tests/openclaw/mock-model.mjs'
// @ts-expect-error: plain .mjs modules without types
import { paths, setup } from '../runtime-tests/openclaw/setup.mjs'

/** The least a client does to run a turn: connect once, then `agent` and its final `res`. */
const directClient = async (wsUrl: string, token: string) => {
  const ws = new WebSocket(wsUrl)
  let next = 1
  const waiting = new Map<string, { resolve: (f: any) => void; acks: number }>()
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data))
    if (frame.type !== 'res') return
    const wait = waiting.get(frame.id)
    if (!wait) return
    // `agent` answers twice: an ack, then the result.
    if (frame.payload?.status === 'accepted' && wait.acks++ === 0) return
    waiting.delete(frame.id)
    wait.resolve(frame)
  })
  const call = (method: string, params: unknown) =>
    new Promise<any>((resolve) => {
      const id = String(next++)
      waiting.set(id, { resolve, acks: method === 'agent' ? 0 : 1 })
      ws.send(JSON.stringify({ type: 'req', id, method, params }))
    })
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve())
    ws.once('error', reject)
  })
  const hello = await call('connect', {
    minProtocol: 4,
    maxProtocol: 4,
    client: { id: 'gateway-client', version: '1.0.0', platform: 'linux', mode: 'backend' },
    role: 'operator',
    scopes: ['operator.admin', 'operator.read', 'operator.write'],
    caps: [],
    auth: { token },
  })
  if (!hello.ok) throw new Error(`direct connect failed: ${JSON.stringify(hello.error)}`)
  return {
    turn: async (message: string) => {
      const runId = crypto.randomUUID()
      const res = await call('agent', {
        message,
        idempotencyKey: runId,
        agentId: 'main',
        sessionKey: `agent:main:openai:${runId}`,
        channel: 'webchat',
        deliver: false,
      })
      if (!res.ok) throw new Error(`direct agent failed: ${JSON.stringify(res.error)}`)
    },
    close: () => ws.close(),
  }
}

const post = async (url: string, token: string, message: string) => {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openclaw', messages: [{ role: 'user', content: message }] }),
  })
  await res.text()
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`)
}

const timed = async (fn: () => Promise<void>) => {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

export const gatewayOverhead = async (rounds: number, turnsPerRound: number) => {
  setup()
  const mock = await startMockModel()
  const gateway = await startGateway({ mockUrl: mock.url })
  const ours = await startServer('ours', paths.node, [
    'dist/cli.js',
    'serve',
    '--config',
    benchConfig({}, { type: 'gateway', url: gateway.wsUrl, token: gateway.token }),
    '--port',
    '0',
  ])
  // Ours rides out the gateway's start-up itself; then the direct client can connect.
  for (let i = 0; i < 3; i++) await post(ours.url, OUR_TOKEN, 'warm up')
  const direct = await directClient(gateway.wsUrl, gateway.token)
  const ways = {
    direct: (m: string) => direct.turn(m),
    ours: (m: string) => post(ours.url, OUR_TOKEN, m),
    gatewayHttp: (m: string) => post(gateway.url, gateway.token, m),
  }
  try {
    const times: Record<keyof typeof ways, number[]> = { direct: [], ours: [], gatewayHttp: [] }
    // Warm-up: the first turns load the agent runtime.
    for (const way of Object.values(ways)) for (let i = 0; i < 3; i++) await way('warm up')
    for (let r = 0; r < rounds; r++) {
      for (const [name, way] of Object.entries(ways) as [keyof typeof ways, typeof ways.ours][]) {
        for (let i = 0; i < turnsPerRound; i++)
          times[name].push(await timed(() => way(`turn ${i}`)))
      }
    }
    return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<
      keyof typeof ways,
      number
    >
  } finally {
    direct.close()
    await ours.stop()
    await gateway.stop()
    await mock.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await gatewayOverhead(3, 10), null, 2))
  // Lingering handles of the gateway helpers must not keep the process up.
  spawn('true').once('exit', () => process.exit(0))
}
