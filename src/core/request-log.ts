/**
 * What one answered request leaves behind for operators: the request-log entry (one line per
 * request) and what the metrics count of it. Built once, when the answer ends; nothing here
 * holds a secret or message content (no header but the ones named, no body, no query string).
 */

/**
 * How the exchange ended. `completed`: the answer went out whole (an SSE answer: the agent's
 * `done`); `rejected`: a 4xx answer (auth, validation, limits); `client_gone`: the client left
 * first; `timed_out`: the run timeout (504) or the body timeout (408); `failed`: a 5xx answer, or
 * a stream that ended with an error event.
 */
export type Outcome = 'completed' | 'rejected' | 'client_gone' | 'timed_out' | 'failed'

export interface RequestLogEntry {
  method: string
  /** Without the query string. */
  path: string
  status: number
  outcome: Outcome
  /** From arrival to the end of the answer (a stream's last byte or its cancel), in ms. */
  durationMs: number
  /** Streams only: from arrival to the first body bytes, in ms. */
  ttfbMs: number | undefined
  /** Body bytes written. */
  bytesOut: number
  stream: boolean
  /** Once routed: the agent that answered. */
  agent: string | undefined
  /** Once routed: the session key, a `user`'s part replaced by a short hash (see `logSessionKey`). */
  session: string | undefined
  requestId: string
  /** Once a run started: its id (the completion or response id), as the backends log it. */
  runId: string | undefined
  /** The client's address (behind a trusted proxy, the one it forwards for). */
  client: string | undefined
  /** The id of the API key that made the request (never the key itself). */
  key: string | undefined
}

/** The outcome of an answer that ended by itself, from its status. */
export const outcomeOf = (status: number): Outcome => {
  if (status < 400) return 'completed'
  if (status === 499) return 'client_gone'
  if (status === 504 || status === 408) return 'timed_out'
  return status < 500 ? 'rejected' : 'failed'
}

/** `http://host/v1/models?x=1` → `/v1/models` (at most 200 characters: any path is logged). */
export const pathOf = (url: string): string => {
  const scheme = url.indexOf('://')
  const start = url.indexOf('/', scheme === -1 ? 0 : scheme + 3)
  if (start === -1) return '/'
  const query = url.indexOf('?', start)
  const path = query === -1 ? url.slice(start) : url.slice(start, query)
  return path.length > 200 ? `${path.slice(0, 200)}…` : path
}

/**
 * The route a path belongs to, for metric labels: the app's own routes with their parameters
 * as placeholders, `other` for the rest (any path could otherwise become a label).
 */
export const routeOf = (path: string): string => {
  switch (path) {
    case '/v1/chat/completions':
    case '/v1/responses':
    case '/v1/models':
    case '/health':
    case '/health/details':
    case '/metrics':
      return path
  }
  if (path.startsWith('/v1/responses/')) {
    return path.endsWith('/input_items') ? '/v1/responses/{id}/input_items' : '/v1/responses/{id}'
  }
  if (path.startsWith('/v1/models/')) return '/v1/models/{id}'
  return 'other'
}

/** Methods as metric labels: the ones the app answers, anything else as `other`. */
export const methodLabel = (method: string): string => {
  switch (method) {
    case 'GET':
    case 'POST':
    case 'DELETE':
    case 'OPTIONS':
    case 'HEAD':
      return method
  }
  return 'other'
}

// Per process: a line's hash cannot be looked up in a table made elsewhere (a `user` is often
// guessable, an e-mail address say), yet the same user gets the same hash until a restart. Made
// on first use: Workers allow no random values at a module's top level.
let salt: number | undefined

/** FNV-1a over the string, seeded with the salt: 8 hex digits, enough to tell users apart. */
const shortHash = (text: string): string => {
  salt ??= crypto.getRandomValues(new Uint32Array(1))[0]
  let h = 0x811c9dc5 ^ salt
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0).toString(16).padStart(8, '0')
}

/**
 * A session key the app made from `user`: `agent:<id>:openai-user:<user>` (or `openresponses`),
 * under an API key `agent:<id>:key:<keyId>:openai-user:<user>`.
 */
const USER_KEY = /^(agent:[^:]+:(?:key:[^:]+:)?[a-z]+-user:)([\s\S]*)$/

/**
 * A session key as the log shows it: one made from `user` keeps its prefix and the user becomes
 * `#` and a short hash (`agent:main:openai-user:#1a2b3c4d`); any other key is logged as sent, cut
 * at 128 characters. A key may arrive percent-encoded (the answer's header form).
 */
export const logSessionKey = (key: string): string => {
  let plain = key
  if (!key.startsWith('agent:') && key.includes('%')) {
    try {
      plain = decodeURIComponent(key)
    } catch {}
  }
  const user = USER_KEY.exec(plain)
  if (user) return `${user[1]}#${shortHash(user[2])}`
  return key.length > 128 ? `${key.slice(0, 128)}…` : key
}
