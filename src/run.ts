/**
 * Runs one turn: waits for the session's lock, drives the backend, and turns whatever happens
 * (abort, a throw, a malformed event) into the small event union the responders understand.
 */
import type { AgentBackend, AgentEvent, AgentRunInput } from './backend.ts'
import { ApiError } from './errors.ts'
import { SessionLocks } from './session-lock.ts'

export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string, err?: unknown): void
}

export const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m, err) => console.error(m, err ?? ''),
}

export interface RunStats {
  /** Turns started and not yet finished (including those waiting for their session). */
  activeRuns: number
  /** Session keys with a turn running or queued. */
  sessionLocks: number
}

const isEvent = (e: unknown): e is AgentEvent => {
  if (!e || typeof e !== 'object') return false
  const ev = e as Record<string, unknown>
  switch (ev.type) {
    case 'text':
      return typeof ev.delta === 'string'
    case 'tool_calls':
      return (
        Array.isArray(ev.calls) &&
        ev.calls.every(
          (c) =>
            c &&
            typeof c.id === 'string' &&
            typeof c.name === 'string' &&
            typeof c.arguments === 'string'
        )
      )
    case 'usage':
      return !!ev.usage && typeof ev.usage === 'object'
    case 'done':
      return ev.text === undefined || typeof ev.text === 'string'
    case 'error':
      // The status becomes the answer's: only an error status will do (not 200, not 'oops').
      return (
        typeof ev.message === 'string' &&
        (ev.status === undefined ||
          (Number.isInteger(ev.status) &&
            (ev.status as number) >= 400 &&
            (ev.status as number) <= 599)) &&
        (ev.code === undefined || typeof ev.code === 'string')
      )
    default:
      return false
  }
}

const abortMessage = (signal: AbortSignal): Extract<AgentEvent, { type: 'error' }> => {
  const reason = signal.reason
  if (reason instanceof ApiError)
    return { type: 'error', message: reason.message, status: reason.status }
  return { type: 'error', message: 'The request was cancelled.', status: 499 }
}

const ABORTED = Symbol('aborted')

/**
 * The backend's events, ending as soon as `signal` aborts: a backend that ignores its signal
 * cannot hold the answer (or the run timeout) hostage. Its iterator is closed either way; once
 * aborted, without waiting for it.
 */
async function* abortable<T>(events: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    if (signal.aborted) resolve(ABORTED)
    else signal.addEventListener('abort', () => resolve(ABORTED), { once: true })
  })
  // A sync iterable (an array) still works, as it did under `for await`.
  const iterator =
    Symbol.asyncIterator in Object(events)
      ? events[Symbol.asyncIterator]()
      : (async function* () {
          yield* events as unknown as Iterable<T>
        })()
  let finished = false
  try {
    for (;;) {
      const result = await Promise.race([iterator.next(), aborted])
      if (result === ABORTED) return
      if (result.done) {
        finished = true
        return
      }
      yield result.value
    }
  } finally {
    if (!finished) {
      const closing = (async () => iterator.return?.())()
      if (signal.aborted) closing.catch(() => {})
      else await Promise.race([closing, aborted])
    }
  }
}

/** Runs turns against one backend, one at a time per session key, and counts them. */
export class TurnRunner {
  readonly locks = new SessionLocks()
  #active = 0
  readonly #backend: AgentBackend
  readonly #logger: Logger

  constructor(backend: AgentBackend, logger: Logger) {
    this.#backend = backend
    this.#logger = logger
  }

  stats(): RunStats {
    return { activeRuns: this.#active, sessionLocks: this.locks.size }
  }

  /**
   * The turn's events. The iterator always ends with `done` or `error` and never throws. The
   * session lock is freed (and `cleanup` run) when the turn ends, when its consumer stops, or
   * as soon as `signal` aborts: some runtimes (workerd) drop a disconnected response body
   * without ever cancelling it, so the consumer cannot be relied on to finish the iterator.
   */
  async *run(
    input: AgentRunInput,
    signal: AbortSignal,
    cleanup?: () => void
  ): AsyncGenerator<AgentEvent> {
    this.#active++
    let release: (() => void) | undefined
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      signal.removeEventListener('abort', settle)
      release?.()
      cleanup?.()
      this.#active--
    }
    if (signal.aborted) settle()
    else signal.addEventListener('abort', settle, { once: true })
    try {
      try {
        release = await this.locks.acquire(input.sessionKey, signal)
      } catch {
        yield abortMessage(signal)
        return
      }
      // Aborted between the lock being granted and this line: give it back at once.
      if (settled) release()
      let ended = false
      // Set while this generator waits at a yield inside the loop: a throw caught then comes
      // from closing the backend (the consumer stopped), and yielding again would never finish.
      let paused = false
      try {
        for await (const event of abortable(this.#backend.run(input, signal), signal)) {
          if (signal.aborted) break
          if (!isEvent(event)) {
            this.#logger.error(`backend yielded a malformed event for run ${input.runId}`, event)
            paused = true
            yield { type: 'error', message: 'internal error', status: 500 }
            return
          }
          paused = true
          yield event
          paused = false
          if (event.type === 'done' || event.type === 'error') {
            ended = true
            break
          }
        }
      } catch (err) {
        if (paused || ended) {
          // The turn's answer is out; the backend failed while closing: log it, change nothing.
          this.#logger.error(`backend failed to close run ${input.runId}`, err)
          return
        }
        if (!signal.aborted) {
          this.#logger.error(`backend failed for run ${input.runId}`, err)
          yield { type: 'error', message: 'internal error', status: 500 }
          return
        }
      }
      if (signal.aborted) yield abortMessage(signal)
      else if (!ended) yield { type: 'done' }
    } finally {
      settle()
    }
  }
}
