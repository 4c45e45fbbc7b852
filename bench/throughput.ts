/**
 * Non-stream throughput and streams, measured against two baselines in the same run: the raw
 * `node:http` limit and bare Hono on `@hono/node-server` doing the same job. Rounds alternate
 * between the servers, so drift on a shared machine hits all of them; medians are reported.
 * Non-stream load comes from autocannon in its own process; each round records the server's CPU
 * (from /proc) and the load generator's, so the report shows the baselines were saturated.
 *
 * Usage: node --import tsx bench/throughput.ts [--rounds N] [--seconds S] [--node PATH]
 */
import { parseArgs } from 'node:util'
import { BODIES, type BodyName } from './bodies.ts'
import { TOKEN } from './answer.ts'
import {
  benchConfig,
  cpuSeconds,
  load,
  median,
  runScript,
  startServer,
  tsArgs,
  type Server,
} from './lib.ts'

export interface Round {
  rps: number
  /** Latency percentiles, ms. */
  p50: number
  p99: number
  errors: number
  /** Server CPU time per request served, µs. */
  cpuMicros: number
  /** Server CPU over the round: 1 = one core busy the whole time. */
  serverCpu: number
  /** The load generator's CPU over the round, likewise. */
  loadCpu: number
}

/** Runs autocannon in its own process on `node` (the same runtime as the servers). */
const autocannon = (node: string, args: string[]) =>
  runScript<Omit<Round, 'cpuMicros' | 'serverCpu'>>('autocannon-load', args, node)

/** One round: autocannon against `server`, with the server's CPU over the same time. */
export const nonStreamRound =
  (node: string, body: string, connections: number, seconds: number, rate?: number) =>
  async (server: Server): Promise<Round> => {
    const pid = server.child.pid!
    const before = cpuSeconds(pid)
    const started = performance.now()
    const args = [server.url, String(connections), String(seconds), body]
    if (rate) args.push(String(rate))
    const result = await autocannon(node, args)
    const wall = (performance.now() - started) / 1000
    const used = cpuSeconds(pid) - before
    return {
      ...result,
      cpuMicros: (used * 1e6) / Math.max(1, result.rps * wall),
      serverCpu: used / wall,
    }
  }

/**
 * A warm-up, then `rounds` rounds, each running every server once; per server, its figures of
 * each round, in order. With `alternate`, every other round runs the servers in reverse order.
 */
const roundsOf = async <T>(
  servers: Server[],
  measure: (s: Server) => Promise<T>,
  rounds: number,
  alternate: boolean
): Promise<Map<string, T[]>> => {
  for (const s of servers) await measure(s)
  const rows = new Map<string, T[]>(servers.map((s) => [s.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const s of alternate && r % 2 ? [...servers].reverse() : servers) {
      rows.get(s.name)!.push(await measure(s))
    }
  }
  return rows
}

/** Warm-up, then `rounds` alternating rounds; the median of each figure per server. */
export const compare = async <T extends object>(
  servers: Server[],
  measure: (s: Server) => Promise<T>,
  rounds: number
): Promise<Record<string, T>> => mediansOf(await roundsOf(servers, measure, rounds, false))

/** Per server, the median of each figure over its rounds. */
const mediansOf = <T extends object>(results: Map<string, T[]>): Record<string, T> => {
  const out: Record<string, T> = {}
  for (const [name, rows] of results) {
    const medians: Record<string, number> = {}
    for (const key of Object.keys(rows[0])) {
      medians[key] = median(rows.map((row) => (row as Record<string, number>)[key]))
    }
    out[name] = medians as T
  }
  return out
}

/** The three servers on `node`: the raw limit, bare Hono, and ours (the CLI, echo backend). */
export const startTrio = async (node: string) => {
  const raw = await startServer('raw', node, [...tsArgs(node), 'bench/baseline-server.ts'])
  const hono = await startServer('hono', node, [...tsArgs(node), 'bench/hono-server.ts'])
  const ours = await startServer('ours', node, [
    'dist/cli.js',
    'serve',
    '--config',
    benchConfig(),
    '--port',
    '0',
  ])
  return [raw, hono, ours]
}

/** A server's figures, and its req/s and CPU per request as ratios to bare Hono's. */
export interface Judged extends Round {
  rpsRatio: number
  cpuRatio: number
}

export type NonStream = Record<BodyName, Record<1 | 64, Record<string, Judged>>>

/**
 * Warm-up, then `rounds` rounds, each running every server once in an order that alternates.
 * Per server, each round's figures with its ratios to `baseline`'s in the same round, so that
 * drift between rounds (a shared machine's) cancels out of the ratios.
 */
export const roundsAgainst = async (
  servers: Server[],
  measure: (s: Server) => Promise<Round>,
  rounds: number,
  baseline: string
): Promise<Map<string, Judged[]>> => {
  const rows = await roundsOf(servers, measure, rounds, true)
  const base = rows.get(baseline)!
  const judged = new Map<string, Judged[]>()
  for (const [name, figures] of rows) {
    judged.set(
      name,
      figures.map((round, r) => ({
        ...round,
        rpsRatio: round.rps / base[r].rps,
        cpuRatio: round.cpuMicros / base[r].cpuMicros,
      }))
    )
  }
  return judged
}

/**
 * Every body at 1 and at 64 connections, on `node`; beside the three servers, the contract floor
 * (`bench/contract-floor-server.ts`), which tells the contract's share of ours' cost from the
 * pipeline's.
 */
export const nonStream = async (node: string, rounds: number, seconds: number) => {
  const floorArgs = [...tsArgs(node), 'bench/contract-floor-server.ts']
  const servers = [...(await startTrio(node)), await startServer('floor', node, floorArgs)]
  try {
    const out = {} as NonStream
    for (const name of Object.keys(BODIES) as BodyName[]) {
      out[name] = {} as NonStream[BodyName]
      for (const connections of [1, 64] as const) {
        const measure = nonStreamRound(node, BODIES[name], connections, seconds)
        out[name][connections] = mediansOf(await roundsAgainst(servers, measure, rounds, 'hono'))
      }
    }
    return out
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

/** A 1 000-chunk stream (the echo's 8-character pieces): chunks per second and first byte. */
const LONG_STREAM = JSON.stringify({
  messages: [{ role: 'user', content: 'x'.repeat(8 * 1000 - 3) + 'end' }],
  model: 'openclaw',
  stream: true,
})

export const streams = async (node: string, rounds: number, seconds: number) => {
  const servers = await startTrio(node)
  try {
    return await compare(
      servers,
      (s) => load(['stream', s.url, TOKEN, String(seconds), LONG_STREAM], node),
      rounds
    )
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '2' },
      node: { type: 'string', default: 'node' },
    },
  })
  const rounds = Number(values.rounds)
  const seconds = Number(values.seconds)
  console.log(JSON.stringify(await nonStream(values.node!, rounds, seconds), null, 2))
}
