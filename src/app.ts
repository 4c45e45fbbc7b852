/**
 * createChatCompletionsApp(): one Hono app serving each enabled API over one shared core. A
 * request goes one way: auth → body → validate → route → run → respond; `chat/` and
 * `responses/` hold what is particular to each wire format, `core/` the rest.
 */
import { Hono, type Context } from 'hono'
import { cors } from 'hono/cors'
import { CHAT_PATH, chatHandler } from './chat/handler.ts'
import {
  parseConfig,
  type Config,
  type ConfigInput,
  type Env,
  type ResolvedAuth,
} from './config.ts'
import { createContext, type ContextOptions, type Endpoint } from './core/context.ts'
import { ApiError } from './core/errors.ts'
import { exchangeOf } from './core/exchange.ts'
import { commonHeaders, respond, respondJson } from './core/respond.ts'
import type { RunStats } from './core/run.ts'
import { storeUnavailable, StoreUnavailableError } from './core/store.ts'
import { READ, requireScope } from './core/scopes.ts'
import { getModel, listModels } from './models.ts'
import { RESPONSES_PATH, responsesHandlers } from './responses/handler.ts'

export { CHAT_PATH, RESPONSES_PATH }
export const MODELS_PATH = '/v1/models'
export const HEALTH_PATH = '/health'
export const METRICS_PATH = '/metrics'

export interface ChatCompletionsOptions extends ContextOptions {
  /**
   * The config, as a file would say it (defaults filled in, `${VAR}` placeholders expanded from
   * `env`) or as `parseConfig`/`loadConfig` returned it.
   */
  config?: ConfigInput
}

export type ChatCompletionsApp = Hono<AppEnv> & {
  /** The validated config the app runs with. */
  readonly config: Config
  /** Live counts, for tests and operators: runs in flight and session locks held. */
  stats(): RunStats
}

type AppEnv = { Variables: { bodyRead: boolean } }

const hasBody = (req: Request) =>
  (req.headers.get('content-length') ?? '0') !== '0' || req.headers.has('transfer-encoding')

/** An answer given before the body was read closes the connection, so keep-alive stays sane. */
const sendError = (c: Context<AppEnv>, err: ApiError) => {
  // An expired key's 401 still names the key in the log line (never the key itself).
  if (err.keyId !== undefined) exchangeOf(c.req.raw)?.keyed(err.keyId)
  const unread = !c.get('bodyRead') && hasBody(c.req.raw)
  const headers = unread ? { ...err.headers, connection: 'close' } : err.headers
  return respondJson(c.req.raw, err.toJSON(), err.status, headers)
}

const markBodyRead = (c: Context) => (c as Context<AppEnv>).set('bodyRead', true)

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
 * @throws {ConfigError} for a bad config (every problem found), an unset `${VAR}`, or
 *   token/password auth without a secret
 */
export const createChatCompletionsApp = (
  options: ChatCompletionsOptions = {}
): ChatCompletionsApp => {
  // `${VAR}` placeholders in a config written in code are expanded from `env`, as in a file.
  const config = parseConfig(options.config ?? {}, options.env)
  const ctx = createContext(config, options)
  const { endpoints } = config.gateway.http
  const app = new Hono<AppEnv>()

  const { allowedOrigins } = config.gateway.http.cors
  if (allowedOrigins.length) {
    // The CORS middleware answers preflights itself: give those the common headers too.
    app.use(async function preflightHeaders(c, next) {
      await next()
      if (c.req.method !== 'OPTIONS') return
      const headers = commonHeaders(c.req.raw)
      const exchange = exchangeOf(c.req.raw)
      if (exchange) {
        const id = headers['x-request-id']
        headers['server-timing'] = exchange.answered(c.res.status, id, undefined, null)
      }
      for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value)
    })
    // Preflights are answered here, before auth. Credentials are never allowed: the API takes a
    // bearer token, not cookies, so no origin (least of all `*`) needs them.
    app.use(
      cors({
        origin: allowedOrigins.includes('*') ? '*' : allowedOrigins,
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        exposeHeaders: [
          'x-request-id',
          'x-openclaw-agent-id',
          'x-openclaw-session-key',
          'retry-after',
          'server-timing',
          'x-ratelimit-limit-requests',
          'x-ratelimit-remaining-requests',
          'x-ratelimit-reset-requests',
        ],
        maxAge: 600,
      })
    )
  }

  app.get(HEALTH_PATH, (c) => respondJson(c.req.raw, { status: 'ok' }))
  /** An operator's read: an API key is for the `/v1` endpoints, not for these. */
  const operatorRead = async (c: Context) => {
    const caller = await ctx.authenticate(c)
    if (caller.key) {
      throw new ApiError(
        403,
        `API keys are for the /v1 endpoints; ${new URL(c.req.url).pathname} takes the gateway token.`,
        { code: 'endpoint_not_allowed' }
      )
    }
    requireScope(caller.scopes, READ)
  }

  // Live counts for operators and tests, behind the same secret as the API.
  app.get(`${HEALTH_PATH}/details`, async function healthDetails(c) {
    await operatorRead(c)
    return respondJson(c.req.raw, { status: 'ok', store: ctx.store.kind, ...ctx.runner.stats() })
  })

  // Prometheus text, where the runtime keeps metrics (not on Workers: there it is a 404).
  const expose = options.metrics?.expose?.bind(options.metrics)
  if (config.metrics.enabled && expose) {
    app.all(METRICS_PATH, async function metrics(c) {
      if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
        throw new ApiError(405, `Method ${c.req.method} is not allowed; use GET.`, {
          headers: { allow: 'GET' },
          code: 'method_not_allowed',
        })
      }
      if (config.metrics.auth) await operatorRead(c)
      const { contentType, body } = await expose(ctx.runner.stats())
      return respond(c.req.raw, body, 200, undefined, contentType)
    })
  }

  app.all(CHAT_PATH, chatHandler(ctx, markBodyRead))

  const responses = responsesHandlers(ctx, markBodyRead)
  app.all(RESPONSES_PATH, responses.create)
  app.all(`${RESPONSES_PATH}/:id`, responses.byId)
  app.all(`${RESPONSES_PATH}/:id/input_items`, responses.inputItems)

  // The model list is served when either API is on, as in the gateway.
  const models: Endpoint = {
    enabled: endpoints.chatCompletions.enabled || endpoints.responses.enabled,
    disabled:
      'The OpenAI-compatible endpoints are disabled. Enable them with ' +
      '`gateway.http.endpoints.chatCompletions.enabled: true` (or `responses.enabled`) in the config.',
    key: 'models',
  }
  app.all(MODELS_PATH, async function modelList(c) {
    const { key } = await ctx.guard(c, models, 'GET', READ)
    return respondJson(c.req.raw, listModels(await ctx.agents(), key))
  })
  app.all(`${MODELS_PATH}/:id{.+}`, async function model(c) {
    const { key } = await ctx.guard(c, models, 'GET', READ)
    // The raw path segment: the id is URL-encoded (`openclaw%2Fdefault`) and decoded exactly once.
    const encoded = new URL(c.req.url).pathname.slice(MODELS_PATH.length + 1)
    return respondJson(c.req.raw, getModel(encoded, await ctx.agents(), key))
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
    if (err instanceof StoreUnavailableError) {
      ctx.logger.warn(`shared state store unavailable: ${err.message}`)
      return sendError(c, storeUnavailable())
    }
    ctx.logger.error(`unhandled error on ${c.req.method} ${c.req.path}`, err)
    return sendError(c, new ApiError(500, 'internal error'))
  })

  // Each request's exchange (its clock, `Server-Timing`, log line, metrics) begins on arrival,
  // before Hono routes it.
  const dispatch = app.fetch
  app.fetch = (request, env, executionCtx) => {
    ctx.begin(request, env)
    return dispatch(request, env, executionCtx)
  }

  return Object.assign(app, { config, stats: () => ctx.runner.stats() })
}
