/**
 * `npm run bench`: every scenario, one table of targets (figure, met or missed), then the
 * details, written to bench/RESULTS.md. Targets are judged on Node 24 (the OpenClaw gateway's
 * runtime, installed by `npm run test:openclaw`); Node 20, the system Node, is reported beside.
 * Every ratio compares servers measured in the same run, round by round.
 *
 * Options: --rounds N (3), --seconds S (2), --quick (skips the gateway scenario and Node 20)
 */
import { execSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { BODIES, type BodyName } from './bodies.ts'
import { coldStart } from './cold-start.ts'
import { gatewayOverhead } from './gateway-overhead.ts'
import { fmt, node24 } from './lib.ts'
import { openStreams } from './open-streams.ts'
import { proxyOverhead } from './proxy-overhead.ts'
import { slowReader } from './slow-reader.ts'
import { nonStream, streams, type NonStream, type Round } from './throughput.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '2' },
    quick: { type: 'boolean', default: false },
  },
})
const rounds = Number(values.rounds)
const seconds = Number(values.seconds)

const version = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8' }).trim().split('\n')[0]
  } catch {
    return 'unavailable'
  }
}

const main = node24 ?? 'node'
const mainVersion = version(`${main} --version`)
const step = (what: string) => console.error(`bench: ${what}…`)

step(`non-stream on Node ${mainVersion}`)
const ns = await nonStream(main, rounds, seconds)
let ns20: NonStream | undefined
if (node24 && !values.quick) {
  step('non-stream on Node 20')
  ns20 = await nonStream('node', rounds, seconds)
}
step('streams')
const st = await streams(main, rounds, seconds)
step('openai backend proxy overhead')
const proxy = await proxyOverhead(main, rounds, 3)
let gateway: Awaited<ReturnType<typeof gatewayOverhead>> | undefined
if (node24 && !values.quick) {
  step('gateway backend against a direct client')
  gateway = await gatewayOverhead(3, 10)
}
step('cold start')
const cold = await coldStart(main, 5)
step('open streams')
const open = await openStreams(2000, main)
step('slow reader')
const slow = await slowReader(30, main)

const x = (n: number) => `${n.toFixed(2)} ×`
const met = (ok: boolean) => (ok ? 'met' : '**missed**')
const ms = (n: number) => `${fmt(n, 2)} ms`
const plus = (n: number) => (n >= 0 ? `+${fmt(n, 2)}` : `−${fmt(-n, 2)}`)

const rows: string[] = []
const details: string[] = []
for (const [runtime, table] of [
  [`Node ${mainVersion}`, ns],
  ['Node 20 (reported, not judged)', ns20],
] as [string, NonStream | undefined][]) {
  if (!table) continue
  for (const body of Object.keys(BODIES) as BodyName[]) {
    for (const c of [1, 64] as const) {
      const { raw, hono, ours, floor } = table[body][c]
      const rps = ours.rpsRatio
      const cpu = ours.cpuRatio
      const judged = table === ns
      const where = `${runtime}, ${body}, ${c} connection${c > 1 ? 's' : ''}`
      // The floor's own ratio beside ours: what the contract alone leaves of the target.
      const floored = (ratio: number, floorRatio: number) =>
        `${x(ratio)} (the contract floor: ${x(floorRatio)})`
      rows.push(
        `| non-stream req/s vs bare Hono: ${where} | ${floored(rps, floor.rpsRatio)} | ≥ 0.85 × | ${judged ? met(rps >= 0.85) : '—'} |`,
        `| server CPU per request vs bare Hono: ${where} | ${floored(cpu, floor.cpuRatio)} | ≤ 1.25 × | ${judged ? met(cpu <= 1.25) : '—'} |`
      )
      const line = (name: string, r: Round) =>
        `| ${where} | ${name} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} / ${fmt(r.p99, 1)} | ${fmt(r.cpuMicros, 1)} | ${fmt(r.serverCpu * 100)} % | ${fmt(r.loadCpu * 100)} % |`
      details.push(
        line('raw node:http', raw),
        line('bare Hono', hono),
        line('contract floor', floor),
        line('ours', ours)
      )
    }
  }
}

const chunkRatio = st.ours.chunksPerSecond / st.raw.chunksPerSecond
const firstByte = st.ours.ttfbMs - st.raw.ttfbMs
rows.push(
  `| stream chunks/s vs raw (1 000 chunks) | ${x(chunkRatio)} | ≥ 0.9 × | ${met(chunkRatio >= 0.9)} |`,
  `| stream first byte vs raw | ${plus(firstByte)} ms | ≤ +1 ms | ${met(firstByte <= 1)} |`
)
const pn = proxy.nonStream
const ps = proxy.stream
const p50 = pn.proxy.p50 - pn.direct.p50
const p99 = pn.proxy.p99 - pn.direct.p99
const fb = ps.proxy.firstByteP50! - ps.direct.firstByteP50!
rows.push(
  `| openai backend: added median latency at 1 000 req/s | ${plus(p50)} ms | ≤ +0.5 ms | ${met(p50 <= 0.5)} |`,
  `| openai backend: added p99 latency at 1 000 req/s | ${plus(p99)} ms | ≤ +2 ms | ${met(p99 <= 2)} |`,
  `| openai backend: added stream first byte (median) | ${plus(fb)} ms | ≤ +0.5 ms | ${met(fb <= 0.5)} |`
)
if (gateway) {
  const g = gateway.ours / gateway.direct
  rows.push(
    `| gateway backend: a turn through ours vs the \`agent\` method direct | ${x(g)} (${ms(gateway.ours)} vs ${ms(gateway.direct)}; the gateway's own endpoint: ${ms(gateway.gatewayHttp)}) | ≤ 1.03 × | ${met(g <= 1.03)} |`
  )
} else {
  rows.push(
    '| gateway backend vs direct | not run (`--quick`, or no `.cache/openclaw`) | ≤ 1.03 × | — |'
  )
}
const coldRatio = cold.ours / cold.hono
rows.push(
  `| cold start (spawn to first answer) vs bare Hono | ${x(coldRatio)} (${ms(cold.ours)} vs ${ms(cold.hono)}) | ≤ 1.5 × | ${met(coldRatio <= 1.5)} |`,
  `| memory per idle open stream (${open.streams} streams) | ${fmt(open.perStreamKiB, 1)} KiB | ≤ 64 KiB | ${met(open.perStreamKiB <= 64)} |`,
  `| slow reader (1 KiB/s for ${slow.seconds} s of a 50 MB reply): peak growth | ${fmt(slow.peakGrowthMiB, 1)} MiB, aborted on disconnect: ${slow.abortedOnDisconnect ? 'yes' : 'no'} | < 16 MiB | ${met(slow.peakGrowthMiB < 16 && slow.abortedOnDisconnect)} |`
)

const fixedRateRow = (name: string, r: (typeof pn)['direct']) =>
  `| ${name} | ${fmt(r.rate)} | ${fmt(r.p50, 3)} | ${fmt(r.p99, 3)} | ${r.firstByteP50 === undefined ? '—' : `${fmt(r.firstByteP50, 3)} / ${fmt(r.firstByteP99!, 3)}`} |`

const md = `# Benchmark results

Run on ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}): targets judged on Node ${mainVersion}, Node 20 reported beside; load generators in their own processes on the same runtime. Each figure is the median of ${rounds} rounds (after a warm-up round) in which the servers alternate. Non-stream ratios to bare Hono are taken within each round, where drift between rounds cancels out, and the figure is their median.

| target | figure | target | |
|---|---|---|---|
${rows.join('\n')}

## Non-stream, every server

Bodies (\`bench/bodies.ts\`, shaped as the \`openai\` SDK sends them): **short**, one 64-character message (8 echo events); **history**, a system prompt and a six-turn history (~2 KB; the echo answers the flattened prompt, ~250 events); **long**, a 2 000-character message (250 events). The raw baseline (\`bench/baseline-server.ts\`) and bare Hono (\`bench/hono-server.ts\`, a plain \`app.post\` on \`@hono/node-server\`) do the same job: check the bearer token, parse the JSON, pull the echo's 8-character pieces through an async iterator, write the same answer (\`bench/answer.ts\`). Ours is the CLI with the echo backend. The contract floor (\`bench/contract-floor-server.ts\`, not a baseline of the targets) is bare Hono plus what our contract makes every answer carry, made with our own logger and ids: the six headers (request id, two safety headers, agent, session key, \`Server-Timing\`) and the request-log line. What it costs above bare Hono is the contract's; what ours costs above it is the pipeline's. Load: autocannon. Server and load-generator CPU are each process's CPU time over the round (100 % = one core): a server near 100 % while the load generator has room is saturated.

| scenario | server | req/s | latency p50 / p99 (ms) | server CPU per request (µs) | server CPU | load generator CPU |
|---|---|---|---|---|---|---|
${details.join('\n')}

## Streams

| server | chunks/s (1 000-chunk answers, one at a time) | first byte (ms, median) |
|---|---|---|
| raw node:http | ${fmt(st.raw.chunksPerSecond)} | ${fmt(st.raw.ttfbMs, 2)} |
| bare Hono | ${fmt(st.hono.chunksPerSecond)} | ${fmt(st.hono.ttfbMs, 2)} |
| ours | ${fmt(st.ours.chunksPerSecond)} | ${fmt(st.ours.ttfbMs, 2)} |

## The openai backend's overhead

A fast mock upstream (\`bench/mock-upstream.ts\`) called directly, and through ours with the openai backend pointed at it, at a fixed 1 000 requests per second (\`bench/fixed-rate.ts\`: open loop, latency from each request's send, to the microsecond).

| path | req/s | p50 (ms) | p99 (ms) | stream first byte p50 / p99 (ms) |
|---|---|---|---|---|
${fixedRateRow('direct, non-stream', pn.direct)}
${fixedRateRow('through ours, non-stream', pn.proxy)}
${fixedRateRow('direct, stream', ps.direct)}
${fixedRateRow('through ours, stream', ps.proxy)}
`
// What was profiled and changed is kept by hand in notes.md and carried into every report.
const notes = existsSync('bench/notes.md') ? readFileSync('bench/notes.md', 'utf8') : ''
writeFileSync('bench/RESULTS.md', `${md}\n${notes}`)
console.log(md)
process.exit(0)
