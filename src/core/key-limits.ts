/**
 * An API key's limits: `rpm` requests a minute and `concurrency` answers at a time, counted in
 * the store (so every instance sharing it counts together), once per request. Keyed answers carry
 * OpenAI's `x-ratelimit-*-requests` headers, so clients written for OpenAI can pace themselves.
 */
import type { ApiKey } from './api-keys.ts'
import { ApiError } from './errors.ts'
import type { Awaitable, RateResult, Release, Store } from './store.ts'

export const RATE_WINDOW_MS = 60_000

/** What a request that passed its key's limits holds until its answer ends. */
export interface Admission {
  /** The `x-ratelimit-*` headers for its answer; none when the key has no `rpm`. */
  headers: Record<string, string> | undefined
  /** Gives back its concurrency slot; none when the key has no `concurrency`. */
  release: Release | undefined
}

/**
 * A duration as OpenAI writes it in `x-ratelimit-reset-*` (Go's form): `20ms`, `1s`, `1.5s`,
 * `6m0s`, `1h0m0s`.
 */
export const resetDuration = (ms: number): string => {
  const total = Math.max(0, Math.ceil(ms))
  if (total < 1000) return total === 0 ? '0s' : `${total}ms`
  const hours = Math.floor(total / 3_600_000)
  const minutes = Math.floor((total % 3_600_000) / 60_000)
  const seconds = `${(total % 60_000) / 1000}s`
  if (hours) return `${hours}h${minutes}m${seconds}`
  return minutes ? `${minutes}m${seconds}` : seconds
}

const rateHeaders = (rate: RateResult): Record<string, string> => ({
  'x-ratelimit-limit-requests': String(rate.limit),
  'x-ratelimit-remaining-requests': String(rate.remaining),
  'x-ratelimit-reset-requests': resetDuration(rate.resetMs),
})

const overRate = (key: ApiKey, rate: RateResult) => {
  const seconds = Math.max(1, Math.ceil(rate.resetMs / 1000))
  return new ApiError(
    429,
    `Rate limit reached for API key '${key.id}': ${rate.limit} requests per minute. ` +
      `Try again in ${seconds}s.`,
    { code: 'rate_limit_exceeded', headers: { ...rateHeaders(rate), 'retry-after': `${seconds}` } }
  )
}

const overConcurrency = (key: ApiKey, headers: Record<string, string> | undefined) =>
  new ApiError(
    429,
    `API key '${key.id}' already has ${key.concurrency} requests in progress, its limit. ` +
      'Try again when one has finished.',
    // No one knows when a slot frees: a second is a polite guess.
    { code: 'concurrency_limit_exceeded', headers: { ...headers, 'retry-after': '1' } }
  )

/**
 * Counts the request against `key`'s limits and takes its concurrency slot.
 * @throws {ApiError} 429 `rate_limit_error` over either limit, with `retry-after`
 */
export const admit = (store: Store, key: ApiKey): Awaitable<Admission> => {
  if (key.rpm === undefined) return takeSlot(store, key, undefined)
  const rate = store.hit(key.id, key.rpm, RATE_WINDOW_MS)
  return rate instanceof Promise
    ? rate.then((r) => afterHit(store, key, r))
    : afterHit(store, key, rate)
}

const afterHit = (store: Store, key: ApiKey, rate: RateResult): Awaitable<Admission> => {
  if (!rate.allowed) throw overRate(key, rate)
  return takeSlot(store, key, rateHeaders(rate))
}

const takeSlot = (
  store: Store,
  key: ApiKey,
  headers: Record<string, string> | undefined
): Awaitable<Admission> => {
  if (key.concurrency === undefined) return { headers, release: undefined }
  const slot = store.slot(key.id, key.concurrency)
  const taken = (release: Release | undefined): Admission => {
    if (!release) throw overConcurrency(key, headers)
    return { headers, release }
  }
  return slot instanceof Promise ? slot.then(taken) : taken(slot)
}
