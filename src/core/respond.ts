/**
 * The last step of every request: one `Response`, with the headers every answer carries (the
 * request id, two safety headers and `Server-Timing`) written as one plain object. Set through Hono's
 * `c.header()` in middlewares they would build a `Headers` object per request, which was the
 * largest single cost of a short non-stream answer on Node (bench/notes.md); a plain object goes
 * straight to `writeHead` there, and is a valid `HeadersInit` on every other runtime.
 */
import { exchangeOf } from './exchange.ts'
import { randomUuid } from './random-id.ts'

export const JSON_TYPE = 'application/json; charset=utf-8'

/** What Hono's `requestId()` accepts from a client: word characters, `-` and `=`, ≤ 255. */
const CLIENT_REQUEST_ID = /^[\w\-=]{1,255}$/

/**
 * The client's own `x-request-id` when it is sane, else a fresh one (also when there is no
 * `Request`: the runtime could not make one of what arrived).
 */
export const requestIdOf = (request: Request | null): string => {
  const id = request && request.headers.get('x-request-id')
  return id !== null && CLIENT_REQUEST_ID.test(id) ? id : randomUuid()
}

/** A header carries visible ASCII only; anything else is sent percent-encoded. */
export const headerValue = (value: string) =>
  /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value.replace(/\p{Cs}/gu, '\ufffd'))

/** What every answer carries: its request id and two safety headers. */
export const commonHeaders = (request: Request | null): Record<string, string> => ({
  'x-request-id': requestIdOf(request),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
})

/**
 * An answer with the common headers and `headers` (which is not changed). It also ends the
 * request's exchange (its log line and metrics), or for a stream, starts its end's count.
 */
export const respond = (
  request: Request | null,
  body: BodyInit | null,
  status: number,
  headers?: Record<string, string>,
  contentType?: string
): Response => {
  // Built by assignment rather than spreads: cheaper for V8 on this per-request path.
  const all = commonHeaders(request)
  if (contentType) all['content-type'] = contentType
  for (const name in headers) all[name] = headers[name]
  const exchange = exchangeOf(request)
  if (exchange) {
    // An API key's `x-ratelimit-*`, on every answer to a keyed request, as OpenAI sends them.
    const extra = exchange.headers
    if (extra) for (const name in extra) all[name] ??= extra[name]
    all['server-timing'] = exchange.answered(status, all['x-request-id'], headers, body)
  }
  return new Response(body, { status, headers: all })
}

export const respondJson = (
  request: Request | null,
  value: unknown,
  status = 200,
  headers?: Record<string, string>
): Response => respond(request, JSON.stringify(value), status, headers, JSON_TYPE)
