/**
 * A gateway server process (the Node CLI, `serve`) for the end-to-end tests: started with a
 * config of the test's, its Redis URL in `OPENCLAW_REDIS_URL` as an operator would set it, and
 * killable at will. Its log lines are kept, so a test can wait for one.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export class Gateway {
  readonly url: string
  readonly #child: ChildProcess
  readonly #lines: string[]
  readonly #dir: string
  #waiting: (() => void)[] = []

  private constructor(url: string, child: ChildProcess, lines: string[], dir: string) {
    this.url = url
    this.#child = child
    this.#lines = lines
    this.#dir = dir
  }

  static async start(config: unknown, redisUrl: string): Promise<Gateway> {
    const dir = mkdtempSync(join(tmpdir(), 'gcc-redis-'))
    const path = join(dir, 'config.json5')
    writeFileSync(path, JSON.stringify(config))
    const env = { ...process.env, OPENCLAW_REDIS_URL: redisUrl, OPENCLAW_LOG_FORMAT: 'json' }
    delete env.OPENCLAW_GATEWAY_TOKEN
    delete env.OPENCLAW_CONFIG_PATH
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'serve', '--config', path, '--port', '0'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] }
    )
    const lines: string[] = []
    let gateway: Gateway | undefined
    const url = await new Promise<string>((resolve, reject) => {
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          lines.push(line)
          if (gateway) gateway.#heard()
          const match = /listening on (http:\/\/\S+)/.exec(line)
          if (match) resolve(match[1])
        })
      }
      child.once('error', reject)
      child.once('exit', (code) =>
        reject(new Error(`the gateway exited (${code}) before listening:\n${lines.join('\n')}`))
      )
    })
    gateway = new Gateway(url, child, lines, dir)
    return gateway
  }

  #heard() {
    const waiting = this.#waiting
    this.#waiting = []
    for (const check of waiting) check()
  }

  /** Resolves once the gateway has logged a line containing `text`. */
  logged(text: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#lines.some((line) => line.includes(text))) resolve()
        else this.#waiting.push(check)
      }
      check()
    })
  }

  /** Kills it at once, as a crash would: nothing of it runs to release what it held. */
  async kill(): Promise<void> {
    await this.#stop('SIGKILL')
  }

  async close(): Promise<void> {
    await this.#stop('SIGTERM')
  }

  async #stop(signal: NodeJS.Signals) {
    const child = this.#child
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill(signal)
      await exited
    }
    rmSync(this.#dir, { recursive: true, force: true })
  }
}
