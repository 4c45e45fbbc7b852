/**
 * Latency at a fixed request rate, to the microsecond: requests are sent on a schedule (one
 * every 1/rate seconds, open loop: a slow answer does not hold back the next request, over
 * keep-alive connections), and each one's latency counts from when it was sent. In its own
 * process. Prints one JSON line: p50 and p99 in ms, the rate achieved, errors, and this
 * process's CPU.
 *
 * Usage: node bench/fixed-rate.ts <url> <rate> <seconds> <body-json> [stream]
 *   stream: also measure each answer's first byte (ms from when it was sent)
 */
import { Agent, request } from 'node:http'
import { TOKEN } from './answer.ts'

const [url, rateArg, secondsArg, body, stream] = process.argv.slice(2)
const rate = Number(rateArg)
const total = Math.round(rate * Number(secondsArg))
const target = new URL('/v1/chat/completions', url)
const agent = new Agent({ keepAlive: true, maxSockets: 64 })

const latencies: number[] = []
const firstBytes: number[] = []
let errors = 0

const send = (sent: number) =>
  new Promise<void>((resolve) => {
    const req = request(
      target,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let first = true
        res.on('data', () => {
          if (first && stream) firstBytes.push(performance.now() - sent)
          first = false
        })
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - sent)
          else errors++
          resolve()
        })
      }
    )
    req.on('error', () => {
      errors++
      resolve()
    })
    req.end(body)
  })

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

const cpuBefore = process.cpuUsage()
const start = performance.now() + 20
const inFlight: Promise<void>[] = []
// Every millisecond (a timer, so the load generator stays mostly idle and leaves the CPU to the
// servers) the requests that are due go out; each one's latency counts from when it was sent.
await new Promise<void>((done) => {
  let next = 0
  const tick = () => {
    const now = performance.now()
    while (next < total && start + (next * 1000) / rate <= now) {
      inFlight.push(send(performance.now()))
      next++
    }
    if (next < total) setTimeout(tick, 1)
    else done()
  }
  tick()
})
await Promise.all(inFlight)
const wall = (performance.now() - start) / 1000
const cpu = process.cpuUsage(cpuBefore)
agent.destroy()
console.log(
  JSON.stringify({
    rate: latencies.length / wall,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...(stream
      ? { firstByteP50: percentile(firstBytes, 50), firstByteP99: percentile(firstBytes, 99) }
      : {}),
    errors,
    loadCpu: (cpu.user + cpu.system) / 1e6 / wall,
  })
)
