/**
 * Node glue, the only place that knows `node:http`: serve the app on its own port, or mount it
 * into a host's server beside the host's routes and WebSockets.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import type { Context } from 'hono'
import { createRequire } from 'node:module'
import type { BackendRuntime, WebSocketConstructor } from '../backend.ts'
import { fileStore } from './file-store.ts'
import { nodeFetch } from './node-fetch.ts'
import { watchRequestSignal, type ClientWatch } from '../core/turn.ts'
import { listenUrl } from './listen-url.ts'
import { FALLBACK_HOST, repairHost } from './host.ts'
import type { LingerBounds } from './linger-bounds.ts'
import { lingeringFetch } from './fetch-linger.ts'
import { lingeringClose } from './node-linger.ts'
import { answerUnservable } from './node-request-error.ts'

const require = createRequire(import.meta.url)

type FetchApp = { fetch: (request: Request, env?: any) => Response | Promise<Response> }

/**
 * What Node lends the backends: the global WebSocket where there is one (Node 22+), else the
 * `ws` package's (Node 20 has no global WebSocket), state kept in files, and a lean `fetch`.
 * `ws` is loaded only where it is used: loading it is ~50 ms of a ~190 ms start.
 */
export const nodeBackendRuntime = (): BackendRuntime => ({
  WebSocket:
    (globalThis.WebSocket as WebSocketConstructor | undefined) ??
    ((require('ws') as typeof import('ws')).WebSocket as unknown as WebSocketConstructor),
  store: fileStore,
  fetch: nodeFetch as typeof fetch,
})

/**
 * The client going away, seen on the Node response: closed before it finished. (What
 * node-server itself watches to abort `request.signal`, without building that signal.)
 */
export const nodeWatchClient =
  (c: Context): ClientWatch =>
  (onGone) => {
    const res = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    if (!res) return watchRequestSignal(c.req.raw.signal)(onGone)
    const onClose = () => {
      if (!res.writableFinished) onGone(new Error('Client connection prematurely closed.'))
    }
    res.once('close', onClose)
    return () => res.off('close', onClose)
  }

/** The client's socket address, for `createChatCompletionsApp({ clientAddress })`. */
export const nodeClientAddress = (c: Context): string | undefined =>
  (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress

export interface ListenerOptions {
  /**
   * Let `@hono/node-server` swap the process's global `Request`/`Response` for its lighter ones
   * (default false: the globals may be someone else's).
   */
  overrideGlobalObjects?: boolean
  /**
   * Bounds of the lingering close after an answer given before the body was read (the body is
   * read and discarded until it ends, for at most this long and this many bytes, so that the
   * client can read the answer; see `node-linger.ts`). Default: 5 s, 64 MiB.
   */
  linger?: LingerBounds
}

export interface ServeOptions {
  port?: number
  hostname?: string
  /** Bounds of the lingering close after an early answer (see `ListenerOptions`). */
  linger?: LingerBounds
  /**
   * Let `@hono/node-server` swap the process's global `Request`/`Response` for its lighter
   * ones (default true: this server owns its process, and the swap saves a web-streams round
   * trip per request). `mount()` never swaps: there the globals are the host's.
   */
  overrideGlobalObjects?: boolean
}

export interface RunningServer {
  server: Server
  /** `http://host:port`, with the port actually bound. */
  url: string
  /** Stops accepting, waits for open requests, then closes idle and remaining connections. */
  close(graceMs?: number): Promise<void>
}

/**
 * A request listener for `node:http`; by default it leaves the process's globals alone. Besides
 * what `@hono/node-server` does, it lingers after an early answer (so the client gets to read
 * it), serves a request whose `Host` does not parse, and answers in the OpenAI error shape what
 * node-server could not turn into a `Request`.
 */
export const toNodeListener = (
  app: FetchApp,
  { overrideGlobalObjects = false, linger }: ListenerOptions = {}
) => {
  // Bun's `node:http` closes by itself, not through `socket.destroySoon()`: there the answer is
  // held open instead (fetch-linger.ts).
  const onBun = process.versions.bun !== undefined
  const listener = getRequestListener(onBun ? lingeringFetch(app.fetch, linger) : app.fetch, {
    overrideGlobalObjects,
    hostname: FALLBACK_HOST,
    errorHandler: answerUnservable,
  })
  const noteRequest = onBun ? () => {} : lingeringClose(linger)
  return (req: IncomingMessage, res: ServerResponse) => {
    noteRequest(req)
    repairHost(req)
    return listener(req, res)
  }
}

/**
 * Serves the app on its own `node:http` server.
 * @throws the listen error (e.g. `EADDRINUSE`)
 */
export const serve = (
  app: FetchApp,
  { port = 18789, hostname = '127.0.0.1', overrideGlobalObjects = true, linger }: ServeOptions = {}
) =>
  new Promise<RunningServer>((resolve, reject) => {
    const server = createServer(toNodeListener(app, { overrideGlobalObjects, linger }))
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
      resolve({
        server,
        url: listenUrl(hostname, bound),
        close: (graceMs) => closeServer(server, graceMs),
      })
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

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** The paths the app answers when mounted: both APIs and the model list. */
export const defaultMountMatch = (pathname: string) =>
  pathname === '/v1/chat/completions' ||
  pathname === '/v1/responses' ||
  pathname.startsWith('/v1/responses/') ||
  pathname === '/v1/models' ||
  pathname.startsWith('/v1/models/')

export interface MountOptions {
  /** Which paths go to the app (default: chat, `/v1/responses[/…]`, `/v1/models[/…]`). */
  match?: (pathname: string) => boolean
  /** Bounds of the lingering close after an early answer (see `ListenerOptions`). */
  linger?: LingerBounds
}

/**
 * Mounts the app into an existing `node:http` server (a gateway's): requests for the app's paths
 * go to the app, every other request goes to the host's own `request` listeners as before, and
 * `upgrade` events (the host's WebSockets) are never touched. The host's global `Request` and
 * `Response` are left alone. Call it after the host attached its request listener.
 *
 * @example
 * ```ts
 * const server = createServer(hostHandler)
 * server.on('upgrade', hostUpgrade)
 * const unmount = mount(server, createChatCompletionsApp({ config, clientAddress: nodeClientAddress }))
 * server.listen(18789)
 * ```
 * @returns a function that restores the host's listeners
 */
export const mount = (
  server: Server,
  app: FetchApp,
  { match = defaultMountMatch, linger }: MountOptions = {}
) => {
  const ours = toNodeListener(app, { linger })
  const host = server.listeners('request') as RequestListener[]
  const listener: RequestListener = (req, res) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if (match(q === -1 ? url : url.slice(0, q))) return void ours(req, res)
    for (const fn of host) fn.call(server, req, res)
  }
  server.removeAllListeners('request')
  server.on('request', listener)
  return function unmount() {
    server.off('request', listener)
    for (const fn of host) server.on('request', fn)
  }
}
