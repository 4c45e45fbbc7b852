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
 * - `OPENCLAW_AGENTS`: agent ids, comma-separated; the first is the default
 * - `OPENCLAW_BACKEND`: the `backend` section (JSON text or a JSON var)
 */
import type { Context } from 'hono'
import { createChatCompletionsApp, type ChatCompletionsApp } from '../app.ts'
import { ConfigError, type ConfigInput, type Env } from '../config.ts'
import { ApiError } from '../core/errors.ts'
import { cancelAfterEarlyAnswer, onAnswer } from './fetch-linger.ts'

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
  return config as ConfigInput
}

const stringEnv = (env: WorkerBindings): Env =>
  Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string')) as Env

/** Cloudflare sets this header itself at the edge; a client cannot forge it through Cloudflare. */
const clientAddress = (c: Context) => c.req.header('cf-connecting-ip')

let cached: { env: WorkerBindings; app: ChatCompletionsApp | ApiError } | undefined

const appFor = (env: WorkerBindings): ChatCompletionsApp | ApiError => {
  if (cached?.env === env) return cached.app
  let app: ChatCompletionsApp | ApiError
  try {
    app = createChatCompletionsApp({
      config: configFromBindings(env),
      env: stringEnv(env),
      clientAddress,
    })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`gateway-chat-completions: invalid config: ${err.message}`)
    // The reason may quote the bad value (a secret, say): only the key goes to clients.
    app = new ApiError(
      500,
      `The gateway is misconfigured: see ${err.path || 'the config'} in the logs.`
    )
  }
  cached = { env, app }
  return app
}

export default {
  fetch(request: Request, env: WorkerBindings, ctx: unknown): Response | Promise<Response> {
    const app = appFor(env)
    if (app instanceof ApiError) {
      return new Response(JSON.stringify(app.toJSON()), {
        status: app.status,
        headers: { 'content-type': 'application/json; charset=utf-8' },
      })
    }
    // The rest of a body the app stopped reading is cancelled here (see fetch-linger.ts).
    return onAnswer(app.fetch(request, env, ctx as never), (answer) =>
      cancelAfterEarlyAnswer(request, answer)
    )
  },
}
