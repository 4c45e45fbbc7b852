/**
 * The load generator for non-stream rounds: autocannon, in its own process so it never shares
 * an event loop with the server under test. Prints one JSON line: requests per second, latency
 * percentiles, errors, and the CPU this process used, so a report can show the load generator
 * had room to spare while the server was saturated.
 *
 * Usage: node bench/autocannon-load.ts <url> <connections> <seconds> <body-json> [rate]
 *   rate: a fixed number of requests per second over all connections (default: as fast as it
 *   goes)
 */
import autocannon from 'autocannon'
import { TOKEN } from './answer.ts'

const [url, connections, seconds, body, rate] = process.argv.slice(2)

const cpuBefore = process.cpuUsage()
const started = performance.now()
const result = await autocannon({
  url: new URL('/v1/chat/completions', url).href,
  method: 'POST',
  connections: Number(connections),
  duration: Number(seconds),
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body,
  ...(rate ? { overallRate: Number(rate) } : {}),
})
const wall = (performance.now() - started) / 1000
const cpu = process.cpuUsage(cpuBefore)
const served = result.requests.total - result.non2xx - result.errors
console.log(
  JSON.stringify({
    rps: served / wall,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
    loadCpu: (cpu.user + cpu.system) / 1e6 / wall,
  })
)
