/**
 * The shared-state store `gateway.store` names, as the CLI makes it on Node, Bun and Deno:
 * nothing for `memory` (the app makes its own), Redis for `redis`. The Redis client is loaded
 * only then, so a server that does not use it does not pay for it at start.
 */
import { ConfigError, type Config, type Env } from '../config.ts'
import type { Logger } from '../core/logger.ts'
import type { Store } from '../core/store.ts'

export const cliStore = async (
  config: Config,
  env: Env,
  logger: Logger
): Promise<Store | undefined> => {
  const { store } = config.gateway
  if (store.type !== 'redis') return undefined
  const url = store.url ?? env.OPENCLAW_REDIS_URL
  if (!url) {
    throw new ConfigError(
      'gateway.store.url',
      'the Redis store needs its URL: set OPENCLAW_REDIS_URL (or gateway.store.url)'
    )
  }
  const { createRedisStore } = await import('./redis-store.ts')
  const { retention } = config.gateway.http.endpoints.responses
  return createRedisStore({
    url,
    prefix: store.prefix,
    leaseMs: store.leaseMs,
    timeoutMs: store.timeoutMs,
    responses: { maxResponses: retention.maxResponses, ttlMs: retention.ttlSeconds * 1000 },
    logger,
  })
}
