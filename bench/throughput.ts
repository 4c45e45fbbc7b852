/**
 * Scenarios 1, 2 and 5: non-stream requests per second at 1 and 64 connections, and a
 * 1 000-chunk stream (chunks per second, time to first byte), for the raw baseline and our
 * server on Node (then Bun and Deno when `--runtimes` is given). Rounds alternate between the
 * servers so that drift on a shared machine hits both; the median round is reported.
 *
 * Usage: node --import tsx bench/throughput.ts [--runtimes] [--rounds N] [--seconds S]
 */
import { parseArgs } from 'node:util'
import {
  baseline,
  benchConfig,
  chatBody,
  cpuSeconds,
  load,
  median,
  node24,
  ours,
  TOKEN,
  type Server,
} from './lib.ts'

const { values } = parseArgs({
  options: {
    runtimes: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '2' },
  },
})
const rounds = Number(values.rounds)
const seconds = values.seconds!

const SHORT = chatBody('Hello, how are you today?')
const LONG_STREAM = chatBody('x'.repeat(8 * 1000 - 3) + 'end', true) // 1 000 chunks of 8

type Measure = (server: Server) => Promise<Record<string, number>>

/** Requests per second, and the server's CPU time per request (µs) over the same round. */
const rpsAt =
  (connections: number): Measure =>
  async (s) => {
    const before = cpuSeconds(s.child.pid!)
    const result = await load(['rps', s.url, TOKEN, String(connections), seconds, SHORT])
    const cpu = cpuSeconds(s.child.pid!) - before
    return { ...result, cpuMicros: (cpu * 1e6) / (result.rps * Number(seconds)) }
  }
const streamed: Measure = (s) => load(['stream', s.url, TOKEN, seconds, LONG_STREAM])

/** Warm-up, then `rounds` alternating rounds; medians per server and key. */
const compare = async (servers: Server[], measure: Measure) => {
  for (const s of servers) await measure(s)
  const results = new Map<string, Record<string, number>[]>(servers.map((s) => [s.name, []]))
  for (let r = 0; r < rounds; r++)
    for (const s of servers) results.get(s.name)!.push(await measure(s))
  const out: Record<string, Record<string, number>> = {}
  for (const [name, rows] of results) {
    out[name] = {}
    for (const key of Object.keys(rows[0])) out[name][key] = median(rows.map((row) => row[key]))
  }
  return out
}

export const throughput = async (runtimes: boolean) => {
  const config = benchConfig()
  const servers = [await baseline(), await ours.node(config)]
  if (runtimes) servers.push(await ours.bun(config), await ours.deno(config))
  try {
    const rps1 = await compare(servers, rpsAt(1))
    const rps64 = await compare(servers, rpsAt(64))
    const stream = await compare(servers, streamed)
    return { rps1, rps64, stream, rps64node24: await onNode24(config) }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

/** Scenario 1 at 64 connections with the baseline and ours both on Node 24, if it is here. */
const onNode24 = async (config: string) => {
  if (!node24) return undefined
  const servers = [await baseline(node24, 'baseline'), await ours.node(config, node24, 'node')]
  try {
    return await compare(servers, rpsAt(64))
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await throughput(values.runtimes!), null, 2))
}
