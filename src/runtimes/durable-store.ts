/**
 * The `Store` on Cloudflare Durable Objects (`gateway.store: { type: 'durable-objects' }`): what
 * the worker's isolates must agree on lives in objects every isolate can reach, whichever
 * machine it runs on.
 *
 * - `OPENCLAW_SESSION_LOCKS` (`SessionLockObject`): one object per session key holds its turn
 *   lock, a lease renewed while the turn runs.
 * - `OPENCLAW_COUNTERS` (`CountersObject`): one object per client address (the failed-auth
 *   lockout) and one per API key id (its rate window and concurrency slots).
 * - `OPENCLAW_RECORDS` (`RecordObject`): one object per stored response, and one per output
 *   item naming the response that holds it; each empties itself when its time is up.
 *
 * An object that cannot be reached, fails, or does not answer within `timeoutMs` makes the call
 * throw `StoreUnavailableError` (auth then refuses the request; everything else answers 503).
 */
import type { Logger } from '../core/logger.ts'
import type { StoredResponse } from '../responses/store.ts'
import {
  StoreUnavailableError,
  type LockoutRule,
  type RateResult,
  type Release,
  type Store,
} from '../core/store.ts'
import { send, type DurableNamespace } from './durable-protocol.ts'

/** The worker's bindings the store needs, as wrangler.toml declares them. */
export const DURABLE_BINDINGS = {
  sessions: 'OPENCLAW_SESSION_LOCKS',
  counters: 'OPENCLAW_COUNTERS',
  records: 'OPENCLAW_RECORDS',
} as const

export interface DurableStoreOptions {
  /** How long a stored response is kept (`responses.retention.ttlSeconds`). */
  responseTtlMs: number
  /**
   * How long a session lock or a concurrency slot outlives a worker that died without releasing
   * it; the holder renews it every third of that. Default 30 s.
   */
  leaseMs?: number
  /** How long one call to an object may take (waiting for a lock aside). Default 5 s. */
  timeoutMs?: number
  /** Hears of what goes wrong where no request can be told: a release or a renewal that failed. */
  logger?: Pick<Logger, 'warn'>
}

/** The bindings' names that `env` lacks (none: the store can be made). */
export const missingDurableBindings = (env: Record<string, unknown>): string[] =>
  Object.values(DURABLE_BINDINGS).filter((name) => !isNamespace(env[name]))

const isNamespace = (value: unknown): value is DurableNamespace =>
  typeof (value as DurableNamespace | undefined)?.idFromName === 'function'

/**
 * workerd's `waitUntil`, which sees a request's work through after its answer: without it a
 * call still on its way when the request ends is cancelled with it (a release sent as a client
 * leaves, and the session stays locked for a whole lease; a stored response put as the answer
 * ends). It comes from `cloudflare:workers`, a module only workerd has, so it is imported when
 * a store is made rather than with this file (which the Node, Bun and Deno tests load); where
 * the import fails there is nothing to keep alive.
 */
let keepAlive: ((work: Promise<unknown>) => void) | undefined
const loadKeepAlive = () => {
  if (keepAlive) return
  // @ts-ignore: workerd's module, without types here
  import('cloudflare:workers').then(
    (workerd: { waitUntil?: (work: Promise<unknown>) => void }) => {
      keepAlive = workerd.waitUntil
    },
    () => {}
  )
}

/** More remembered clients than this are forgotten at once (see `clean`). */
const MAX_CLEAN = 10_000

export const durableStore = (
  env: Record<string, unknown>,
  { responseTtlMs, leaseMs = 30_000, timeoutMs = 5_000, logger = console }: DurableStoreOptions
): Store => {
  const missing = missingDurableBindings(env)
  if (missing.length) {
    throw new Error(`the Durable Objects store needs the binding(s) ${missing.join(', ')}`)
  }
  const sessions = env[DURABLE_BINDINGS.sessions] as DurableNamespace
  const counters = env[DURABLE_BINDINGS.counters] as DurableNamespace
  const records = env[DURABLE_BINDINGS.records] as DurableNamespace
  loadKeepAlive()

  /** Operation `op` of object `name`; `timed: false` for a call that waits by design. */
  const call = async <T>(
    namespace: DurableNamespace,
    name: string,
    op: string,
    args: unknown,
    timed = true
  ): Promise<T> => {
    const exchange = send(namespace, name, op, args).then(async (res) => {
      if (res.ok) return (await res.json()) as T
      const { error } = (await res.json().catch(() => ({}))) as { error?: string }
      throw new StoreUnavailableError(
        `Durable Object ${op} answered ${res.status}${error ? `: ${error}` : ''}`
      )
    })
    keepAlive?.(exchange.catch(() => {}))
    try {
      return await (timed ? withTimeout(exchange, timeoutMs, op) : exchange)
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err
      throw new StoreUnavailableError(`Durable Object ${op} failed: ${(err as Error)?.message}`, {
        cause: err,
      })
    }
  }

  /** A call no request waits for: its failure is logged. */
  const background = (what: string, work: Promise<unknown>) => {
    work.catch((err) => logger.warn(`durable store: ${what}: ${(err as Error).message}`))
  }

  /**
   * A lease held until released: renewed every third of `leaseMs` so that it never runs out
   * while its holder lives. A renewal that fails is tried again at the next; one refused means
   * the lease ran out (renewals came too late) and someone else may hold it now.
   */
  const lease = (
    what: string,
    renew: () => Promise<{ held: boolean }>,
    release: () => Promise<unknown>
  ): Release => {
    const timer = setInterval(() => {
      renew().then(
        ({ held }) => {
          if (held) return
          clearInterval(timer)
          logger.warn(`durable store: ${what}: the lease ran out before it was renewed`)
        },
        (err) => logger.warn(`durable store: renewing ${what}: ${(err as Error).message}`)
      )
    }, leaseMs / 3)
    let released = false
    return () => {
      if (released) return
      released = true
      clearInterval(timer)
      background(`releasing ${what}`, release())
    }
  }

  /**
   * Clients whose last lockout check found nothing to clear: their success needs no call. Every
   * request checks first, so an entry is never older than its client's latest check.
   */
  const clean = new Set<string>()

  const getResponse = async (id: string) => {
    const { value } = await call<{ value?: StoredResponse }>(records, `response:${id}`, 'get', {})
    return value ?? undefined
  }

  return {
    kind: 'durable-objects',

    async lockedFor(client) {
      const { seconds, clean: nothing } = await call<{ seconds: number; clean: boolean }>(
        counters,
        `client:${client}`,
        'locked-for',
        {}
      )
      if (!nothing) clean.delete(client)
      else {
        if (clean.size >= MAX_CLEAN) clean.clear()
        clean.add(client)
      }
      return seconds
    },

    async failed(client, rule: LockoutRule) {
      clean.delete(client)
      const { locked } = await call<{ locked: boolean }>(counters, `client:${client}`, 'failed', {
        rule,
      })
      return locked
    },

    async succeeded(client) {
      if (clean.delete(client)) return
      await call(counters, `client:${client}`, 'succeeded', {})
    },

    lockSession(key, signal) {
      if (signal.aborted) return Promise.reject(signal.reason)
      const ticket = crypto.randomUUID()
      const op = (name: string) => () =>
        call<{ held: boolean }>(sessions, key, name, { ticket, leaseMs })
      const release = op('release')
      return new Promise<Release>((resolve, reject) => {
        // Given up while waiting: the object hears of it at once, and forgets this place.
        const onAbort = () => {
          reject(signal.reason)
          background('giving up a session lock', release())
        }
        signal.addEventListener('abort', onAbort, { once: true })
        // Waiting for a turn is not a slow answer: only the abort ends the wait.
        call<{ held: boolean }>(sessions, key, 'acquire', { ticket, leaseMs }, false).then(
          ({ held }) => {
            signal.removeEventListener('abort', onAbort)
            if (signal.aborted) return
            if (!held) {
              reject(new StoreUnavailableError('The session lock was refused.'))
              return
            }
            resolve(lease('a session lock', op('renew'), release))
          },
          (err) => {
            signal.removeEventListener('abort', onAbort)
            if (!signal.aborted) reject(err)
          }
        )
      })
    },

    hit(key, limit, windowMs) {
      return call<RateResult>(counters, `key:${key}`, 'hit', { limit, windowMs })
    },

    async slot(key, max) {
      const ticket = crypto.randomUUID()
      const op = (name: string) => () =>
        call<{ held: boolean }>(counters, `key:${key}`, name, { ticket, leaseMs })
      const { taken } = await call<{ taken: boolean }>(counters, `key:${key}`, 'slot', {
        ticket,
        max,
        leaseMs,
      })
      return taken ? lease('a concurrency slot', op('renew'), op('release')) : undefined
    },

    responses: {
      get: getResponse,

      async put(id, value) {
        const ttlMs = responseTtlMs
        await Promise.all([
          call(records, `response:${id}`, 'put', { value, ttlMs }),
          ...itemIds(value).map((itemId) =>
            call(records, `item:${itemId}`, 'put', { value: id, ttlMs })
          ),
        ])
      },

      async delete(id) {
        const { deleted } = await call<{ deleted: boolean }>(
          records,
          `response:${id}`,
          'delete',
          {}
        )
        return deleted
      },

      async item(itemId) {
        const { value: id } = await call<{ value?: unknown }>(records, `item:${itemId}`, 'get', {})
        if (typeof id !== 'string') return undefined
        const owner = await getResponse(id)
        // The response was deleted, or stored again without this item.
        const item = (owner?.response.output as Record<string, unknown>[] | undefined)?.find(
          (i) => i.id === itemId
        )
        return item && owner && { item, owner }
      },
    },
  }
}

/** The ids of a stored response's output items. */
const itemIds = (value: StoredResponse) =>
  ((value.response.output as { id?: unknown }[] | undefined) ?? [])
    .map((item) => item.id)
    .filter((id): id is string => typeof id === 'string')

const withTimeout = <T>(work: Promise<T>, ms: number, op: string) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new StoreUnavailableError(`Durable Object ${op} took more than ${ms} ms`)),
      ms
    )
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err) => {
        clearTimeout(timer)
        reject(err)
      }
    )
  })
