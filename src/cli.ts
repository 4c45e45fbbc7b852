#!/usr/bin/env node
/** `gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]` */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createChatCompletionsApp } from './app.ts'
import { bindHost, ConfigError, resolveAuth } from './config.ts'
import { loadConfig, nodeClientAddress, serve } from './runtimes/node.ts'

const USAGE = `Usage: gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]

Serves an OpenAI-compatible POST /v1/chat/completions in front of an agent runtime.

Options:
  --config FILE   JSON5 config (default: $OPENCLAW_CONFIG_PATH, else ~/.openclaw/openclaw.json)
  --port N        port to listen on (default: gateway.port, 18789)
  --host ADDR     address to bind (default: from gateway.bind, loopback = 127.0.0.1)
  -h, --help      show this help
  -v, --version   print the version`

const fail = (message: string): never => {
  console.error(`gateway-chat-completions: ${message}`)
  process.exit(2)
}

const main = async () => {
  let args: ReturnType<typeof parse>
  const parse = () =>
    parseArgs({
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  try {
    args = parse()
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${USAGE}`)
  }
  const { values, positionals } = args
  if (values.help) return console.log(USAGE)
  if (values.version) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    return console.log(pkg.version)
  }
  if (positionals[0] !== 'serve' || positionals.length > 1) return fail(`expected 'serve'\n\n${USAGE}`)

  let port: number | undefined
  if (values.port !== undefined) {
    port = Number(values.port)
    if (!/^\d+$/.test(values.port) || port > 65535) return fail(`--port: not a port number: ${values.port}`)
  }

  const shutdown = new AbortController()
  let app: ReturnType<typeof createChatCompletionsApp>
  let mode: string
  try {
    const { config } = await loadConfig({ path: values.config, env: process.env })
    mode = resolveAuth(config, process.env).mode
    app = createChatCompletionsApp({
      config,
      env: process.env,
      clientAddress: nodeClientAddress,
      signal: shutdown.signal,
    })
  } catch (err) {
    if (err instanceof ConfigError) return fail(`invalid config: ${err.message}`)
    throw err
  }

  const { config } = app
  const hostname = values.host ?? bindHost(config.gateway.bind)
  port ??= config.gateway.port
  let running: Awaited<ReturnType<typeof serve>>
  try {
    running = await serve(app, { port, hostname })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      return fail(`port ${port} on ${hostname} is already in use; stop the other server or pick another --port`)
    }
    if (code === 'EADDRNOTAVAIL') return fail(`cannot bind ${hostname}: no such local address`)
    if (code === 'EACCES') return fail(`no permission to listen on ${hostname}:${port}`)
    throw err
  }

  const enabled = config.gateway.http.endpoints.chatCompletions.enabled
  console.log(
    `gateway-chat-completions listening on ${running.url} ` +
      `(chat completions: ${enabled ? 'enabled' : 'disabled'}, auth: ${mode}, backend: ${config.backend.type})`
  )
  if (mode === 'none' && hostname !== '127.0.0.1' && hostname !== '::1' && hostname !== 'localhost') {
    console.warn(`WARNING: auth mode 'none' on ${hostname}: anyone who can reach this port can run agents`)
  }

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`gateway-chat-completions: ${signal}, shutting down`)
    // Aborting ends every run: streams get an error event and [DONE], non-streams a 503.
    shutdown.abort()
    await running.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

main().catch((err) => {
  console.error('gateway-chat-completions: unexpected error', err)
  process.exit(1)
})
