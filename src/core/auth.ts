/**
 * Who is calling, and with which operator scopes. Four modes, as in the gateway:
 * - `token` / `password`: a shared bearer secret, compared in constant time; failed attempts lock
 *   a client address out for a while. Its holder has every scope.
 * - `none`: anyone who reaches the port; scopes as declared in `x-openclaw-scopes`.
 * - `trusted-proxy`: an identity-aware proxy vouches for the user in a header; scopes as declared.
 * Under the last two a browser's `Origin` must be allowed, since a browser would otherwise let
 * any page it visits call the API with the user's network position or proxy session.
 */
import { forwardedClient, isLoopback, proxyMatcher } from './client-address.ts'
import type { RateLimitConfig, ResolvedAuth } from '../config.ts'
import { ApiError } from './errors.ts'
import { DEFAULT_SCOPES, ADMIN, declaredScopes } from './scopes.ts'

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

  /** Counts a failed attempt; true when it locked the address out. */
  fail(address: string | undefined): boolean {
    if (this.#exempt(address)) return false
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
    if (entry.failures.length < this.#cfg.maxAttempts) return false
    entry.lockedUntil = now + this.#cfg.lockoutMs
    entry.failures = []
    return true
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

export interface AuthRequest {
  headers: Headers
  /** The connection's peer (the socket's address; on Workers, the one Cloudflare reports). */
  peer: string | undefined
  /** The client: the peer, or whom a trusted proxy forwards for (keys the lockout). */
  client: string | undefined
}

export interface Caller {
  /**
   * Whom stored state (a response for `previous_response_id`) belongs to: every holder of the
   * shared secret is one subject, a proxied user another each, `none` one more.
   */
  subject: string
  scopes: ReadonlySet<string>
  /** Holds `operator.admin`: the gateway gives owner turns its owner-only tools. */
  owner: boolean
  /** Who a trusted proxy says the caller is. */
  user?: string
}

export interface Authenticator {
  /** The caller, or a 401, 403 or 429 when the request may not go on. */
  check(request: AuthRequest): Caller
}

const SHARED_SECRET_CALLER: Caller = {
  subject: 'shared-secret',
  scopes: DEFAULT_SCOPES,
  owner: true,
}

const declaredCaller = (headers: Headers, user?: string): Caller => {
  const scopes = declaredScopes(headers.get('x-openclaw-scopes'))
  const caller: Caller = {
    subject: user === undefined ? 'none' : `user:${user}`,
    scopes,
    owner: scopes.has(ADMIN),
  }
  if (user !== undefined) caller.user = user
  return caller
}

const unauthorized = (message: string, headers?: Record<string, string>) =>
  new ApiError(401, message, { code: 'invalid_api_key', headers })

/** Checks a bearer secret, with the lockout (`onLockout` hears of each address locked out). */
const secretChecker = (
  secret: string,
  what: string,
  rateLimit: RateLimitConfig | false,
  onLockout?: () => void
) => {
  const matches = createSecretMatcher(secret)
  const limiter = rateLimit ? new AuthRateLimiter(rateLimit) : undefined
  const challenge = { 'www-authenticate': 'Bearer' }
  return function checkSecret(authorization: string | null, client: string | undefined) {
    const retryAfter = limiter?.retryAfter(client) ?? 0
    if (retryAfter > 0) {
      throw new ApiError(429, 'Too many failed authentication attempts. Please try again later.', {
        code: 'rate_limit_exceeded',
        headers: { 'retry-after': String(retryAfter) },
      })
    }
    const presented = bearerOf(authorization)
    // A missing credential is a misconfigured client, not a guess: it does not count.
    if (presented === undefined) {
      throw unauthorized(
        `Missing bearer ${what}: send it as 'Authorization: Bearer <${what}>'.`,
        challenge
      )
    }
    if (!matches(presented)) {
      if (limiter?.fail(client)) onLockout?.()
      throw unauthorized(`Invalid bearer ${what}.`, challenge)
    }
    limiter?.succeed(client)
  }
}

const LOOPBACK_ORIGIN_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i

/**
 * A browser's `Origin` must be allowed under `none` and `trusted-proxy`: listed in
 * `gateway.http.cors.allowedOrigins`, or (under `none`) a loopback page calling from loopback.
 */
const originChecker = (allowedOrigins: string[], loopbackPages: boolean) => {
  const any = allowedOrigins.includes('*')
  return function checkOrigin(headers: Headers, peer: string | undefined) {
    const origin = headers.get('origin')
    if (origin === null || any || allowedOrigins.includes(origin)) return
    if (loopbackPages && isLoopback(peer)) {
      try {
        if (LOOPBACK_ORIGIN_HOST.test(new URL(origin).host.replace(/:\d+$/, ''))) return
      } catch {}
    }
    throw unauthorized(
      `Browser origin '${origin.slice(0, 200)}' is not allowed: list it in gateway.http.cors.allowedOrigins.`
    )
  }
}

/** Any header a proxy adds to say whom it forwards for: then the request is not direct. */
const isForwarded = (headers: Headers) => {
  for (const name of headers.keys()) {
    if (name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-')) return true
  }
  return false
}

const ATTRIBUTION_REQUIRED =
  'Proxy client attribution is required. Configure gateway.trustedProxies narrowly and make the ' +
  'proxy overwrite or safely rebuild forwarded client headers.'

/** The user a trusted proxy vouches for, or why it cannot. */
const proxyIdentity = (auth: ResolvedAuth) => {
  const cfg = auth.trustedProxy!
  const trusted = proxyMatcher(auth.trustedProxies ?? [])
  const userHeader = cfg.userHeader.trim().toLowerCase()
  const required = cfg.requiredHeaders.map((h) => h.toLowerCase())
  return function identify({ headers, peer }: AuthRequest): { user: string } | { reason: string } {
    if (!trusted(peer)) return { reason: 'The request did not come through a trusted proxy.' }
    if (isLoopback(peer) && !cfg.allowLoopback) {
      return {
        reason: 'A proxy on this host may not vouch for users (trustedProxy.allowLoopback).',
      }
    }
    for (const name of required) {
      if (!headers.get(name)?.trim()) return { reason: `The trusted proxy did not send ${name}.` }
    }
    // The value whole: a proxy that appends to a client's header rather than replacing it
    // yields `forged, real`, which must not pass as either user.
    const user = headers.get(userHeader)?.trim()
    if (!user) return { reason: `The trusted proxy named no user (${userHeader}).` }
    if (cfg.allowUsers.length && !cfg.allowUsers.includes(user)) {
      return { reason: 'This user is not allowed.' }
    }
    return { user }
  }
}

/** The auth check for a resolved mode. */
export const createAuthenticator = (
  auth: ResolvedAuth,
  rateLimit: RateLimitConfig | false,
  allowedOrigins: string[] = [],
  onLockout?: () => void
): Authenticator => {
  if (auth.mode === 'none') {
    const checkOrigin = originChecker(allowedOrigins, true)
    return {
      check({ headers, peer }) {
        checkOrigin(headers, peer)
        return declaredCaller(headers)
      },
    }
  }
  if (auth.mode === 'trusted-proxy') {
    const identify = proxyIdentity(auth)
    const checkOrigin = originChecker(allowedOrigins, false)
    const trusted = proxyMatcher(auth.trustedProxies ?? [])
    const checkPassword = auth.secret
      ? secretChecker(auth.secret, 'password', rateLimit, onLockout)
      : undefined
    return {
      check(request) {
        const { headers, peer } = request
        const identity = identify(request)
        if ('reason' in identity) {
          // On the gateway's own host, with nothing forwarded, the password still lets in.
          const authorization = headers.get('authorization')
          if (checkPassword && authorization && isLoopback(peer) && !isForwarded(headers)) {
            checkPassword(authorization, request.client)
            return SHARED_SECRET_CALLER
          }
          throw unauthorized(identity.reason)
        }
        // The proxy must say whom it forwards for, or every user would share its address.
        if (!forwardedClient(headers.get('x-forwarded-for'), trusted)) {
          throw new ApiError(403, ATTRIBUTION_REQUIRED, { code: 'proxy_attribution_required' })
        }
        checkOrigin(headers, peer)
        return declaredCaller(headers, identity.user)
      },
    }
  }
  const checkSecret = secretChecker(auth.secret!, auth.mode, rateLimit, onLockout)
  return {
    check({ headers, client }) {
      checkSecret(headers.get('authorization'), client)
      return SHARED_SECRET_CALLER
    },
  }
}
