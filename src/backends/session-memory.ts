/**
 * Conversation memory for backends whose upstream is stateless (an OpenAI-compatible model
 * server): per stable session key, the messages of the turns so far, so a client that sends only
 * the new turn still gets an answer that knows the conversation. Bounded three ways: messages per
 * session, sessions (least recently used go first), and idle time.
 */
import type { NormalizedMessage } from '../backend.ts'
import { isSystem } from './openai-messages.ts'

export interface SessionMemoryOptions {
  /** Messages kept per session, system messages included; the oldest turns go first. */
  maxMessages: number
  /** Sessions kept; the least recently used is forgotten first. */
  maxSessions: number
  /** A session unused for this long is forgotten. */
  ttlMs: number
  now?: () => number
}

// `agent:<id>:openai:<uuid>` is what routing makes for a chat request with neither `user` nor a
// session header: a new key per call, so remembering it would only fill memory. (A Responses
// request's `…:openresponses:<uuid>` is remembered: `previous_response_id` continues it.)
const STATELESS =
  /^agent:[^:]+:openai:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether a session key names a conversation that continues across requests. */
export const isStableSessionKey = (key: string) => !STATELESS.test(key)

/**
 * The conversation to send upstream. A client that carries its own history (any assistant
 * message in what it sent: the standard OpenAI way, and also an edit or a regenerate) is taken as
 * it is. A client that sends only new user or tool messages gets the remembered turns in front
 * of them, under its own system messages if it sent any, else the remembered ones.
 */
export const composeHistory = (
  remembered: NormalizedMessage[] | undefined,
  sent: NormalizedMessage[]
): NormalizedMessage[] => {
  if (!remembered?.length || sent.some((m) => m.role === 'assistant')) return sent
  const system = sent.filter(isSystem)
  return [
    ...(system.length ? system : remembered.filter(isSystem)),
    ...remembered.filter((m) => !isSystem(m)),
    ...sent.filter((m) => !isSystem(m)),
  ]
}

/**
 * At most `max` messages: the system messages, then the newest turns. The kept part starts at a
 * user message, since a tool result or an answer without what it answers is rejected upstream.
 */
export const trimHistory = (messages: NormalizedMessage[], max: number): NormalizedMessage[] => {
  const system = messages.filter(isSystem)
  const rest = messages.filter((m) => !isSystem(m))
  const room = Math.max(max - system.length, 0)
  let kept = room ? rest.slice(-room) : []
  const firstUser = kept.findIndex((m) => m.role === 'user')
  kept = firstUser === -1 ? [] : kept.slice(firstUser)
  return [...system, ...kept]
}

interface Entry {
  messages: NormalizedMessage[]
  expires: number
}

export class SessionMemory {
  // A Map iterates in insertion order; re-inserting on every use keeps it in least-recently-used
  // order, which (with one TTL for all) is also the order of expiry.
  readonly #entries = new Map<string, Entry>()
  readonly #options: SessionMemoryOptions
  readonly #now: () => number

  constructor(options: SessionMemoryOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#entries.size
  }

  /** The remembered messages of a session (a copy), refreshing its place and its TTL. */
  get(key: string): NormalizedMessage[] | undefined {
    const entry = this.#entries.get(key)
    if (!entry) return undefined
    this.#entries.delete(key)
    const now = this.#now()
    if (entry.expires <= now) return undefined
    entry.expires = now + this.#options.ttlMs
    this.#entries.set(key, entry)
    return [...entry.messages]
  }

  /** Replaces a session's messages in one step (trimmed to `maxMessages`). */
  set(key: string, messages: NormalizedMessage[]): void {
    const now = this.#now()
    this.#entries.delete(key)
    this.#entries.set(key, {
      messages: trimHistory(messages, this.#options.maxMessages),
      expires: now + this.#options.ttlMs,
    })
    for (const [k, entry] of this.#entries) {
      if (this.#entries.size > this.#options.maxSessions || entry.expires <= now) {
        this.#entries.delete(k)
      } else break
    }
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
  }
}
