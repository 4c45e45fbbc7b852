/**
 * What every API's handlers share, built once per app: the config, the backend and its turn
 * runner, auth, routing, and the shutdown drain. The APIs (chat/, responses/) each turn their
 * wire format into one `AgentRunInput` and the events back; everything around that is here.
 */
import type { Context } from 'hono'
import type {
  AgentBackend,
  AgentEvent,
  AgentInfo,
  AgentRunInput,
  BackendRuntime,
} from '../backend.ts'
import { createBackend } from '../backends/create-backend.ts'
import {
  ConfigError,
  selectionRequired,
  type Config,
  type Env,
  type ResolvedAuth,
} from '../config.ts'
import { resolveAuth } from '../config.ts'
import type { KeyEndpoint } from './api-keys.ts'
import { createAuthenticator, type Caller } from './auth.ts'
import { trustedClientAddress } from './client-address.ts'
import { ApiError, badRequest } from './errors.ts'
import { beginExchange, exchangeOf } from './exchange.ts'
import { logSettings } from './log-settings.ts'
import { admit } from './key-limits.ts'
import { consoleLogger, type Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import { memoryStore } from './memory-store.ts'
import { logSessionKey, type RequestLogEntry } from './request-log.ts'
import { headerValue, respond } from './respond.ts'
import { resolveRoute, type Route } from './routing.ts'
import { TurnRunner } from './run.ts'
import { ADMIN, requireScope } from './scopes.ts'
import { SSE_HEADERS, sseStream, type Framer } from './sse.ts'
import type { Awaitable, Store } from './store.ts'
import { Turns, watchRequestSignal, type ClientWatch, type Turn } from './turn.ts'

export interface Routed {
  route: Route
  /** Where the request went: `x-openclaw-agent-id` and `x-openclaw-session-key`. */
  headers: Record<string, string>
}

export interface RunningTurn {
  turn: Turn
  events: AsyncIterableIterator<AgentEvent>
}

export interface ContextOptions {
  /** The agent runtime; default: the one `config.backend` names. */
  backend?: AgentBackend
  /** Where `OPENCLAW_GATEWAY_TOKEN` / `_PASSWORD` are read from (runtime entries pass theirs). */
  env?: Env
  /** Auth to enforce instead of what config and env resolve to. */
  auth?: ResolvedAuth
  /** The client's address, for the failed-auth lockout (runtime-specific; see the entries). */
  clientAddress?: (c: Context) => string | undefined
  /**
   * How to learn that the client went away (runtime-specific; default: `request.signal`, which
   * every runtime aborts on disconnect). Node's entry reads the response's `close` instead,
   * which spares an `AbortController` per request.
   */
  watchClient?: (c: Context) => ClientWatch
  /** Fires when the server shuts down: runs are aborted and new requests get 503. */
  signal?: AbortSignal
  /**
   * Where log lines go, the request log (`logger.request`) included. Default: JSON lines through
   * `console` at the level `logging` / `OPENCLAW_LOG_LEVEL` set.
   */
  logger?: Logger
  /** Where the app reports what the metrics count; `GET /metrics` needs its `expose`. */
  metrics?: Metrics
  /** Used to fetch allow-listed remote images and files. */
  fetch?: typeof fetch
  /**
   * Where state shared between instances lives (lockouts, session locks, per-key counters,
   * stored responses). Default: this process's memory. `gateway.store` other than `memory` needs
   * one: the runtime entries make it (Redis on Node, Bun and Deno; Durable Objects on Workers).
   */
  store?: Store
  /** What the runtime lends the configured backend (WebSocket, persistent store). */
  backendRuntime?: BackendRuntime
}

/** An endpoint the guard checks: whether it is on, and how to turn it on. */
export interface Endpoint {
  enabled: boolean
  /** The 404 when it is off. */
  disabled: string
  /** Its name in an API key's `endpoints`. */
  key: KeyEndpoint
}

export const shuttingDown = () => new ApiError(503, 'The server is shutting down.')

export type AppContext = ReturnType<typeof createContext>

const defaultLogger = (config: Config, env: Env): Logger => {
  const { settings, warnings } = logSettings(config, env)
  const logger = consoleLogger(settings.level)
  for (const warning of warnings) logger.warn(warning)
  return logger
}

/** The memory store, unless the config names a shared one (which its runtime must make). */
const defaultStore = (config: Config): Store => {
  const { store } = config.gateway
  if (store.type !== 'memory') {
    throw new ConfigError(
      'gateway.store',
      `the ${store.type} store is made by its runtime entry (${
        store.type === 'redis' ? 'the CLI on Node, Bun or Deno' : 'the Workers entry'
      }); a library user passes it as the \`store\` option`
    )
  }
  const { retention } = config.gateway.http.endpoints.responses
  return memoryStore({
    responses: { maxResponses: retention.maxResponses, ttlMs: retention.ttlSeconds * 1000 },
  })
}

export const createContext = (config: Config, options: ContextOptions) => {
  const logger = options.logger ?? defaultLogger(config, options.env ?? {})
  const { metrics } = options
  const store = options.store ?? defaultStore(config)
  const auth = createAuthenticator(
    options.auth ?? resolveAuth(config, options.env ?? {}),
    config.gateway.auth.rateLimit,
    store,
    config.gateway.http.cors.allowedOrigins,
    metrics && (() => metrics.authLockout()),
    config.gateway.http.apiKeys
  )
  const { apiKeysOnly } = config.gateway.http
  const backend =
    options.backend ??
    createBackend(config.backend, { logger, events: metrics?.backend, ...options.backendRuntime })
  const runner = new TurnRunner(backend, store, logger, metrics)
  const shutdown = options.signal
  // Shutdown drains: new requests get 503 at once, answers in flight get `drainTimeoutMs` to
  // finish, then every run still going is aborted (its client hears why) and the backend closes.
  const turns = new Turns()
  const stopRuns = () => {
    turns.abortAll(shuttingDown())
    backend.close?.().catch(() => {})
  }
  shutdown?.addEventListener(
    'abort',
    () => {
      if (runner.stats().activeRuns === 0) return stopRuns()
      const timer = setTimeout(stopRuns, config.gateway.drainTimeoutMs)
      ;(timer as { unref?: () => void }).unref?.()
    },
    { once: true }
  )

  const peerAddress = options.clientAddress ?? (() => undefined)
  const clientAddress = trustedClientAddress(peerAddress, config.gateway.trustedProxies)
  const authenticate = (c: Context): Awaitable<Caller> => {
    const client = clientAddress(c)
    // The request log shows the client: it need not be worked out a second time.
    if (logger.request) exchangeOf(c.req.raw)?.clientIs(client)
    return auth.check({ headers: c.req.raw.headers, peer: peerAddress(c), client })
  }

  const exchangeSinks = {
    request: logger.request && ((entry: RequestLogEntry) => logger.request!(entry)),
    metrics,
    clientAddress,
  }
  // The prompt at debug level, only when the config asks for it: it is the user's content.
  const logContent = config.logging.content && logger.debug !== undefined

  /**
   * The guard's last checks: the scope, then for an API key its endpoints and its limits (the
   * store's one visit for them); under `apiKeysOnly`, only keys pass.
   */
  const admitted = (
    c: Context,
    endpoint: Endpoint,
    scope: string,
    caller: Caller
  ): Awaitable<Caller> => {
    requireScope(caller.scopes, scope)
    const { key } = caller
    if (!key) {
      if (apiKeysOnly) {
        throw new ApiError(
          401,
          'The gateway token is not accepted here (gateway.http.apiKeysOnly): use an API key.',
          { code: 'invalid_api_key', headers: { 'www-authenticate': 'Bearer' } }
        )
      }
      return caller
    }
    // A request the app did not begin (a sub-app's route) still needs somewhere to hold its slot.
    const exchange = exchangeOf(c.req.raw) ?? beginExchange(c.req.raw, c.env, exchangeSinks)
    exchange.keyed(key.id)
    if (!key.endpoints.has(endpoint.key)) {
      throw new ApiError(
        403,
        `API key '${key.id}' may not use the ${endpoint.key} endpoints ` +
          `(it may use: ${[...key.endpoints].join(', ')}).`,
        { code: 'endpoint_not_allowed' }
      )
    }
    if (key.rpm === undefined && key.concurrency === undefined) return caller
    const admission = admit(store, key)
    if (admission instanceof Promise) {
      return admission.then(({ headers, release }) => {
        exchange.admitted(headers, release)
        return caller
      })
    }
    exchange.admitted(admission.headers, admission.release)
    return caller
  }

  // The configured list needs no await: most requests take this path.
  const agents = (): AgentInfo[] | Promise<AgentInfo[]> =>
    backend.listAgents ? backend.listAgents() : config.agents.list

  return {
    config,
    logger,
    backend,
    runner,
    store,
    fetch: options.fetch,
    authenticate,
    agents,

    /**
     * The checks before a body is read, in the gateway's order: the endpoint is on, the method,
     * not shutting down, auth, then the scope.
     */
    guard(
      c: Context,
      endpoint: Endpoint,
      method: string | string[],
      scope: string
    ): Awaitable<Caller> {
      if (!endpoint.enabled)
        throw new ApiError(404, endpoint.disabled, { code: 'endpoint_disabled' })
      const methods = typeof method === 'string' ? [method] : method
      if (!methods.includes(c.req.method)) {
        const allow = methods.join(', ')
        throw new ApiError(
          405,
          `Method ${c.req.method} is not allowed; use ${methods.join(' or ')}.`,
          {
            headers: { allow },
            code: 'method_not_allowed',
          }
        )
      }
      if (shutdown?.aborted) throw shuttingDown()
      const caller = authenticate(c)
      return caller instanceof Promise
        ? caller.then((found) => admitted(c, endpoint, scope, found))
        : admitted(c, endpoint, scope, caller)
    },

    /**
     * Choosing the provider model (`x-openclaw-model`) is an admin's call (a shared secret always
     * is one). Checked once the body is read, before it is validated, as the gateway does.
     * @throws {ApiError} 403 `missing scope: operator.admin`
     */
    checkModelOverride(c: Context, caller: Caller): void {
      if (c.req.header('x-openclaw-model')?.trim()) requireScope(caller.scopes, ADMIN)
    },

    /**
     * Checks that the backend can take the turn, then resolves its agent and session.
     * @throws {ApiError} 400 for client tools the backend cannot take, an invalid model, an
     *   unknown agent, a reserved session key; 403 for an agent the caller's API key may not use
     */
    route(
      c: Context,
      caller: Caller,
      request: { model: string; user?: string; clientTools: unknown[] },
      sessionPrefix: string,
      fallbackAgent?: string
    ): Routed | Promise<Routed> {
      if (request.clientTools.length && backend.capabilities?.clientTools === false) {
        throw badRequest(
          `Client tools are not available with the ${backend.name ?? 'configured'} backend: ` +
            'it cannot pass them to the agent. Leave out `tools`, or send `tool_choice: "none"`.',
          'tools',
          'unsupported_parameter'
        )
      }
      const routed = (known: AgentInfo[]): Routed => {
        const route = resolveRoute(c.req.raw.headers, request.model, request.user, known, {
          selectionRequired: selectionRequired(config, known),
          sessionPrefix,
          fallbackAgent,
          key: caller.key,
        })
        const headers = {
          'x-openclaw-agent-id': route.agentId,
          // A key made from `user` may hold anything (`josé`, a newline): sent percent-encoded.
          'x-openclaw-session-key': headerValue(route.sessionKey),
        }
        return { route, headers }
      }
      // The configured list is at hand: most requests are routed without a promise.
      const known = agents()
      return Array.isArray(known) ? routed(known) : known.then(routed)
    },

    /** Begins a request's exchange: its clock, `Server-Timing`, log line and metrics. */
    begin(request: Request, env: unknown): void {
      beginExchange(request, env, exchangeSinks)
    },

    /** Starts a turn: its abort follows the client, the run timeout and the shutdown. */
    run(c: Context, input: AgentRunInput): RunningTurn {
      const watch = options.watchClient?.(c) ?? watchRequestSignal(c.req.raw.signal)
      const turn = turns.create(watch, config.agents.defaults.timeoutSeconds)
      const exchange = exchangeOf(c.req.raw)
      exchange?.ran(input.runId)
      // A client gone (or the run timed out): its slot comes back even where the runtime never
      // cancels the answer's body (workerd may drop it).
      if (exchange?.holding) turn.onAbort(exchange.release)
      if (logContent) {
        logger.debug!('turn input', {
          runId: input.runId,
          agent: input.agentId,
          session: logSessionKey(input.sessionKey),
          message: input.message,
          system: input.extraSystemPrompt,
        })
      }
      return { turn, events: runner.run(input, turn) }
    },

    /** A turn's answer as SSE, in the API's frames; a reader that goes away aborts the turn. */
    stream(
      c: Context,
      { turn, events }: RunningTurn,
      framer: Framer,
      heartbeatSeconds: number,
      headers: Record<string, string>
    ): Response {
      const body = sseStream(events, framer, {
        heartbeatMs: heartbeatSeconds * 1000,
        meter: exchangeOf(c.req.raw),
        onCancel: () => {
          turn.abort(new ApiError(499, 'The client closed the connection.'))
          // A body cancelled before its first read never starts the turn, whose `finally`
          // disposes.
          turn.dispose()
        },
      })
      return respond(c.req.raw, body, 200, { ...SSE_HEADERS, ...headers })
    },
  }
}
