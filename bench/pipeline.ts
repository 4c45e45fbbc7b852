/**
 * The pipeline alone, in one process: the app's `fetch` against a bare Hono app doing the
 * baseline's job, with no socket, no load generator and no other process in between, so that a
 * change of a microsecond shows (the full runs move by several). 64 clients keep 64 requests in
 * flight. It is a tool for judging a change, not one of the targets: requests are undici's, which
 * cost more than `@hono/node-server`'s, and that cost is the same on both sides.
 *
 * Usage: node bench/pipeline.ts [--body short|history|long] [--rounds N] [DIST_DIR...]
 * (on Node 24; on Node 20 with `--import tsx`). Each DIST_DIR is a build of ours (default `.`,
 * the built `dist/`); several are compared side by side, rounds alternating.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { TOKEN } from './answer.ts'
import { BODIES, type BodyName } from './bodies.ts'
import { app as bareHono } from './hono-server.ts'
import { median } from './lib.ts'

type Fetch = (request: Request) => Response | Promise<Response>

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    body: { type: 'string', default: 'short' },
    rounds: { type: 'string', default: '6' },
    requests: { type: 'string', default: '64000' },
  },
})
const body = BODIES[values.body as BodyName]
if (!body) throw new Error(`--body is one of ${Object.keys(BODIES).join(', ')}`)
const requests = Number(values.requests)

const headers = {
  authorization: `Bearer ${TOKEN}`,
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(body)),
}
const request = () =>
  new Request('http://127.0.0.1:18789/v1/chat/completions', { method: 'POST', headers, body })

/** Ours from a build: the echo backend, the request log on (as JSON, written nowhere). */
const ours = async (dir: string): Promise<Fetch> => {
  const { createChatCompletionsApp } = await import(resolve(dir, 'dist/app.js'))
  const { createLogger } = await import(resolve(dir, 'dist/runtimes/logger.js'))
  const app = createChatCompletionsApp({
    config: {
      gateway: {
        auth: { mode: 'token', token: TOKEN },
        http: { endpoints: { chatCompletions: { enabled: true } } },
      },
      backend: { type: 'echo', chunkChars: 8, delayMs: 0 },
    },
    env: {},
    logger: createLogger({ level: 'info', format: 'json', write: () => {} }),
    clientAddress: () => '127.0.0.1',
    // No client ever leaves here; Node's entry watches the response instead of the signal.
    watchClient: () => () => () => {},
  })
  return (r: Request) => app.fetch(r, {})
}

/** µs per request with 64 clients, each sending its next request once its answer is read. */
const measure = async (fetch: Fetch) => {
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = 0; i < requests / 64; i++) {
        const res = await fetch(request())
        if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`)
        await res.text()
      }
    })
  )
  return ((performance.now() - started) * 1000) / requests
}

const apps: [string, Fetch][] = [['bare Hono', (r) => bareHono.fetch(r)]]
for (const dir of positionals.length ? positionals : ['.']) apps.push([dir, await ours(dir)])

const times = new Map<string, number[]>(apps.map(([name]) => [name, []]))
// The first round warms every app up and is not counted.
for (let round = 0; round <= Number(values.rounds); round++) {
  for (const [name, fetch] of apps) {
    const micros = await measure(fetch)
    if (round > 0) times.get(name)!.push(micros)
  }
}
const floor = median(times.get('bare Hono')!)
for (const [name, all] of times) {
  const m = median(all)
  console.log(
    `${name.padEnd(24)} ${m.toFixed(2).padStart(6)} µs/request  ${(m / floor).toFixed(2)} × bare Hono` +
      `  (rounds: ${all.map((t) => t.toFixed(1)).join(' ')})`
  )
}
