/**
 * All the state that must be shared when more than one instance serves the same clients, behind
 * one interface: the failed-auth lockout, the per-session turn lock, the per-key rate and
 * concurrency counters, and stored responses. Three implementations: memory (one process; the
 * default, `memory-store.ts`), Redis (Node, Bun, Deno; `src/runtimes/redis-store.ts`) and
 * Durable Objects (Workers; `src/runtimes/durable-store.ts`).
 *
 * A request consults the store a few times at most (auth, limits, the session lock, a stored
 * response), never per event. The memory store answers synchronously where it can, so its
 * callers keep their promise-free fast path; a shared store returns promises.
 *
 * A shared store that cannot reach its engine throws `StoreUnavailableError`: auth limits then
 * fail closed (the request is refused), and everything else answers a clear 503.
 */
import type { ResponseStore } from '../responses/store.ts'
import { ApiError } from './errors.ts'

export type Awaitable<T> = T | Promise<T>

/** Gives back what was taken (a session lock, a concurrency slot). Safe to call twice. */
export type Release = () => void

/** `gateway.auth.rateLimit`: how many failures in what window lock a client out, for how long. */
export interface LockoutRule {
  maxAttempts: number
  windowMs: number
  lockoutMs: number
}

/** One request counted against a per-key rate limit. */
export interface RateResult {
  /** Whether this request is within the limit (a refused one is not counted). */
  allowed: boolean
  limit: number
  /** Requests left in the current window after this one. */
  remaining: number
  /** Milliseconds until the window frees a request again (`retry-after`, `x-ratelimit-reset-*`). */
  resetMs: number
}

export interface Store {
  /** `memory`, `redis` or `durable-objects`: for logs and `/health/details`. */
  readonly kind: string

  /** Seconds until `client` may try to authenticate again; 0 when it is not locked out. */
  lockedFor(client: string): Awaitable<number>
  /** Counts a failed attempt of `client`; true when this one locked it out. */
  failed(client: string, rule: LockoutRule): Awaitable<boolean>
  /** A successful attempt clears `client`'s failures. */
  succeeded(client: string): Awaitable<void>

  /**
   * One turn at a time per session key, across every instance sharing the store. Resolves with
   * the release once the lock is held (waiters are served in about the order they came); rejects
   * with `signal.reason` when aborted while waiting, giving up the place. A shared store holds
   * the lock as a lease it renews while held, so a lock held by an instance that died frees
   * itself when the lease runs out.
   */
  lockSession(key: string, signal: AbortSignal): Awaitable<Release>

  /**
   * Counts one request of `key` (an API key's id) against `limit` requests per `windowMs`.
   * A request over the limit is refused and not counted.
   */
  hit(key: string, limit: number, windowMs: number): Awaitable<RateResult>

  /**
   * Takes one of `max` concurrent slots of `key`; undefined when all are taken. A shared store
   * leases each slot, like a session lock, so a dead instance's slots come back.
   */
  slot(key: string, max: number): Awaitable<Release | undefined>

  /** Stored responses (`previous_response_id`, `GET`/`DELETE /v1/responses/:id`). */
  readonly responses: ResponseStore

  /** Stops timers and closes connections (shutdown, tests). */
  close?(): Promise<void>
}

/** The shared store's engine cannot be reached (or did not answer in time). */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreUnavailableError'
  }
}

export const STORE_UNAVAILABLE = 'The shared state store is unavailable; try again shortly.'

/** The answer to a request the store failed: a 503 a client may retry. */
export const storeUnavailable = () =>
  new ApiError(503, STORE_UNAVAILABLE, {
    code: 'store_unavailable',
    headers: { 'retry-after': '1' },
  })
