/**
 * The load generator, run in its own process so it does not share a core's event loop with the
 * server under test. Prints one JSON line of results.
 *
 *   rps    <url> <token> <connections> <seconds> <body-json>  → requests per second
 *   stream <url> <token> <seconds> <body-json>                 → chunks per second, median TTFB
 */
import { Agent, request } from 'node:http'

const [mode, url, token, ...rest] = process.argv.slice(2)
const target = new URL('/v1/chat/completions', url)

const post = (agent: Agent, body: string, onFirstByte?: () => void) =>
  new Promise<{ status: number; bytes: number; chunks: number }>((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let bytes = 0
        let chunks = 0
        let first = true
        let tail = ''
        res.on('data', (data: Buffer) => {
          if (first) {
            first = false
            onFirstByte?.()
          }
          bytes += data.length
          // Count SSE events: blank-line separators, across packet boundaries.
          const text = tail + data.toString('latin1')
          let at = text.indexOf('\n\n')
          while (at !== -1) {
            chunks++
            at = text.indexOf('\n\n', at + 2)
          }
          tail = text.slice(-1)
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, chunks }))
        res.on('error', reject)
      }
    )
    req.on('error', reject)
    req.end(body)
  })

const rps = async (connections: number, seconds: number, body: string) => {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  let done = 0
  let failed = 0
  const end = performance.now() + seconds * 1000
  const worker = async () => {
    while (performance.now() < end) {
      const { status } = await post(agent, body)
      if (status === 200) done++
      else failed++
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: connections }, worker))
  const elapsed = (performance.now() - start) / 1000
  agent.destroy()
  return { rps: done / elapsed, failed }
}

const stream = async (seconds: number, body: string) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const ttfbs: number[] = []
  let chunks = 0
  let failed = 0
  const end = performance.now() + seconds * 1000
  const start = performance.now()
  while (performance.now() < end) {
    const sent = performance.now()
    const res = await post(agent, body, () => ttfbs.push(performance.now() - sent))
    if (res.status === 200) chunks += res.chunks
    else failed++
  }
  const elapsed = (performance.now() - start) / 1000
  agent.destroy()
  ttfbs.sort((a, b) => a - b)
  return { chunksPerSecond: chunks / elapsed, ttfbMs: ttfbs[Math.floor(ttfbs.length / 2)], failed }
}

const result =
  mode === 'rps'
    ? await rps(Number(rest[0]), Number(rest[1]), rest[2])
    : await stream(Number(rest[0]), rest[1])
console.log(JSON.stringify(result))
