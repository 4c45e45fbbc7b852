/**
 * The Redis `Store`, for several Node, Bun or Deno instances behind a load balancer: the
 * failed-auth lockout, session locks, per-key rate and concurrency counters and stored responses
 * live in one Redis (a single server, or a primary with replicas; not Redis Cluster), so every
 * instance sees the same. Each change is one Lua script, atomic in Redis; every key expires by
 * itself. What an instance holds (a session lock, a concurrency slot) is a lease it extends while
 * it holds it: one that dies frees it when the lease runs out.
 *
 * When Redis cannot be reached, or does not answer within `timeoutMs`, each operation throws
 * `StoreUnavailableError` (auth limits then fail closed; the rest answers 503), and the client
 * reconnects by itself.
 */
import type { Logger } from '../core/logger.ts'
import type { LockoutRule, RateResult, Release, Store } from '../core/store.ts'
import { RedisConnection } from './redis-connection.ts'
import { Leases, type Lease } from './redis-leases.ts'
import { redisResponses } from './redis-responses.ts'
import { AUTH_FAILED, RATE_HIT, SLOT_RENEW, SLOT_TAKE } from './redis-scripts.ts'
import { RedisSessionLocks } from './redis-session-lock.ts'

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` (TLS). */
  url: string
  /** Before every key and channel, so that deployments can share one Redis. */
  prefix?: string
  /** How long a session lock or a concurrency slot outlives an instance that died. */
  leaseMs?: number
  /** How long one operation may take before it throws `StoreUnavailableError`. */
  timeoutMs?: number
  responses: { maxResponses: number; ttlMs: number }
  /** Hears when Redis is lost and when it is back, and of a lease lost meanwhile. */
  logger?: Pick<Logger, 'info' | 'warn'>
}

export const DEFAULT_PREFIX = 'openclaw:'
export const DEFAULT_LEASE_MS = 30_000
export const DEFAULT_TIMEOUT_MS = 2000

export const createRedisStore = ({
  url,
  prefix = DEFAULT_PREFIX,
  leaseMs = DEFAULT_LEASE_MS,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  responses,
  logger,
}: RedisStoreOptions): Store & { readonly kind: 'redis' } => {
  const redis = new RedisConnection({ url, timeoutMs, logger })
  const leases = new Leases(leaseMs)
  const locks = new RedisSessionLocks(redis, leases, {
    prefix,
    leaseMs,
    pollMs: Math.min(1000, Math.ceil(leaseMs / 3)),
    timeoutMs,
    logger,
  })
  const failures = (client: string) => `${prefix}auth-failures:${client}`
  const lockout = (client: string) => `${prefix}auth-lockout:${client}`

  return {
    kind: 'redis',

    async lockedFor(client) {
      const left = await redis.run((c) => c.pTTL(lockout(client)))
      return left > 0 ? Math.ceil(left / 1000) : 0
    },

    async failed(client, { windowMs, maxAttempts, lockoutMs }: LockoutRule) {
      const keys = [failures(client), lockout(client)]
      const member = crypto.randomUUID()
      return Number(await redis.eval(AUTH_FAILED, keys, [windowMs, maxAttempts, lockoutMs, member]))
        ? true
        : false
    },

    async succeeded(client) {
      await redis.run((c) => c.del([failures(client), lockout(client)]))
    },

    lockSession(key, signal) {
      return locks.acquire(key, signal)
    },

    // A fixed window per key, as the memory store counts: it starts with its first request and
    // the count starts again `windowMs` later.
    async hit(key, limit, windowMs): Promise<RateResult> {
      const reply = (await redis.eval(RATE_HIT, [`${prefix}rate:${key}`], [limit, windowMs])) as [
        number,
        number,
        number,
      ]
      const [allowed, count, resetMs] = reply.map(Number)
      return { allowed: allowed === 1, limit, remaining: Math.max(0, limit - count), resetMs }
    },

    async slot(key, max): Promise<Release | undefined> {
      const slots = `${prefix}slots:${key}`
      const token = crypto.randomUUID()
      if (!Number(await redis.eval(SLOT_TAKE, [slots], [token, max, leaseMs]))) return undefined
      let released = false
      const lease: Lease = {
        renew: () =>
          redis.eval(SLOT_RENEW, [slots], [token, max, leaseMs]).then((kept) => Number(kept) === 1),
        lost: () => logger?.warn(`a concurrency slot of ${key} was lost while Redis was away`),
        release: () => {
          if (released) return Promise.resolve()
          released = true
          leases.drop(lease)
          return redis.run((c) => c.zRem(slots, token))
        },
      }
      leases.hold(lease)
      // Redis away: the slot comes back when its lease runs out.
      return () => void lease.release().catch(() => {})
    },

    responses: redisResponses(redis, { prefix, ...responses }),

    async close() {
      locks.cancelWaiters()
      leases.stop()
      await leases.releaseAll()
      await redis.close()
    },
  }
}
