/**
 * Node glue, the only place that knows `node:http`: serve the app on a port, read the config
 * file, and find the client's address for the failed-auth lockout.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { getRequestListener } from '@hono/node-server'
import type { Context } from 'hono'
import JSON5 from 'json5'
import { ConfigError, parseConfig, substituteEnv, type Config, type Env } from '../config.ts'

type FetchApp = { fetch: (request: Request, env?: any) => Response | Promise<Response> }

/** The client's socket address, for `createChatCompletionsApp({ clientAddress })`. */
export const nodeClientAddress = (c: Context): string | undefined =>
  (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress

export interface ServeOptions {
  port?: number
  hostname?: string
}

export interface RunningServer {
  server: Server
  /** `http://host:port`, with the port actually bound. */
  url: string
  /** Stops accepting, waits for open requests, then closes idle and remaining connections. */
  close(graceMs?: number): Promise<void>
}

/** A request listener for `node:http` that leaves the host's globals alone. */
export const toNodeListener = (app: FetchApp) =>
  getRequestListener(app.fetch, { overrideGlobalObjects: false })

/**
 * Serves the app on its own `node:http` server.
 * @throws the listen error (e.g. `EADDRINUSE`)
 */
export const serve = (app: FetchApp, { port = 18789, hostname = '127.0.0.1' }: ServeOptions = {}) =>
  new Promise<RunningServer>((resolve, reject) => {
    const server = createServer(toNodeListener(app))
    // While closing, a connection whose answer just ended (a stream cut short by shutdown) is
    // idle: close it now rather than wait for the client's keep-alive or the grace period.
    server.on('request', (_req, res: ServerResponse) =>
      res.once('close', () => {
        if (!server.listening) server.closeIdleConnections()
      })
    )
    server.once('error', reject)
    server.listen(port, hostname, () => {
      server.off('error', reject)
      const { port: bound } = server.address() as AddressInfo
      const host = hostname.includes(':') ? `[${hostname}]` : hostname
      resolve({ server, url: `http://${host}:${bound}`, close: (graceMs) => closeServer(server, graceMs) })
    })
  })

const closeServer = (server: Server, graceMs = 5_000) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs)
    timer.unref?.()
    server.close(() => {
      clearTimeout(timer)
      resolve()
    })
    server.closeIdleConnections()
  })

export interface LoadConfigOptions {
  /** The config file; else `OPENCLAW_CONFIG_PATH`, else `~/.openclaw/openclaw.json`. */
  path?: string
  env?: Env
}

/**
 * Reads and validates the JSON5 config file. A missing default file means an empty config; a
 * missing file that was asked for by name is an error.
 * @throws {ConfigError}
 */
export const loadConfig = async ({ path, env = process.env }: LoadConfigOptions = {}): Promise<{
  config: Config
  path?: string
}> => {
  const named = path ?? (env.OPENCLAW_CONFIG_PATH || undefined)
  const file = named ?? join(homedir(), '.openclaw', 'openclaw.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (!named && (err as NodeJS.ErrnoException).code === 'ENOENT') return { config: parseConfig({}) }
    throw new ConfigError('', `cannot read config file ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON5.parse(text)
  } catch (err) {
    throw new ConfigError('', `config file ${file} is not valid JSON5: ${(err as Error).message}`)
  }
  return { config: parseConfig(substituteEnv(raw, env)), path: file }
}
