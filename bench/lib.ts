/** Shared pieces of the benchmark scripts: start servers, run the load process, read memory. */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
// @ts-expect-error: a plain .mjs module without types
import { paths } from '../runtime-tests/openclaw/setup.mjs'

export const TOKEN = 'bench-token'

export interface Server {
  name: string
  url: string
  child: ChildProcess
  stop(): Promise<void>
}

/** Spawns a server that prints `listening on <url>`. */
export const startServer = (name: string, command: string, args: string[]): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line)
      if (match)
        resolve({
          name,
          url: match[1],
          child,
          async stop() {
            child.kill('SIGTERM')
            await exited
          },
        })
    })
    child.once('error', reject)
    exited.then(() => reject(new Error(`${name} exited before listening`)))
  })

/** A config file for our server: token auth, endpoint on, echo backend with no delay. */
export const benchConfig = (
  extra: Record<string, unknown> = {},
  backend: Record<string, unknown> = { type: 'echo', chunkChars: 8, delayMs: 0 }
) => {
  const dir = mkdtempSync(join(tmpdir(), 'gcc-bench-'))
  const path = join(dir, 'config.json5')
  writeFileSync(
    path,
    JSON.stringify({
      gateway: {
        auth: { mode: 'token', token: TOKEN },
        http: { endpoints: { chatCompletions: { enabled: true } } },
        drainTimeoutMs: 0,
        ...extra,
      },
      backend,
    })
  )
  return path
}

/**
 * Node 24, when `npm run test:openclaw` has installed it into `.cache/openclaw`: the runtime the
 * targets are judged on (the OpenClaw gateway needs it, so a mount inside one runs there).
 */
export const node24: string | undefined = existsSync(paths.node) ? paths.node : undefined

/**
 * How `node` runs a TypeScript file of this folder: Node 24 strips the types itself, Node 20
 * needs tsx. (A baseline must not pay for a loader ours does not load.)
 */
export const tsArgs = (node: string): string[] =>
  node === node24 ? ['--disable-warning=ExperimentalWarning'] : ['--import', 'tsx']

export const ours = {
  node: (config: string, node = 'node', name = 'node') =>
    startServer(name, node, ['dist/cli.js', 'serve', '--config', config, '--port', '0']),
}

/**
 * Runs `bench/<script>.ts` in its own process on `node` (a load generator must not share the
 * servers' process) and resolves with the JSON of the last line it prints.
 */
export const runScript = <T>(script: string, args: string[], node = 'node'): Promise<T> =>
  new Promise((resolve, reject) => {
    const child = spawn(node, [...tsArgs(node), `bench/${script}.ts`, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!))
        : reject(new Error(`${script} exited ${code}`))
    )
  })

/** Runs the stream load generator in its own process and returns its JSON result. */
export const load = (args: string[], node = 'node') =>
  runScript<Record<string, number>>('load', args, node)

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Resident memory of a process in bytes (Linux `/proc`). */
export const rss = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024
}

/** CPU time (user + system) a process has used, in seconds (Linux `/proc`, 100 ticks a second). */
export const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export const chatBody = (text: string, stream = false) =>
  JSON.stringify({ model: 'openclaw', stream, messages: [{ role: 'user', content: text }] })

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
