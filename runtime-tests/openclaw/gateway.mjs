/**
 * Starts the real OpenClaw gateway (installed by `setup.mjs`) offline on loopback, with a fresh
 * state folder, token auth with a throwaway token, the `/v1/chat/completions` and `/v1/responses`
 * endpoints on, one agent `main`, and the mock provider as its only model. Nothing it does leaves
 * the machine: catalog refresh, update checks, mDNS/Bonjour and channels are off, and HOME points
 * into the state folder.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MOCK_MODEL } from './mock-model.mjs'
import { paths } from './setup.mjs'

/** A port the OS calls free right now (the gateway needs a number up front). */
const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })

/**
 * The processes under `pid` (Linux `/proc`; elsewhere none). The gateway starts some helpers in
 * its own process group and some (its spawn broker) in a session of their own.
 */
const descendants = (pid) => {
  if (!existsSync('/proc')) return []
  const parents = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      parents.set(Number(entry), ppid)
    } catch {}
  }
  const found = []
  const walk = (parent) => {
    for (const [child, ppid] of parents) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child)
        walk(child)
      }
    }
  }
  walk(pid)
  return found
}

/** Whether `pid` still names a live, non-zombie process. */
const alive = (pid) => {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return err.code === 'EPERM'
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return !existsSync('/proc')
  }
}

export const gatewayConfig = ({ port, token, mockUrl, logFile, auth, agents }) => ({
  gateway: {
    mode: 'local',
    port,
    bind: 'loopback',
    auth: auth ?? { mode: 'token', token },
    http: { endpoints: { chatCompletions: { enabled: true }, responses: { enabled: true } } },
  },
  update: { checkOnStart: false },
  discovery: { mdns: { mode: 'off' } },
  logging: { file: logFile },
  models: {
    mode: 'merge',
    catalogRefresh: { enabled: false },
    providers: {
      mock: {
        baseUrl: `${mockUrl}/v1`,
        apiKey: 'mock-key',
        api: 'openai-completions',
        models: [
          {
            id: MOCK_MODEL,
            name: 'Mock Echo',
            reasoning: false,
            input: ['text'],
            contextWindow: 32000,
            maxTokens: 1024,
          },
        ],
      },
    },
  },
  agents: {
    defaults: { model: { primary: `mock/${MOCK_MODEL}` }, skipBootstrap: true },
    ...agents,
  },
})

/**
 * Spawns the gateway in its own process group and waits until `GET /v1/models` answers 200 with
 * the token (bounded attempts; it fails at once if the process exits). Returns its URLs, token,
 * folders, output so far, and `stop()` (SIGTERM to the whole group, then SIGKILL if it lingers;
 * removes the state folder unless `OPENCLAW_TEST_KEEP=1`). `auth` replaces the token auth and
 * `agents` merges into the agents section (a roster, its ownership).
 */
export const startGateway = async ({ mockUrl, auth, agents, attempts = 600, pauseMs = 200 }) => {
  const dir = mkdtempSync(join(tmpdir(), 'gcc-openclaw-'))
  const stateDir = join(dir, 'state')
  const home = join(dir, 'home')
  mkdirSync(join(stateDir, 'logs'), { recursive: true })
  mkdirSync(home, { recursive: true })
  const port = await freePort()
  const token = `throwaway-${randomBytes(12).toString('hex')}`
  const configPath = join(stateDir, 'openclaw.json')
  const logFile = join(stateDir, 'logs', 'openclaw.log')
  writeFileSync(
    configPath,
    JSON.stringify(gatewayConfig({ port, token, mockUrl, logFile, auth, agents }), null, 2)
  )

  const env = {
    PATH: `${join(paths.node, '..')}:${process.env.PATH}`,
    HOME: home,
    TMPDIR: dir,
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    OPENCLAW_STATE_DIR: stateDir,
    OPENCLAW_CONFIG_PATH: configPath,
    OPENCLAW_DISABLE_BONJOUR: '1',
    OPENCLAW_NO_RESPAWN: '1',
    OPENCLAW_SKIP_CHANNELS: '1',
    OPENCLAW_NO_AUTO_UPDATE: '1',
    OPENCLAW_EXEC_SHELL_SNAPSHOT: '0',
  }
  const started = Date.now()
  const child = spawn(
    paths.node,
    [paths.openclaw, 'gateway', 'run', '--port', String(port), '--bind', 'loopback'],
    { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  let exitCode
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve((exitCode = code ?? signal)))
  )

  const url = `http://127.0.0.1:${port}`
  const gateway = {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    token,
    dir,
    logFile,
    pid: child.pid,
    get output() {
      return output
    },
    /** The gateway's own log file (JSON lines), for diagnosis. */
    log: () => {
      try {
        return readFileSync(logFile, 'utf8')
      } catch {
        return ''
      }
    },
    startMs: 0,
    stop: async () => {
      const signal = (target, name) => {
        try {
          process.kill(target, name)
        } catch {}
      }
      const helpers = descendants(child.pid)
      if (exitCode === undefined) {
        signal(-child.pid, 'SIGTERM')
        const kill = setTimeout(() => signal(-child.pid, 'SIGKILL'), 10_000)
        await exited
        clearTimeout(kill)
      }
      // Helpers still there (its group, or their own sessions): kill them and wait until they are
      // gone, so none writes into the state folder after it is removed (bounded attempts).
      signal(-child.pid, 'SIGKILL')
      for (const pid of helpers) signal(pid, 'SIGKILL')
      for (let attempt = 0; attempt < 100 && helpers.some(alive); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      if (process.env.OPENCLAW_TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
    },
  }

  for (let attempt = 0; ; attempt++) {
    if (exitCode !== undefined) {
      await gateway.stop()
      throw new Error(`the gateway exited (${exitCode}) before it was ready:\n${output}`)
    }
    if (attempt >= attempts) {
      await gateway.stop()
      throw new Error(`the gateway was not ready after ${attempts} attempts:\n${output}`)
    }
    const status = await fetch(`${url}/v1/models`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    }).then(
      (res) => res.arrayBuffer().then(() => res.status),
      () => 0
    )
    if (status === 200) break
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
  gateway.startMs = Date.now() - started
  return gateway
}
