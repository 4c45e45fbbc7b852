/**
 * createChatCompletionsApp(): the Hono app. One request goes one way through it:
 * auth → body → validate → route → prompt → images → run → respond.
 */
import { Hono, type Context } from 'hono'
import { cors } from 'hono/cors'
import { createAuthenticator, type Caller } from './auth.ts'
import type { AgentBackend, AgentInfo, AgentRunInput, BackendRuntime } from './backend.ts'
import { createBackend } from './backends/create-backend.ts'
import { readJsonBody } from './body.ts'
import { buildCompletion, type CompletionContext } from './completion.ts'
import {
  parseConfig,
  resolveAuth,
  selectionRequired,
  type Config,
  type ConfigInput,
  type Env,
  type ResolvedAuth,
} from './config.ts'
import { ApiError, badRequest, withHeaders } from './errors.ts'
import { extractImages } from './images.ts'
import { getModel, listModels } from './models.ts'
import { buildPrompt } from './prompt.ts'
import { parseChatRequest } from './request.ts'
import { commonHeaders, headerValue, respond, respondJson } from './respond.ts'
import { resolveRoute } from './routing.ts'
import { consoleLogger, TurnRunner, type Logger, type RunStats } from './run.ts'
import { SSE_HEADERS, sseStream } from './sse.ts'
import { trustedClientAddress } from './client-address.ts'
import { ADMIN, READ, requireScope, WRITE } from './scopes.ts'
import { Turns, watchRequestSignal, type ClientWatch } from './turn.ts'

export const CHAT_PATH = '/v1/chat/completions'
export const MODELS_PATH = '/v1/models'
export const HEALTH_PATH = '/health'

export interface ChatCompletionsOptions {
  /** The config, as a file would say it (defaults filled in) or already parsed. */
  config?: ConfigInput
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
  logger?: Logger
  /** Used to fetch allow-listed remote images. */
  fetch?: typeof fetch
  /** What the runtime lends the configured backend (WebSocket, persistent store). */
  backendRuntime?: BackendRuntime
}

export type ChatCompletionsApp = Hono<AppEnv> & {
  /** The validated config the app runs with. */
  readonly config: Config
  /** Live counts, for tests and operators: runs in flight and session locks held. */
  stats(): RunStats
}

type AppEnv = { Variables: { bodyRead: boolean } }

const shuttingDown = () => new ApiError(503, 'The server is shutting down.')

const hasBody = (req: Request) =>
  (req.headers.get('content-length') ?? '0') !== '0' || req.headers.has('transfer-encoding')

/** An answer given before the body was read closes the connection, so keep-alive stays sane. */
const sendError = (c: Context<AppEnv>, err: ApiError) => {
  const unread = !c.get('bodyRead') && hasBody(c.req.raw)
  const headers = unread ? { ...err.headers, connection: 'close' } : err.headers
  return respondJson(c.req.raw, err.toJSON(), err.status, headers)
}

/**
 * Creates the OpenAI-compatible app. Mount it as is (`export default app`, `Bun.serve`,
 * `Deno.serve`) or through the Node entry.
 *
 * @example
 * ```ts
 * const app = createChatCompletionsApp({
 *   config: { gateway: { http: { endpoints: { chatCompletions: { enabled: true } } } } },
 *   env: process.env,
 * })
 * ```
 * @throws {ConfigError} for a bad config, or token/password auth without a secret
 */
export const createChatCompletionsApp = (
  options: ChatCompletionsOptions = {}
): ChatCompletionsApp => {
  const env = options.env ?? {}
  const config = parseConfig(options.config ?? {})
  const logger = options.logger ?? consoleLogger
  const endpoint = config.gateway.http.endpoints.chatCompletions
  const auth = createAuthenticator(
    options.auth ?? resolveAuth(config, env),
    config.gateway.auth.rateLimit,
    config.gateway.http.cors.allowedOrigins
  )
  const backend =
    options.backend ?? createBackend(config.backend, { logger, ...options.backendRuntime })
  const runner = new TurnRunner(backend, logger)
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
  const authenticate = (c: Context<AppEnv>): Caller =>
    auth.check({ headers: c.req.raw.headers, peer: peerAddress(c), client: clientAddress(c) })
  // The configured list needs no await: most requests take this path.
  const agents = (): AgentInfo[] | Promise<AgentInfo[]> =>
    backend.listAgents ? backend.listAgents() : config.agents.list

  const app = new Hono<AppEnv>()

  const { allowedOrigins } = config.gateway.http.cors
  if (allowedOrigins.length) {
    // The CORS middleware answers preflights itself: give those the common headers too.
    app.use(async function preflightHeaders(c, next) {
      await next()
      if (c.req.method !== 'OPTIONS') return
      for (const [name, value] of Object.entries(commonHeaders(c.req.raw))) {
        c.res.headers.set(name, value)
      }
    })
    // Preflights are answered here, before auth. Credentials are never allowed: the API takes a
    // bearer token, not cookies, so no origin (least of all `*`) needs them.
    app.use(
      cors({
        origin: allowedOrigins.includes('*') ? '*' : allowedOrigins,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        exposeHeaders: [
          'x-request-id',
          'x-openclaw-agent-id',
          'x-openclaw-session-key',
          'retry-after',
        ],
        maxAge: 600,
      })
    )
  }

  app.get(HEALTH_PATH, (c) => respondJson(c.req.raw, { status: 'ok' }))
  // Live counts for operators and tests, behind the same secret as the API.
  app.get(`${HEALTH_PATH}/details`, function healthDetails(c) {
    requireScope(authenticate(c).scopes, READ)
    return respondJson(c.req.raw, { status: 'ok', ...runner.stats() })
  })

  /** The checks before a body is read: enabled, method, not shutting down, auth, scope. */
  const guard = (c: Context<AppEnv>, method: string, scope: string): Caller => {
    if (!endpoint.enabled) {
      throw new ApiError(
        404,
        'The OpenAI-compatible endpoint is disabled. Enable it with ' +
          '`gateway.http.endpoints.chatCompletions.enabled: true` in the config.',
        { code: 'endpoint_disabled' }
      )
    }
    if (c.req.method !== method) {
      throw new ApiError(405, `Method ${c.req.method} is not allowed; use ${method}.`, {
        headers: { allow: method },
        code: 'method_not_allowed',
      })
    }
    if (shutdown?.aborted) throw shuttingDown()
    const caller = authenticate(c)
    requireScope(caller.scopes, scope)
    return caller
  }

  app.all(CHAT_PATH, async function chatCompletions(c) {
    const caller = guard(c, 'POST', WRITE)
    const body = await readJsonBody(c.req.raw, endpoint.maxBodyBytes, endpoint.bodyTimeoutMs)
    c.set('bodyRead', true)
    // Choosing the provider model is an admin's call (a shared secret always is one).
    if (c.req.header('x-openclaw-model')?.trim()) requireScope(caller.scopes, ADMIN)
    const req = parseChatRequest(body)
    if (req.clientTools.length && backend.capabilities?.clientTools === false) {
      throw badRequest(
        `Client tools are not available with the ${backend.name ?? 'configured'} backend: it ` +
          'cannot pass them to the agent. Leave out `tools`, or send `tool_choice: "none"`.',
        'tools',
        'unsupported_parameter'
      )
    }
    const known = await agents()
    const route = resolveRoute(
      c.req.raw.headers,
      req.model,
      req.user,
      known,
      selectionRequired(config, known)
    )
    const routeHeaders = {
      'x-openclaw-agent-id': route.agentId,
      // A key made from `user` may hold anything (`josé`, a newline): it is sent percent-encoded.
      'x-openclaw-session-key': headerValue(route.sessionKey),
    }
    try {
      const prompt = buildPrompt(req.messages, req.toolInstruction)
      const images = await extractImages(
        req.messages,
        prompt.currentIndex,
        endpoint,
        options.fetch,
        req.imageParts[prompt.currentIndex]
      )

      const ctx: CompletionContext = {
        id: `chatcmpl-${crypto.randomUUID()}`,
        created: Math.floor(Date.now() / 1000),
        model: req.model,
        toolChoice: req.toolChoice,
      }
      const input: AgentRunInput = {
        runId: ctx.id,
        agentId: route.agentId,
        sessionKey: route.sessionKey,
        messageChannel: route.messageChannel,
        message: prompt.message,
        images,
        messages: req.messages,
        clientTools: req.clientTools,
        toolChoice: req.toolChoice,
        streamParams: req.streamParams,
        senderIsOwner: caller.owner,
      }
      // Set only when present (a `delete` would turn the object into a slow dictionary).
      if (prompt.extraSystemPrompt !== undefined) input.extraSystemPrompt = prompt.extraSystemPrompt
      if (req.user !== undefined) input.user = req.user
      if (route.modelOverride !== undefined) input.modelOverride = route.modelOverride

      const watch = options.watchClient?.(c) ?? watchRequestSignal(c.req.raw.signal)
      const turn = turns.create(watch, config.agents.defaults.timeoutSeconds)
      const events = runner.run(input, turn)

      if (!req.stream)
        return respondJson(c.req.raw, await buildCompletion(events, ctx), 200, routeHeaders)
      const heartbeatMs = endpoint.heartbeatSeconds * 1000
      const stream = sseStream(
        events,
        { ...ctx, includeUsage: req.includeUsage, heartbeatMs },
        () => {
          turn.abort(new ApiError(499, 'The client closed the connection.'))
          // A body cancelled before its first read never starts the turn, whose `finally` disposes.
          turn.dispose()
        }
      )
      return respond(c.req.raw, stream, 200, { ...SSE_HEADERS, ...routeHeaders })
    } catch (err) {
      // An answer that fails after routing still says where the request went.
      throw err instanceof ApiError ? withHeaders(err, routeHeaders) : err
    }
  })

  app.all(MODELS_PATH, async function models(c) {
    guard(c, 'GET', READ)
    return respondJson(c.req.raw, listModels(await agents()))
  })

  app.all(`${MODELS_PATH}/:id{.+}`, async function model(c) {
    guard(c, 'GET', READ)
    // The raw path segment: the id is URL-encoded (`openclaw%2Fdefault`) and decoded exactly once.
    const encoded = new URL(c.req.url).pathname.slice(MODELS_PATH.length + 1)
    return respondJson(c.req.raw, getModel(encoded, await agents()))
  })

  app.notFound((c) =>
    sendError(
      c,
      new ApiError(404, `Invalid URL (${c.req.method} ${new URL(c.req.url).pathname})`, {
        code: 'not_found',
      })
    )
  )

  app.onError((err, c) => {
    if (err instanceof ApiError) return sendError(c, err)
    logger.error(`unhandled error on ${c.req.method} ${c.req.path}`, err)
    return sendError(c, new ApiError(500, 'internal error'))
  })

  return Object.assign(app, { config, stats: () => runner.stats() })
}
