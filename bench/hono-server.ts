/**
 * The framework's floor: a plain Hono `app.post` on `@hono/node-server` doing the raw
 * baseline's job (bearer check, JSON parse, the echo's pieces through an async iterator, the
 * same answer). What ours spends above this is our pipeline's cost, not the framework's.
 *
 * Usage: node --import tsx bench/hono-server.ts [port]
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import { answer, chunks, SSE_HEADERS, TOKEN, UNAUTHORIZED } from './answer.ts'

export const app = new Hono()
app.post('/v1/chat/completions', async (c) => {
  if (c.req.header('authorization') !== `Bearer ${TOKEN}`) {
    return c.body(UNAUTHORIZED, 401, { 'content-type': 'application/json' })
  }
  const body = await c.req.json()
  if (body.stream !== true) {
    return c.body((await answer(body)).json(), 200, {
      'content-type': 'application/json; charset=utf-8',
    })
  }
  for (const [name, value] of Object.entries(SSE_HEADERS)) c.header(name, value)
  return stream(c, async (s) => {
    for await (const chunk of chunks(body)) await s.write(chunk)
  })
})

// Served when run; `bench/pipeline.ts` imports the app alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  serve({ fetch: app.fetch, port: Number(process.argv[2] ?? 0), hostname: '127.0.0.1' }, (info) =>
    console.log(`hono listening on http://127.0.0.1:${info.port}`)
  )
  process.on('SIGTERM', () => process.exit(0))
}
