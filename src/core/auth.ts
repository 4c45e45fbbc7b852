/**
 * Who is calling, and with which operator scopes. Four modes, as in the gateway:
 * - `token` / `password`: a shared bearer secret, compared in constant time; failed attempts lock
 *   a client address out for a while. Its holder has every scope. Alongside it, API keys
 *   (`gateway.http.apiKeys`, see `api-keys.ts`): a bearer that is not the secret may be one.
 * - `none`: anyone who reaches the port; scopes as declared in `x-openclaw-scopes`.
 * - `trusted-proxy`: an identity-aware proxy vouches for the user in a header; scopes as declared.
 * Under the last two a browser's `Origin` must be allowed, since a browser would otherwise let
 * any page it visits call the API with the user's network position or proxy session.
 */
import { forwardedClient, isLoopback, proxyMatcher } from './client-address.ts'
import { ConfigError, type RateLimitConfig, type ResolvedAuth } from '../config.ts'
import {
  KEY_SCOPES,
  keyMatcher,
  keysNeedSecretMode,
  type ApiKey,
  type ApiKeyConfig,
} from './api-keys.ts'
import { ApiError } from './errors.ts'
import type { Awaitable, Store } from './store.ts'
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
   * shared secret is one subject, each API key one (`key:<id>`), a proxied user another each,
   * `none` one more.
   */
  subject: string
  scopes: ReadonlySet<string>
  /** Holds `operator.admin`: the gateway gives owner turns its owner-only tools. */
  owner: boolean
  /** Who a trusted proxy says the caller is. */
  user?: string
  /** The API key it presented: its agents, endpoints and limits apply. */
  key?: ApiKey
}

export interface Authenticator {
  /**
   * The caller, or a 401, 403 or 429 when the request may not go on (a 503 when a shared store
   * that keeps the lockout cannot be reached: auth limits fail closed).
   */
  check(request: AuthRequest): Awaitable<Caller>
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

/** One caller per key, made once: a request that presents it pays no allocation for it. */
const keyCallers = (entries: readonly ApiKeyConfig[]) => {
  const match = keyMatcher(entries)
  if (!match) return undefined
  const callers = new Map<ApiKey, Caller>()
  return (presented: string): Caller | undefined => {
    const key = match(presented)
    if (!key) return undefined
    let caller = callers.get(key)
    if (!caller) {
      caller = { subject: `key:${key.id}`, scopes: KEY_SCOPES, owner: false, key }
      callers.set(key, caller)
    }
    return caller
  }
}

/** A key past its `expiresAt`: a 401 that says so, as it is no guess (it does not count). */
const checkExpiry = (caller: Caller, challenge: Record<string, string>) => {
  const key = caller.key
  if (key?.expiresAt !== undefined && Date.now() >= key.expiresAt) {
    throw new ApiError(401, `API key '${key.id}' expired at ${key.expiresText}.`, {
      code: 'invalid_api_key',
      headers: challenge,
      keyId: key.id,
    })
  }
}

const lockedOut = (seconds: number) =>
  new ApiError(429, 'Too many failed authentication attempts. Please try again later.', {
    code: 'rate_limit_exceeded',
    headers: { 'retry-after': String(seconds) },
  })

/**
 * Checks a bearer secret, or one of the API keys `findKey` knows, with the lockout kept in
 * `store` (`onLockout` hears of each client locked out): a wrong key counts as a wrong secret.
 * Loopback clients are exempt unless the config says otherwise; for them, and with the memory
 * store, the check stays synchronous.
 */
const secretChecker = (
  secret: string,
  what: string,
  rateLimit: RateLimitConfig | false,
  store: Store,
  onLockout?: () => void,
  findKey?: (presented: string) => Caller | undefined
) => {
  const matches = createSecretMatcher(secret)
  const challenge = { 'www-authenticate': 'Bearer' }
  const named = findKey ? `${what} or API key` : what
  const identify = (presented: string | undefined): Caller | undefined => {
    // A missing credential is a misconfigured client, not a guess: it does not count.
    if (presented === undefined) {
      throw unauthorized(
        `Missing bearer ${named}: send it as 'Authorization: Bearer <${what}>'.`,
        challenge
      )
    }
    if (matches(presented)) return SHARED_SECRET_CALLER
    return findKey?.(presented)
  }
  const invalid = () => unauthorized(`Invalid bearer ${named}.`, challenge)
  const known = (caller: Caller) => {
    if (caller.key) checkExpiry(caller, challenge)
    return caller
  }
  if (!rateLimit) {
    return function checkSecret(authorization: string | null): Awaitable<Caller> {
      const caller = identify(bearerOf(authorization))
      if (!caller) throw invalid()
      return known(caller)
    }
  }
  const afterFailure = (locked: boolean): never => {
    if (locked) onLockout?.()
    throw invalid()
  }
  const afterLockCheck = (
    seconds: number,
    presented: string | undefined,
    key: string
  ): Awaitable<Caller> => {
    if (seconds > 0) throw lockedOut(seconds)
    const caller = identify(presented)
    if (!caller) {
      const locked = store.failed(key, rateLimit)
      return locked instanceof Promise ? locked.then(afterFailure) : afterFailure(locked)
    }
    known(caller)
    // Not awaited: a success only forgets earlier failures, and its answer need not wait for it.
    const cleared = store.succeeded(key)
    if (cleared instanceof Promise) cleared.catch(() => {})
    return caller
  }
  return function checkSecret(
    authorization: string | null,
    client: string | undefined
  ): Awaitable<Caller> {
    const presented = bearerOf(authorization)
    if (rateLimit.exemptLoopback && isLoopback(client)) {
      const caller = identify(presented)
      if (!caller) throw invalid()
      return known(caller)
    }
    const key = client ?? 'unknown'
    const seconds = store.lockedFor(key)
    return seconds instanceof Promise
      ? seconds.then((s) => afterLockCheck(s, presented, key))
      : afterLockCheck(seconds, presented, key)
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

/**
 * The auth check for a resolved mode, with `apiKeys` beside the token or password.
 * @throws {ConfigError} for API keys under `none` or `trusted-proxy`
 */
export const createAuthenticator = (
  auth: ResolvedAuth,
  rateLimit: RateLimitConfig | false,
  store: Store,
  allowedOrigins: string[] = [],
  onLockout?: () => void,
  apiKeys: readonly ApiKeyConfig[] = []
): Authenticator => {
  if (apiKeys.length && (auth.mode === 'none' || auth.mode === 'trusted-proxy')) {
    throw new ConfigError('gateway.http.apiKeys', keysNeedSecretMode(auth.mode))
  }
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
      ? secretChecker(auth.secret, 'password', rateLimit, store, onLockout)
      : undefined
    return {
      check(request) {
        const { headers, peer } = request
        const identity = identify(request)
        if ('reason' in identity) {
          // On the gateway's own host, with nothing forwarded, the password still lets in.
          const authorization = headers.get('authorization')
          if (checkPassword && authorization && isLoopback(peer) && !isForwarded(headers)) {
            return checkPassword(authorization, request.client)
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
  const checkSecret = secretChecker(
    auth.secret!,
    auth.mode,
    rateLimit,
    store,
    onLockout,
    keyCallers(apiKeys)
  )
  return {
    check({ headers, client }) {
      return checkSecret(headers.get('authorization'), client)
    },
  }
}
