/**
 * Bare Hono plus what our contract makes every answer carry, and nothing of our pipeline: the
 * headers (request id, the two safety headers, agent, session key, `Server-Timing`) and the
 * request-log line, made with our own logger and ids (`dist/`, so `npm run build` first). What
 * ours spends above this server is the pipeline's cost (auth, parse, validate, route, lock, turn,
 * answer); what this server spends above bare Hono is the contract's. A reference for
 * `bench/side-by-side.ts --floor`, not a baseline of the targets. Non-stream answers only.
 *
 * Usage: node bench/contract-floor-server.ts [port]
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { answer, TOKEN, UNAUTHORIZED } from './answer.ts'

// The built package, loaded as bench/pipeline.ts loads it.
const built = (path: string) => import(new URL(`../dist/${path}`, import.meta.url).href)
const { randomUuid } = await built('core/random-id.js')
const logger = (await built('runtimes/logger.js')).createLogger({ level: 'info', format: 'json' })
const ms = (t: number) => Math.round(t * 100) / 100

const app = new Hono()
app.post('/v1/chat/completions', async (c) => {
  const start = performance.now()
  if (c.req.header('authorization') !== `Bearer ${TOKEN}`) {
    return c.body(UNAUTHORIZED, 401, { 'content-type': 'application/json' })
  }
  const body = await c.req.json()
  const runStart = performance.now()
  const json = (await answer(body)).json()
  const requestId: string = randomUuid()
  const session = `agent:main:openai:${randomUuid()}`
  const now = performance.now()
  // A plain record, as ours passes it: more than one header through `c.body()` makes a `Headers`.
  const headers = {
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-type': 'application/json; charset=utf-8',
    'x-openclaw-agent-id': 'main',
    'x-openclaw-session-key': session,
    'server-timing': `total;dur=${ms(now - start)}, agent;dur=${ms(now - runStart)}`,
  }
  logger.request({
    method: 'POST',
    path: '/v1/chat/completions',
    status: 200,
    outcome: 'completed',
    durationMs: ms(now - start),
    ttfbMs: undefined,
    bytesOut: json.length,
    stream: false,
    agent: 'main',
    session,
    requestId,
    runId: `chatcmpl-${requestId}`,
    client: '127.0.0.1',
    key: undefined,
  })
  return new Response(json, { status: 200, headers })
})

serve({ fetch: app.fetch, port: Number(process.argv[2] ?? 0), hostname: '127.0.0.1' }, (info) =>
  console.log(`contract floor listening on http://127.0.0.1:${info.port}`)
)
process.on('SIGTERM', () => {
  logger.flush()
  process.exit(0)
})
