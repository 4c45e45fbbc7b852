/**
 * The `serve` command, shared by every runtime that has a filesystem and signals (Node, Bun,
 * Deno): parse flags, load and check the config, listen, print one line, stop cleanly.
 * Each entry supplies only how to listen.
 */
import process from 'node:process'
import type { Context } from 'hono'
import { createChatCompletionsApp, type ChatCompletionsApp } from '../app.ts'
import { bindHost, ConfigError, isListenAddress, resolveAuth, type Env } from '../config.ts'
import { closest } from '../core/did-you-mean.ts'
import { VERSION } from '../version.ts'
import type { BackendRuntime } from '../backend.ts'
import type { ClientWatch } from '../core/turn.ts'
import type { Store } from '../core/store.ts'
import { parseArgs } from './argv.ts'
import { cliStore } from './cli-store.ts'
import { fileStore } from './file-store.ts'
import type { PinoLogger } from './logger.ts'
import { KEYS_USAGE, runKeys } from './keys-command.ts'
import { loadConfig } from './load-config.ts'
import { logFlagsError, observability } from './observability.ts'

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
         [--log-format pretty|json] [--log-level LEVEL]

Serves OpenAI-compatible POST /v1/chat/completions and /v1/responses in front of an agent
runtime. To make an API key for a client: gateway-chat-completions keys create --help

Options:
  --config FILE   JSON5 config (default: $OPENCLAW_CONFIG_PATH, else ~/.openclaw/openclaw.json)
  --port N        port to listen on (default: gateway.port, 18789)
  --host ADDR     IP address to bind, or loopback (127.0.0.1) or lan (0.0.0.0)
                  (default: from gateway.bind, loopback)
  --log-format F  pretty or json (default: $OPENCLAW_LOG_FORMAT, else logging.consoleStyle,
                  else pretty on a terminal and json otherwise)
  --log-level L   silent, fatal, error, warn, info, debug or trace (default:
                  $OPENCLAW_LOG_LEVEL, else logging.consoleLevel or logging.level, else info)
  -h, --help      show this help
  -v, --version   print the version`

const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost']

const fail = (message: string): never => {
  console.error(`gateway-chat-completions: ${message}`)
  process.exit(2)
}

/** A mistake in how the command was called: the message, then the usage. */
const usageError = (message: string): never => fail(`${message}\n\n${USAGE}`)

const SERVE_ARGS = {
  values: ['config', 'port', 'host', 'log-format', 'log-level'],
  flags: { help: 'help', h: 'help', version: 'version', v: 'version' },
} as const

/** The command and its options; one command at most. */
const parse = (argv: string[]) => {
  const { values, flags, positionals } = parseArgs(argv, SERVE_ARGS, usageError)
  if (positionals.length > 1) usageError(`unexpected argument '${positionals[1]}'`)
  return { command: positionals[0], values, flags }
}

/**
 * `--host`: an address to listen on, or `loopback` / `lan` as `gateway.bind` says them. Names
 * other than `localhost` are refused here: listening would look them up and fail with a stack.
 */
const hostFlag = (host: string): string => {
  if (host === 'loopback') return '127.0.0.1'
  if (host === 'lan') return '0.0.0.0'
  if (isListenAddress(host)) return host
  return fail(
    `--host: must be loopback, lan, localhost or an IP address (got ${JSON.stringify(host)})`
  )
}

/** Runs the CLI with `argv` (the arguments after the program name). */
export const runCli = async (argv: string[], runtime: CliRuntime): Promise<void> => {
  // `keys` has options of its own: read before `serve`'s parser would refuse them.
  if (argv[0] === 'keys') {
    return runKeys(argv.slice(1), {
      out: (text) => console.log(text),
      fail: (message) => fail(`${message}\n\n${KEYS_USAGE}`),
    })
  }
  const { command, values, flags } = parse(argv)
  if (flags.help) return console.log(USAGE)
  if (flags.version) return console.log(VERSION)
  if (command === undefined) return usageError("expected the command 'serve'")
  if (command !== 'serve') {
    const guess = closest(command, ['serve', 'keys'])
    return usageError(`unknown command '${command}'${guess ? `; did you mean ${guess}?` : ''}`)
  }
  const host = values.host === undefined ? undefined : hostFlag(values.host)

  let port: number | undefined
  if (values.port !== undefined) {
    port = Number(values.port)
    if (!/^\d+$/.test(values.port) || port > 65535)
      return fail(`--port: not a port number: ${values.port}`)
  }

  const logFlags = logFlagsError(values)
  if (logFlags) return fail(logFlags)

  const env = process.env as Env
  const shutdown = new AbortController()
  let app: ChatCompletionsApp
  let logger: PinoLogger
  let store: Store | undefined
  let mode: string
  let hostname: string
  try {
    const { config } = await loadConfig({ path: values.config, env })
    mode = resolveAuth(config, env).mode
    const sinks = await observability(config, env, values)
    logger = sinks.logger
    // Whatever way the process ends from here, the lines of its last turn are written.
    process.once('exit', () => logger.flush())
    store = await cliStore(config, env, sinks.logger)
    app = createChatCompletionsApp({
      config,
      env,
      ...sinks,
      store,
      clientAddress: runtime.clientAddress,
      watchClient: runtime.watchClient,
      signal: shutdown.signal,
      backendRuntime: runtime.backendRuntime ?? { store: fileStore },
    })
    hostname = host ?? bindHost(config.gateway.bind, config.gateway.customBindHost)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const [first, ...more] = err.problems.map(({ path, reason }) =>
      path ? `${path}: ${reason}` : reason
    )
    if (!more.length) return fail(`invalid config: ${first}`)
    return fail(`invalid config (${more.length + 1} problems):\n  ${[first, ...more].join('\n  ')}`)
  }

  const { config } = app
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
  // Through the log, so that under `--log-format json` every line on stdout is JSON.
  logger.notice(
    `gateway-chat-completions listening on ${listening.url} ` +
      `(chat completions: ${state(chatCompletions.enabled)}, ` +
      `responses: ${state(responses.enabled)}, auth: ${mode}, backend: ${config.backend.type})`
  )
  if (mode === 'none' && !LOOPBACK_HOSTS.includes(hostname)) {
    logger.warn(
      `WARNING: auth mode 'none' on ${hostname}: anyone who can reach this port can run agents`
    )
  }

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.notice(`gateway-chat-completions: ${signal}, shutting down`)
    // New requests get 503 from now on; answers in flight get the drain time to finish, then
    // their runs are aborted (streams: an error event and [DONE]; non-streams: 503).
    shutdown.abort()
    await listening.close(config.gateway.drainTimeoutMs + 5_000)
    // After the answers in flight: their session locks are released, not left to run out.
    await store?.close?.()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

/** Runs the CLI, turning an unexpected failure into exit code 1. */
export const main = (argv: string[], runtime: CliRuntime) =>
  runCli(argv, runtime).catch((err) => {
    // The stack as text: Bun prints an Error object with the source around it, which in the
    // single binary is a line of the minified bundle.
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err)
    console.error(`gateway-chat-completions: unexpected error: ${detail}`)
    process.exit(1)
  })
