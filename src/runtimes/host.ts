/**
 * A `Host` header that does not make a URL (`Host: [`, `Host: a@b`): the reference gateway still
 * serves such a request, and so do we, by giving the request's URL a stand-in host. Only the
 * URL's path matters to the app, and it still sees the `Host` header the client sent. Without
 * this, `@hono/node-server` answers a bare 400 before the app runs; Bun leaves `request.url`
 * relative (Hono then routes the wrong path) or unparsable, and Deno pastes the header in as it
 * is (`Host: a/b` turns `/v1/models` into `/b/v1/models`).
 */
import type { IncomingMessage } from 'node:http'

/** The URL's host when the client sent none, or one that does not make a URL. */
export const FALLBACK_HOST = 'localhost'

/** What node-server takes as a host without parsing it (its own fast check, kept in step). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/

/**
 * Whether `host` makes a URL's host: it must parse, and parse to itself (an `@`, `/`, `?` or `#`
 * would make the URL's host something else, which node-server refuses).
 */
export const isUsableHost = (host: string): boolean => {
  if (PLAIN_HOST.test(host)) return true
  try {
    const { hostname } = new URL(`http://${host}/`)
    return hostname.length === host.length || hostname === host.replace(/:\d+$/, '').toLowerCase()
  } catch {
    return false
  }
}

/**
 * For `node:http`: swaps a host that does not make a URL for `FALLBACK_HOST` where node-server
 * reads it (`req.headers.host`); the raw headers, which the app reads, keep what the client sent.
 */
export const repairHost = (req: IncomingMessage) => {
  const host = req.headers.host
  if (host && !isUsableHost(host)) req.headers.host = FALLBACK_HOST
}

/**
 * For the runtimes that build the `Request` themselves (Bun, Deno): `request`, or a copy with
 * `FALLBACK_HOST` in its URL when its `Host` header does not make a URL.
 */
export const withUsableUrl = (request: Request): Request => {
  const host = request.headers.get('host')
  if (!host || isUsableHost(host)) return request
  const url = request.url
  // Bun: the bare request target.
  if (url.charCodeAt(0) === 47) return new Request(`http://${FALLBACK_HOST}${url}`, request)
  // Deno, and Bun for some hosts: the header pasted in as it is.
  for (const scheme of ['http://', 'https://']) {
    if (url.startsWith(scheme + host)) {
      const path = url.slice(scheme.length + host.length)
      return new Request(`${scheme}${FALLBACK_HOST}${path}`, request)
    }
  }
  return request
}
