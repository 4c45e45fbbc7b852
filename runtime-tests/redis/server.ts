/**
 * A real `redis-server` for the tests, on a free port of its own, that a test can stop (as if it
 * crashed), freeze (as if it hung) and start again on the same port. Nothing is persisted. It
 * announces every change to a key (keyspace notifications), so that a test can wait for one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { freePort } from '../../test/free-port.ts'

/** Fails (not skips) with what to do when the machine has no redis-server. */
export const requireRedisServer = () => {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (found.error || found.status !== 0) {
    throw new Error(
      'redis-server is not installed: these tests need a real Redis ' +
        '(Debian: apt-get install -y redis-server; .ci/run installs it)'
    )
  }
}

export class RedisServer {
  readonly port: number
  #child: ChildProcess | undefined

  private constructor(port: number) {
    this.port = port
  }

  static async start(): Promise<RedisServer> {
    requireRedisServer()
    const server = new RedisServer(await freePort())
    await server.start()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  /** Starts it (again); resolves once it accepts connections. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '']
    const child = spawn(
      'redis-server',
      [...args, '--appendonly', 'no', '--notify-keyspace-events', 'KA'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      }
    )
    this.#child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! })
      lines.on('line', (line) => {
        output += `${line}\n`
        if (line.includes('Ready to accept connections')) resolve()
      })
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${output}`)))
    })
  }

  /** Kills it at once, as a crash would; its data is gone. */
  async stop(): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /** Freezes it: connections stay open, nothing is answered (a hung server). */
  freeze(): void {
    this.#child?.kill('SIGSTOP')
  }

  thaw(): void {
    this.#child?.kill('SIGCONT')
  }
}
