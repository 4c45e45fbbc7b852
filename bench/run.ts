/**
 * `npm run bench`: every scenario, then bench/RESULTS.md with the date, the machine and every
 * figure. Ratios compare servers measured in the same run, never numbers from elsewhere.
 */
import { execSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { openStreams } from './open-streams.ts'
import { slowReader } from './slow-reader.ts'
import { throughput } from './throughput.ts'
import { fmt, node24 } from './lib.ts'

const version = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8' }).trim().split('\n')[0]
  } catch {
    return 'unavailable'
  }
}

console.error('throughput (scenarios 1, 2, 5)…')
const t = await throughput(true)
console.error('open streams (scenario 3)…')
const open = await openStreams(2000)
console.error('slow reader (scenario 4)…')
const slow = await slowReader(30)

const ratio = (a: number, b: number) => (a / b).toFixed(3)
const delta = (d: number) => (d >= 0 ? `+${fmt(d, 2)}` : `−${fmt(-d, 2)}`)
const pass = (ok: boolean) => (ok ? 'met' : '**missed**')
const b = (k: 'rps1' | 'rps64' | 'stream', server: string) => t[k][server]

const rows = [
  `| 1. non-stream req/s, 1 connection | ${fmt(b('rps1', 'baseline').rps)} | ${fmt(b('rps1', 'node').rps)} | ${ratio(b('rps1', 'node').rps, b('rps1', 'baseline').rps)} | — |`,
  `| 1. non-stream req/s, 64 connections | ${fmt(b('rps64', 'baseline').rps)} | ${fmt(b('rps64', 'node').rps)} | ${ratio(b('rps64', 'node').rps, b('rps64', 'baseline').rps)} | ≥ 0.85: ${pass(b('rps64', 'node').rps >= 0.85 * b('rps64', 'baseline').rps)} |`,
  `| 1. server CPU per request, 64 connections (µs) | ${fmt(b('rps64', 'baseline').cpuMicros, 1)} | ${fmt(b('rps64', 'node').cpuMicros, 1)} | ${ratio(b('rps64', 'node').cpuMicros, b('rps64', 'baseline').cpuMicros)} × the baseline's | — |`,
  `| 2. stream, 1 000 chunks: chunks/s | ${fmt(b('stream', 'baseline').chunksPerSecond)} | ${fmt(b('stream', 'node').chunksPerSecond)} | ${ratio(b('stream', 'node').chunksPerSecond, b('stream', 'baseline').chunksPerSecond)} | ≥ 0.85: ${pass(b('stream', 'node').chunksPerSecond >= 0.85 * b('stream', 'baseline').chunksPerSecond)} |`,
  `| 2. stream: time to first byte (ms) | ${fmt(b('stream', 'baseline').ttfbMs, 2)} | ${fmt(b('stream', 'node').ttfbMs, 2)} | ${delta(b('stream', 'node').ttfbMs - b('stream', 'baseline').ttfbMs)} ms | within 1 ms: ${pass(b('stream', 'node').ttfbMs - b('stream', 'baseline').ttfbMs <= 1)} |`,
]
const n24 = t.rps64node24
const node24Rows = n24
  ? [
      `| 1. non-stream req/s, 64 connections, both on Node ${version(`${node24} --version`)} | ${fmt(n24.baseline.rps)} | ${fmt(n24.node.rps)} | ${ratio(n24.node.rps, n24.baseline.rps)} | ≥ 0.85: ${pass(n24.node.rps >= 0.85 * n24.baseline.rps)} |`,
      `| 1. server CPU per request, 64 connections (µs), on Node 24 | ${fmt(n24.baseline.cpuMicros, 1)} | ${fmt(n24.node.cpuMicros, 1)} | ${ratio(n24.node.cpuMicros, n24.baseline.cpuMicros)} × the baseline's | — |`,
    ]
  : [
      '| 1. on Node 24 | not run: `npm run test:openclaw` installs it into `.cache/openclaw` | | | |',
    ]
const runtimeRows = ['bun', 'deno']
  .filter((r) => t.rps1[r])
  .flatMap((r) => [
    `| ${r}: non-stream req/s, 1 connection | ${fmt(b('rps1', r).rps)} | ${ratio(b('rps1', r).rps, b('rps1', 'node').rps)} × Node |`,
    `| ${r}: non-stream req/s, 64 connections | ${fmt(b('rps64', r).rps)} | ${ratio(b('rps64', r).rps, b('rps64', 'node').rps)} × Node${r === 'bun' ? ` (target ≥ 1.3: ${pass(b('rps64', r).rps >= 1.3 * b('rps64', 'node').rps)})` : ''}; ${ratio(b('rps64', r).rps, b('rps64', 'baseline').rps)} × the baseline |`,
    `| ${r}: server CPU per request, 64 connections (µs) | ${fmt(b('rps64', r).cpuMicros, 1)} | ${ratio(b('rps64', r).cpuMicros, b('rps64', 'node').cpuMicros)} × Node's |`,
    `| ${r}: stream chunks/s | ${fmt(b('stream', r).chunksPerSecond)} | ${ratio(b('stream', r).chunksPerSecond, b('stream', 'node').chunksPerSecond)} × Node |`,
    `| ${r}: stream time to first byte (ms) | ${fmt(b('stream', r).ttfbMs, 2)} | Node: ${fmt(b('stream', 'node').ttfbMs, 2)} |`,
  ])

const md = `# Benchmark results

Run on ${new Date().toISOString().slice(0, 10)} with \`npm run bench\`: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}),
Node ${process.version}, Bun ${version('node_modules/.bin/bun --version')}, ${version('node_modules/.bin/deno --version')}.
Each figure is the median of the rounds of one run; baseline and our servers alternate round by
round, with the load generator in its own process, on the same 2 cores. Server CPU per request is
the server process's user + system time over the round divided by the requests it served: at 64
connections the load generator, not the baseline, sets the baseline's pace (it has CPU to spare),
so requests per second flatter whatever is as fast as it, and the CPU figure says how far apart
the servers really are.

The baseline (\`bench/baseline-server.ts\`) is a bare \`node:http\` server that reads and parses the
JSON body, checks the bearer token and writes the same answer (JSON, or the same SSE chunks and
\`[DONE]\`). Ours is the CLI (\`dist/cli.js\`) with the echo backend (\`delayMs: 0\`).

## Node against the raw baseline

| scenario | baseline | ours (Node) | ratio | target |
|---|---|---|---|---|
${rows.join('\n')}

The same scenario with the baseline and ours both on Node 24 (the load generator stays on
Node ${process.version}), to tell Node 20's costs from ours (see the notes below):

| scenario | baseline | ours | ratio | target |
|---|---|---|---|---|
${node24Rows.join('\n')}

## Memory

| scenario | figure | target |
|---|---|---|
| 3. ${open.streams} open silent streams: RSS per stream | ${fmt(open.perStreamKiB, 1)} KiB (${fmt(open.rssBeforeMiB, 1)} → ${fmt(open.rssOpenMiB, 1)} MiB) | ≤ 64 KiB: ${pass(open.perStreamKiB <= 64)} |
| 3. runs after the clients left | ${open.activeRunsAfter} of ${open.activeRunsOpen} still active | 0 |
| 4. slow reader (1 KiB/s for ${slow.seconds} s of a 50 MB reply): peak RSS growth | ${fmt(slow.peakGrowthMiB, 1)} MiB | < 16 MiB: ${pass(slow.peakGrowthMiB < 16)} |
| 4. what the agent produced before the disconnect aborted it | ${fmt(slow.agentProducedMiB, 1)} MiB of 50 | aborted: ${slow.abortedOnDisconnect ? 'yes' : 'no'} |

## Other runtimes (scenario 5), as ratios to Node in the same run

| scenario | figure | ratio |
|---|---|---|
${runtimeRows.join('\n')}
`
// What was profiled and changed is kept by hand in notes.md and carried into every report.
const notes = existsSync('bench/notes.md') ? readFileSync('bench/notes.md', 'utf8') : ''
writeFileSync('bench/RESULTS.md', `${md}\n${notes}`)
console.log(md)
