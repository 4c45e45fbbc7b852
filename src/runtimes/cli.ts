/**
 * The `serve` command, shared by every runtime that has a filesystem and signals (Node, Bun,
 * Deno): parse flags, load and check the config, listen, print one line, stop cleanly.
 * Each entry supplies only how to listen.
 */
import process from 'node:process'
import { parseArgs } from 'node:util'
import type { Context } from 'hono'
import { createChatCompletionsApp, type ChatCompletionsApp } from '../app.ts'
import { bindHost, ConfigError, resolveAuth, type Env } from '../config.ts'
import { VERSION } from '../version.ts'
import type { BackendRuntime } from '../backend.ts'
import type { ClientWatch } from '../core/turn.ts'
import { fileStore } from './file-store.ts'
import { loadConfig } from './load-config.ts'

export interface Listening {
  /** `http://host:port`, with the port actually bound. */
  url: string
  /** Stops accepting; waits up to `graceMs` for answers in flight, then closes connections. */
  close(graceMs?: number): Promise<void>
}

export interface CliRuntime {
  /** Listens; a taken port rejects with an error whose `code` is `EADDRINUSE`. */
  serve(app: ChatCompletionsApp, options: { port: number; hostname: string }): Promise<Listening>
  clientAddress(c: Context): string | undefined
  /** How the runtime tells that a client went away (default: `request.signal`). */
  watchClient?: (c: Context) => ClientWatch
  /** What the runtime lends the backends (default: its global WebSocket, state in files). */
  backendRuntime?: BackendRuntime
}

const USAGE = `Usage: gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]

Serves OpenAI-compatible POST /v1/chat/completions and /v1/responses in front of an agent
runtime.

Options:
  --config FILE   JSON5 config (default: $OPENCLAW_CONFIG_PATH, else ~/.openclaw/openclaw.json)
  --port N        port to listen on (default: gateway.port, 18789)
  --host ADDR     address to bind (default: from gateway.bind, loopback = 127.0.0.1)
  -h, --help      show this help
  -v, --version   print the version`

const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost']

const fail = (message: string): never => {
  console.error(`gateway-chat-completions: ${message}`)
  process.exit(2)
}

const parse = (argv: string[]) => {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`)
  }
}

/** Runs the CLI with `argv` (the arguments after the program name). */
export const runCli = async (argv: string[], runtime: CliRuntime): Promise<void> => {
  const { values, positionals } = parse(argv)
  if (values.help) return console.log(USAGE)
  if (values.version) return console.log(VERSION)
  if (positionals[0] !== 'serve' || positionals.length > 1)
    return fail(`expected 'serve'\n\n${USAGE}`)

  let port: number | undefined
  if (values.port !== undefined) {
    port = Number(values.port)
    if (!/^\d+$/.test(values.port) || port > 65535)
      return fail(`--port: not a port number: ${values.port}`)
  }

  const env = process.env as Env
  const shutdown = new AbortController()
  let app: ChatCompletionsApp
  let mode: string
  try {
    const { config } = await loadConfig({ path: values.config, env })
    mode = resolveAuth(config, env).mode
    app = createChatCompletionsApp({
      config,
      env,
      clientAddress: runtime.clientAddress,
      watchClient: runtime.watchClient,
      signal: shutdown.signal,
      backendRuntime: runtime.backendRuntime ?? { store: fileStore },
    })
  } catch (err) {
    if (err instanceof ConfigError) return fail(`invalid config: ${err.message}`)
    throw err
  }

  const { config } = app
  const hostname = values.host ?? bindHost(config.gateway.bind)
  port ??= config.gateway.port
  let listening: Listening
  try {
    listening = await runtime.serve(app, { port, hostname })
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'EADDRINUSE') {
      return fail(
        `port ${port} on ${hostname} is already in use; stop the other server or pick another --port`
      )
    }
    if (code === 'EADDRNOTAVAIL') return fail(`cannot bind ${hostname}: no such local address`)
    if (code === 'EACCES') return fail(`no permission to listen on ${hostname}:${port}`)
    throw err
  }

  const { chatCompletions, responses } = config.gateway.http.endpoints
  const state = (on: boolean) => (on ? 'enabled' : 'disabled')
  console.log(
    `gateway-chat-completions listening on ${listening.url} ` +
      `(chat completions: ${state(chatCompletions.enabled)}, ` +
      `responses: ${state(responses.enabled)}, auth: ${mode}, backend: ${config.backend.type})`
  )
  if (mode === 'none' && !LOOPBACK_HOSTS.includes(hostname)) {
    console.warn(
      `WARNING: auth mode 'none' on ${hostname}: anyone who can reach this port can run agents`
    )
  }

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`gateway-chat-completions: ${signal}, shutting down`)
    // New requests get 503 from now on; answers in flight get the drain time to finish, then
    // their runs are aborted (streams: an error event and [DONE]; non-streams: 503).
    shutdown.abort()
    await listening.close(config.gateway.drainTimeoutMs + 5_000)
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

/** Runs the CLI, turning an unexpected failure into exit code 1. */
export const main = (argv: string[], runtime: CliRuntime) =>
  runCli(argv, runtime).catch((err) => {
    console.error('gateway-chat-completions: unexpected error', err)
    process.exit(1)
  })
