/**
 * Bearer auth: the secret is compared in constant time (HMAC both sides, compare the digests),
 * and failed attempts lock a client address out for a while.
 */
import type { RateLimitConfig, ResolvedAuth } from './config.ts'
import { ApiError } from './errors.ts'

/**
 * Compares a presented secret with the configured one in time that depends only on the length
 * of what was presented (the caller's own input), never on the secret: every presented character
 * is compared, against the secret's characters in turn, and a length mismatch is folded into the
 * same result. Plain code, so it behaves the same on every runtime, and synchronous, so a
 * request costs no trip to a crypto thread pool.
 */
export const createSecretMatcher = (secret: string) => {
  const length = secret.length
  return function matches(presented: string): boolean {
    let diff = presented.length ^ length
    for (let i = 0; i < presented.length; i++) {
      diff |= presented.charCodeAt(i) ^ secret.charCodeAt(i % length)
    }
    return diff === 0
  }
}

/** The bearer credential of a request, or undefined when there is none. */
export const bearerOf = (header: string | null): string | undefined => {
  const match = /^\s*bearer\s+(.+?)\s*$/i.exec(header ?? '')
  return match?.[1]
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/i

export const isLoopback = (address: string | undefined) => !!address && LOOPBACK.test(address)

interface Attempts {
  failures: number[]
  lockedUntil: number
}

const MAX_ENTRIES = 10_000

/** Failed-auth lockout per client address, in memory (per process). */
export class AuthRateLimiter {
  #entries = new Map<string, Attempts>()
  readonly #cfg: RateLimitConfig
  readonly #now: () => number

  constructor(cfg: RateLimitConfig, now: () => number = Date.now) {
    this.#cfg = cfg
    this.#now = now
  }

  #exempt(address: string | undefined) {
    return this.#cfg.exemptLoopback && isLoopback(address)
  }

  /** Seconds until the address may try again, or 0 when it is not locked out. */
  retryAfter(address: string | undefined): number {
    if (this.#exempt(address)) return 0
    const entry = this.#entries.get(address ?? 'unknown')
    if (!entry) return 0
    const left = entry.lockedUntil - this.#now()
    return left > 0 ? Math.ceil(left / 1000) : 0
  }

  fail(address: string | undefined): void {
    if (this.#exempt(address)) return
    const key = address ?? 'unknown'
    const now = this.#now()
    let entry = this.#entries.get(key)
    if (!entry) {
      if (this.#entries.size >= MAX_ENTRIES) this.#prune(now)
      entry = { failures: [], lockedUntil: 0 }
      this.#entries.set(key, entry)
    }
    entry.failures = entry.failures.filter((t) => now - t < this.#cfg.windowMs)
    entry.failures.push(now)
    if (entry.failures.length >= this.#cfg.maxAttempts) {
      entry.lockedUntil = now + this.#cfg.lockoutMs
      entry.failures = []
    }
  }

  succeed(address: string | undefined): void {
    this.#entries.delete(address ?? 'unknown')
  }

  #prune(now: number) {
    for (const [key, entry] of this.#entries) {
      const live =
        entry.lockedUntil > now || entry.failures.some((t) => now - t < this.#cfg.windowMs)
      if (!live) this.#entries.delete(key)
    }
    // Still full of live entries: drop the oldest unlocked ones rather than grow without bound.
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size < MAX_ENTRIES) break
      if (entry.lockedUntil <= now) this.#entries.delete(key)
    }
  }
}

export interface Authenticator {
  /** Throws 401 or 429 when the request may not go on. */
  check(authorization: string | null, address: string | undefined): void
}

/** The auth check for a resolved mode and secret. */
export const createAuthenticator = (
  auth: ResolvedAuth,
  rateLimit: RateLimitConfig | false
): Authenticator => {
  if (auth.mode === 'none') return { check: () => {} }
  const matches = createSecretMatcher(auth.secret!)
  const limiter = rateLimit ? new AuthRateLimiter(rateLimit) : undefined
  return {
    check(authorization, address) {
      const retryAfter = limiter?.retryAfter(address) ?? 0
      if (retryAfter > 0) {
        throw new ApiError(
          429,
          'Too many failed authentication attempts. Please try again later.',
          {
            code: 'rate_limit_exceeded',
            headers: { 'retry-after': String(retryAfter) },
          }
        )
      }
      const presented = bearerOf(authorization)
      if (presented === undefined) {
        // A missing credential is a misconfigured client, not a guess: it does not count.
        throw new ApiError(
          401,
          `Missing bearer ${auth.mode}: send it as 'Authorization: Bearer <${auth.mode}>'.`,
          { code: 'invalid_api_key', headers: { 'www-authenticate': 'Bearer' } }
        )
      }
      if (!matches(presented)) {
        limiter?.fail(address)
        throw new ApiError(401, `Invalid bearer ${auth.mode}.`, {
          code: 'invalid_api_key',
          headers: { 'www-authenticate': 'Bearer' },
        })
      }
      limiter?.succeed(address)
    },
  }
}
