/**
 * Cloudflare Workers entry. There is no config file: the config comes from the worker's
 * bindings (vars and secrets), read once per isolate.
 *
 * Bindings:
 * - `OPENCLAW_CONFIG`: a whole config (JSON text or a JSON var), optional; the ones below win
 * - `OPENCLAW_CHAT_COMPLETIONS_ENABLED`: `"true"` turns the chat endpoint on
 * - `OPENCLAW_RESPONSES_ENABLED`: `"true"` turns the Responses endpoint on
 * - `OPENCLAW_AUTH_MODE`: `token` | `password` | `none`
 * - `OPENCLAW_GATEWAY_TOKEN` / `OPENCLAW_GATEWAY_PASSWORD`: the secret (`wrangler secret put`)
 * - `OPENCLAW_DEV_TOKEN`: the token when no secret is set, for requests to a loopback address
 *   only; `npm run dev:worker` passes `local-dev-token` on wrangler's command line (never in
 *   wrangler.toml, so a deployment never has it)
 * - `OPENCLAW_AGENTS`: agent ids, comma-separated; the first is the default
 * - `OPENCLAW_BACKEND`: the `backend` section (JSON text or a JSON var)
 * - `OPENCLAW_SESSION_LOCKS`, `OPENCLAW_COUNTERS`, `OPENCLAW_RECORDS`: the Durable Object
 *   namespaces of the shared store (`durable-store.ts`); with all three, `gateway.store`
 *   defaults to `durable-objects`
 */
import type { Context } from 'hono'
import { createChatCompletionsApp, type ChatCompletionsApp } from '../app.ts'
import {
  ConfigError,
  parseConfig,
  resolveAuth,
  type Config,
  type ConfigInput,
  type Env,
  type ResolvedAuth,
} from '../config.ts'
import { ApiError } from '../core/errors.ts'
import { logSettings } from '../core/log-settings.ts'
import { consoleLogger } from '../core/logger.ts'
import type { Store } from '../core/store.ts'
import { durableStore, missingDurableBindings } from './durable-store.ts'
import { cancelAfterEarlyAnswer, onAnswer } from './fetch-linger.ts'

// The Durable Object classes wrangler.toml binds: workerd looks for them among the entry's exports.
export { CountersObject } from './durable-counters.ts'
export { RecordObject } from './durable-records.ts'
export { SessionLockObject } from './durable-session-lock.ts'

export type WorkerBindings = Record<string, unknown>

const json = (name: string, value: unknown): unknown => {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value)
  } catch (err) {
    throw new ConfigError(name, `not valid JSON: ${(err as Error).message}`)
  }
}

/** The config a worker's bindings describe. */
export const configFromBindings = (env: WorkerBindings): ConfigInput => {
  const config = (json('OPENCLAW_CONFIG', env.OPENCLAW_CONFIG) ?? {}) as Record<string, any>
  config.gateway ??= {}
  for (const [binding, key] of [
    ['OPENCLAW_CHAT_COMPLETIONS_ENABLED', 'chatCompletions'],
    ['OPENCLAW_RESPONSES_ENABLED', 'responses'],
  ] as const) {
    if (env[binding] === undefined) continue
    const endpoints = ((config.gateway.http ??= {}).endpoints ??= {})
    endpoints[key] = {
      ...endpoints[key],
      enabled: String(env[binding]).trim().toLowerCase() === 'true',
    }
  }
  if (env.OPENCLAW_AUTH_MODE !== undefined) {
    config.gateway.auth = { ...config.gateway.auth, mode: env.OPENCLAW_AUTH_MODE }
  }
  if (typeof env.OPENCLAW_AGENTS === 'string') {
    const ids = env.OPENCLAW_AGENTS.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    config.agents = { list: ids.map((id, i) => ({ id, default: i === 0 })) }
  }
  if (env.OPENCLAW_BACKEND !== undefined)
    config.backend = json('OPENCLAW_BACKEND', env.OPENCLAW_BACKEND)
  // Declared in wrangler.toml, the objects are what a deployment means to use.
  if (config.gateway.store === undefined && missingDurableBindings(env).length === 0) {
    config.gateway.store = { type: 'durable-objects' }
  }
  return config as ConfigInput
}

/** The Durable Objects store when the config asks for it; else the app makes its memory store. */
const workerStore = (config: Config, env: Env, bindings: WorkerBindings): Store | undefined => {
  const { store } = config.gateway
  if (store.type !== 'durable-objects') return undefined
  const missing = missingDurableBindings(bindings)
  if (missing.length) {
    throw new ConfigError(
      'gateway.store',
      `the durable-objects store needs the Durable Object binding(s) ${missing.join(', ')}, ` +
        'as wrangler.toml declares them'
    )
  }
  const { retention } = config.gateway.http.endpoints.responses
  return durableStore(bindings, {
    responseTtlMs: retention.ttlSeconds * 1000,
    leaseMs: store.leaseMs,
    timeoutMs: store.timeoutMs,
    logger: consoleLogger(logSettings(config, env).settings.level),
  })
}

const stringEnv = (env: WorkerBindings): Env =>
  Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string')) as Env

/** Cloudflare sets this header itself at the edge; a client cannot forge it through Cloudflare. */
const clientAddress = (c: Context) => c.req.header('cf-connecting-ip')

const SECRETS = {
  token: 'OPENCLAW_GATEWAY_TOKEN',
  password: 'OPENCLAW_GATEWAY_PASSWORD',
} as const

/**
 * The auth, with what a worker has instead of a config file's secret: the secret's binding, or
 * in local development the token `OPENCLAW_DEV_TOKEN` names. A missing secret's error names the
 * binding and how to set it (the generic one points at `gateway.auth.token`, a file's key).
 */
const workerAuth = (config: Config, env: Env): { auth: ResolvedAuth; devToken: boolean } => {
  const dev = env.OPENCLAW_DEV_TOKEN
  try {
    const auth = resolveAuth(config, env)
    return { auth, devToken: false }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const missing = Object.entries(SECRETS).find(
      ([mode, binding]) =>
        err.path === `gateway.auth.${mode}` &&
        !env[binding] &&
        config.gateway.auth[mode as keyof typeof SECRETS] === undefined
    )
    if (!missing) throw err
    if (missing[0] === 'token' && dev) {
      return { auth: resolveAuth(config, { ...env, OPENCLAW_GATEWAY_TOKEN: dev }), devToken: true }
    }
    const [mode, binding] = missing
    throw new ConfigError(
      binding,
      `auth mode '${mode}' needs a secret: run \`npx wrangler secret put ${binding}\`` +
        (mode === 'token' ? ' (locally, `npm run dev:worker` uses local-dev-token)' : '')
    )
  }
}

/** A misconfigured worker's answer to every request. */
class Misconfigured extends ApiError {}

interface WorkerApp {
  app: ChatCompletionsApp
  /** Serving with `OPENCLAW_DEV_TOKEN`: only requests to a loopback address are let through. */
  devToken: boolean
}

let cached: { env: WorkerBindings; app: WorkerApp | Misconfigured } | undefined

const appFor = (bindings: WorkerBindings): WorkerApp | Misconfigured => {
  if (cached?.env === bindings) return cached.app
  let app: WorkerApp | Misconfigured
  try {
    const env = stringEnv(bindings)
    const config = parseConfig(configFromBindings(bindings), env)
    const { auth, devToken } = workerAuth(config, env)
    if (devToken) {
      console.warn(
        'gateway-chat-completions: no OPENCLAW_GATEWAY_TOKEN secret: using OPENCLAW_DEV_TOKEN ' +
          '(local development), for requests to a loopback address only'
      )
    }
    const store = workerStore(config, env, bindings)
    app = {
      app: createChatCompletionsApp({ config, env, auth, clientAddress, store }),
      devToken,
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`gateway-chat-completions: invalid config: ${err.message}`)
    // A reason may quote the bad value (a secret, say): only key paths go to clients, but a
    // secret that is missing altogether is said plainly, with the command that sets it.
    const secret = Object.values(SECRETS).find((binding) => binding === err.path)
    app = new Misconfigured(
      500,
      secret
        ? `The gateway is misconfigured: the secret ${secret} is not set ` +
            `(\`npx wrangler secret put ${secret}\`).`
        : `The gateway is misconfigured: see ${err.problems.map((p) => p.path || 'the config').join(', ')} in the logs.`
    )
  }
  cached = { env: bindings, app }
  return app
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * Whether a request was sent to this machine: on Cloudflare the URL's host is the zone's, never a
 * loopback address, so the development token cannot work on a deployed worker even if its
 * binding were deployed by mistake.
 */
const toLoopback = (request: Request) => LOOPBACK_HOSTS.has(new URL(request.url).hostname)

const answer = (err: ApiError) =>
  new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  })

export default {
  fetch(request: Request, bindings: WorkerBindings, ctx: unknown): Response | Promise<Response> {
    const found = appFor(bindings)
    if (found instanceof Misconfigured) return answer(found)
    const { app, devToken } = found
    if (devToken && !toLoopback(request)) {
      return answer(
        new ApiError(
          500,
          'The gateway is misconfigured: the development token (OPENCLAW_DEV_TOKEN) only serves ' +
            'requests to a loopback address; set the secret with ' +
            '`npx wrangler secret put OPENCLAW_GATEWAY_TOKEN`.'
        )
      )
    }
    // The rest of a body the app stopped reading is cancelled here (see fetch-linger.ts).
    return onAnswer(app.fetch(request, bindings, ctx as never), (answer) =>
      cancelAfterEarlyAnswer(request, answer)
    )
  },
}
