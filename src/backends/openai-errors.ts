/**
 * Upstream failures → error events the client may see. What the client learns is chosen here:
 * the upstream's own message only where it describes the client's request (400, 404, 429), and
 * never the backend's credentials, which an upstream may quote back.
 */
import type { AgentEvent } from '../backend.ts'

export type ErrorEvent = Extract<AgentEvent, { type: 'error' }>

export const CREDENTIALS_REJECTED =
  "The upstream rejected the backend's credentials (backend.apiKey)."
const MAX_MESSAGE = 1_000

/** Removes every secret from a text meant for the client. */
export const redactor = (secrets: (string | undefined)[]) => {
  // Short values (`1`, `json`) are too likely to be ordinary words to be worth hiding.
  const list = secrets.filter((s): s is string => !!s && s.length >= 6)
  return (text: string) => list.reduce((t, s) => t.split(s).join('[redacted]'), text)
}

/**
 * The message in an upstream error body, whichever shape it uses: OpenAI's `{error:{message}}`,
 * vLLM's old flat `{message}`, `{error:"…"}`, FastAPI's `{detail}`, or plain text.
 */
export const upstreamMessage = (body: string): string | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return body.trim() || undefined
  }
  const o = parsed as Record<string, any> | null
  const candidates = [o?.error?.message, o?.error, o?.message, o?.detail]
  const found = candidates.find((c) => typeof c === 'string' && c.trim())
  return found?.trim()
}

const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text)

/** The error event for an upstream's non-2xx answer. */
export const errorForStatus = (
  status: number,
  body: string,
  redact: (text: string) => string
): ErrorEvent => {
  const message = () => {
    const m = upstreamMessage(body)
    return m ? clip(redact(m)) : undefined
  }
  if (status === 401 || status === 403) {
    return { type: 'error', status: 502, message: CREDENTIALS_REJECTED, code: 'upstream_auth' }
  }
  if (status === 429) {
    return {
      type: 'error',
      status: 429,
      message: message() ?? 'The upstream is rate limiting requests.',
      code: 'rate_limit_exceeded',
    }
  }
  if (status === 408 || status === 504) return timeoutError()
  if (status >= 500) {
    return { type: 'error', status: 502, message: `upstream provider error (HTTP ${status})` }
  }
  return {
    type: 'error',
    status: status === 404 ? 404 : 400,
    message: message() ?? `The upstream refused the request (HTTP ${status}).`,
  }
}

export const timeoutError = (): ErrorEvent => ({
  type: 'error',
  status: 504,
  message: 'upstream provider timeout',
  code: 'timeout',
})

export const unreachableError = (host: string): ErrorEvent => ({
  type: 'error',
  status: 502,
  message: `Could not connect to the upstream at ${host}.`,
  code: 'upstream_unreachable',
})

/** A `data:{"error":…}` frame after the stream began (vLLM, llama.cpp, OpenRouter send these). */
export const midStreamError = (error: unknown, redact: (text: string) => string): ErrorEvent => {
  const m = upstreamMessage(JSON.stringify({ error }))
  return {
    type: 'error',
    status: 502,
    message: m ? `upstream provider error: ${clip(redact(m))}` : 'upstream provider error',
  }
}
