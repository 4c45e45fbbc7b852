/**
 * One turn at a time per session across every instance: the lock is a key holding its holder's
 * random token with a lease (`PX`), extended while the turn runs and deleted only by its holder.
 * Waiters stand in a line in Redis (served in order of arrival, whichever instance they came
 * through). They do not spin: each asks again when a release is announced on a channel, when
 * the holder's lease would run out, or after `pollMs` at the latest (a missed announcement, a
 * waiter ahead that died).
 */
import type { Logger } from '../core/logger.ts'
import { StoreUnavailableError, type Release } from '../core/store.ts'
import type { RedisConnection } from './redis-connection.ts'
import type { Lease, Leases } from './redis-leases.ts'
import { LOCK_LEAVE, LOCK_RELEASE, LOCK_RENEW, LOCK_TAKE } from './redis-scripts.ts'

export interface SessionLockOptions {
  prefix: string
  leaseMs: number
  /** The longest a waiter waits before asking again. */
  pollMs: number
  /** How long an operation may take (a waiter's place outlives its asking by this much). */
  timeoutMs: number
  logger?: Pick<Logger, 'warn'>
}

interface Waiter {
  /** Asks again now (a release was announced). */
  wake(): void
  /** Gives up, with this error (the store closes). */
  cancel(err: Error): void
}

export class RedisSessionLocks {
  readonly #redis: RedisConnection
  readonly #leases: Leases
  readonly #options: SessionLockOptions
  readonly #channel: string
  /** Per session key: this instance's waiters, woken when a release is announced. */
  readonly #waiters = new Map<string, Set<Waiter>>()

  constructor(redis: RedisConnection, leases: Leases, options: SessionLockOptions) {
    this.#redis = redis
    this.#leases = leases
    this.#options = options
    this.#channel = `${options.prefix}lock-released`
    redis.subscribe(this.#channel, (key) => {
      for (const waiter of this.#waiters.get(key) ?? []) waiter.wake()
    })
  }

  #keys(key: string) {
    const { prefix } = this.#options
    return [`${prefix}lock:${key}`, `${prefix}lock-line:${key}`, `${prefix}lock-alive:${key}`]
  }

  /**
   * Resolves with the release once this instance holds the session's lock.
   * @throws the signal's reason when aborted while waiting (the place in line is given up)
   * @throws StoreUnavailableError when Redis cannot be reached
   */
  acquire(key: string, signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason)
    const { leaseMs, pollMs, timeoutMs } = this.#options
    const keys = this.#keys(key)
    const token = crypto.randomUUID()
    // A waiter that stops asking (its instance died) loses its place after this long.
    const aliveMs = 3 * pollMs + timeoutMs

    return new Promise<Release>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      let asking = false
      let askAgain = false
      let settled = false

      const local = this.#waiters.get(key) ?? new Set<Waiter>()
      const stopWaiting = () => {
        settled = true
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        local.delete(waiter)
        if (local.size === 0 && this.#waiters.get(key) === local) this.#waiters.delete(key)
      }
      const leave = () => {
        this.#redis.eval(LOCK_LEAVE, keys, [token, this.#channel, key]).catch(() => {})
      }
      const fail = (err: unknown) => {
        if (settled) return
        stopWaiting()
        reject(err)
        // The place in line is given up (or, if Redis is away, runs out by itself).
        if (!asking) leave()
      }
      const onAbort = () => fail(signal.reason)

      const ask = () => {
        clearTimeout(timer)
        if (asking) {
          askAgain = true
          return
        }
        asking = true
        askAgain = false
        this.#redis.eval(LOCK_TAKE, keys, [token, leaseMs, aliveMs]).then(
          (reply) => {
            asking = false
            const left = Number(reply)
            if (left === -1) {
              const release = this.#hold(key, keys, token)
              if (settled) return release()
              stopWaiting()
              return resolve(release)
            }
            if (settled) return leave()
            if (askAgain) return ask()
            // A holder that died is noticed when its lease would have run out.
            const wait = left > 0 ? Math.min(pollMs, left + 1) : pollMs
            timer = setTimeout(ask, wait)
          },
          (err) => {
            asking = false
            if (settled) return leave()
            fail(err)
          }
        )
      }

      const waiter: Waiter = { wake: ask, cancel: fail }
      local.add(waiter)
      this.#waiters.set(key, local)
      signal.addEventListener('abort', onAbort, { once: true })
      ask()
    })
  }

  /** The lock, now held: its lease is kept alive until the release. */
  #hold(key: string, keys: string[], token: string): Release {
    const [lockKey, lineKey] = keys
    let released = false
    const lease: Lease = {
      renew: () =>
        this.#redis
          .eval(LOCK_RENEW, [lockKey], [token, this.#options.leaseMs])
          .then((kept) => Number(kept) === 1),
      lost: () =>
        this.#options.logger?.warn(
          'a session lock was lost (Redis was away longer than its lease, or restarted): ' +
            'another turn of the session may have started'
        ),
      release: () => {
        if (released) return Promise.resolve()
        released = true
        this.#leases.drop(lease)
        return this.#redis.eval(LOCK_RELEASE, [lockKey, lineKey], [token, this.#channel, key])
      },
    }
    this.#leases.hold(lease)
    // Redis away: the lease runs out by itself, and the next turn waits until then.
    return () => void lease.release().catch(() => {})
  }

  /** Gives up every wait (the store closes). */
  cancelWaiters(): void {
    const closed = new StoreUnavailableError('The Redis store is closed')
    for (const waiters of [...this.#waiters.values()]) {
      for (const waiter of [...waiters]) waiter.cancel(closed)
    }
  }
}
