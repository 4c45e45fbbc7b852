/**
 * Builds of ours side by side in the real server, against bare Hono, with the servers on one CPU
 * and the load generator on the other: a tool for judging a change, not one of the targets. A
 * full `npm run bench` lets every process run on either core, and its figures move by up to
 * ±0.4 × between runs of the same code; here two copies of the same build agree within ~1 %, and
 * a 2 µs change shows (bench/notes.md). Each round runs every server once, in an order that
 * alternates; the ratio to bare Hono is taken within each round, and its median and range over
 * the rounds are printed.
 *
 * Usage: node bench/side-by-side.ts [--body short,history,long] [--connections 1,64]
 *   [--rounds 8] [--seconds 2] [--floor] [DIR...]
 * (on Node 24 when `npm run test:openclaw` installed it, else this Node; with `--import tsx` on
 * Node 20). Each DIR holds a build of ours (`dist/`; default `.`). Needs `taskset` (util-linux)
 * and two CPUs; without them it runs unpinned and says so. `--floor` adds the contract floor
 * (`bench/contract-floor-server.ts`: bare Hono plus the headers and log line our contract makes
 * every answer carry), to tell the contract's share of the gap from the pipeline's.
 */
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { BODIES, type BodyName } from './bodies.ts'
import { benchConfig, median, node24, startServer, tsArgs, type Server } from './lib.ts'
import { nonStreamRound, roundsAgainst } from './throughput.ts'

const PINNED = 'BENCH_SIDE_BY_SIDE_PINNED'
const canPin = spawnSync('taskset', ['-c', '0,1', 'true']).status === 0

// This process and the load generators it starts run on CPU 1; the servers run on CPU 0.
if (canPin && !process.env[PINNED]) {
  const { status } = spawnSync(
    'taskset',
    ['-c', '1', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [PINNED]: '1' } }
  )
  process.exit(status ?? 1)
}
if (!canPin) console.error('side-by-side: no taskset or a single CPU: running unpinned (noisier)')

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    body: { type: 'string', default: 'short' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '2' },
    floor: { type: 'boolean', default: false },
  },
})

const node = node24 ?? process.execPath
const onCpu0 = (args: string[]): [string, string[]] =>
  canPin ? ['taskset', ['-c', '0', node, ...args]] : [node, args]

const config = benchConfig()
const servers: Server[] = [
  await startServer('bare Hono', ...onCpu0([...tsArgs(node), 'bench/hono-server.ts'])),
]
try {
  if (values.floor) {
    const floor = [...tsArgs(node), 'bench/contract-floor-server.ts']
    servers.push(await startServer('contract floor', ...onCpu0(floor)))
  }
  for (const dir of positionals.length ? positionals : ['.']) {
    const cli = resolve(dir, 'dist/cli.js')
    const args = [cli, 'serve', '--config', config, '--port', '0']
    // Named as given, as bench/pipeline.ts names them: results are kept by name.
    if (servers.some((s) => s.name === dir)) throw new Error(`${dir} is given twice`)
    servers.push(await startServer(dir, ...onCpu0(args)))
  }
  for (const body of values.body.split(',') as BodyName[]) {
    if (!BODIES[body]) throw new Error(`--body takes ${Object.keys(BODIES).join(', ')}`)
    for (const connections of values.connections.split(',').map(Number)) {
      const round = nonStreamRound(node, BODIES[body], connections, Number(values.seconds))
      const rows = await roundsAgainst(servers, round, Number(values.rounds), 'bare Hono')
      console.log(`${body}, ${connections} connection${connections === 1 ? '' : 's'}:`)
      for (const s of servers) {
        const r = rows.get(s.name)!.map((row) => row.cpuRatio)
        const micros = median(rows.get(s.name)!.map((row) => row.cpuMicros))
        console.log(
          `  ${s.name.padEnd(24)} ${micros.toFixed(1).padStart(6)} µs/request` +
            `  ${median(r).toFixed(3)} × bare Hono` +
            `  (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})`
        )
      }
    }
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()))
}
