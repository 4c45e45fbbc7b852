/**
 * Runs one turn: waits for the session's lock, drives the backend, and turns whatever happens
 * (abort, a throw, a malformed event) into the small event union the responders understand.
 */
import type { AgentBackend, AgentEvent, AgentRunInput } from '../backend.ts'
import { ApiError } from './errors.ts'
import { SessionLocks } from './session-lock.ts'
import type { Turn } from './turn.ts'

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

const abortMessage = (reason: unknown): Extract<AgentEvent, { type: 'error' }> => {
  if (reason instanceof ApiError)
    return { type: 'error', message: reason.message, status: reason.status }
  return { type: 'error', message: 'The request was cancelled.', status: 499 }
}

const ABORTED = Symbol('aborted')

/** A sync iterable (an array) works too, as it would under `for await`. */
const asyncIteratorOf = <T>(events: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> =>
  Symbol.asyncIterator in Object(events)
    ? (events as AsyncIterable<T>)[Symbol.asyncIterator]()
    : (async function* () {
        yield* events as Iterable<T>
      })()

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
   * session lock is freed and the turn disposed when the turn ends, when its consumer stops, or
   * as soon as the turn aborts: some runtimes (workerd) drop a disconnected response body
   * without ever cancelling it, so the consumer cannot be relied on to finish the iterator.
   * The backend's events end as soon as the turn aborts, too: a backend that ignores its signal
   * cannot hold the answer (or the run timeout) hostage.
   */
  async *run(input: AgentRunInput, turn: Turn): AsyncGenerator<AgentEvent> {
    this.#active++
    let release: (() => void) | undefined
    let settled = false
    const settle = () => {
      if (settled) return
      settled = true
      release?.()
      turn.dispose()
      this.#active--
    }
    turn.onAbort(settle)
    try {
      try {
        const lock = this.locks.acquire(input.sessionKey, turn.signal)
        release = typeof lock === 'function' ? lock : await lock
      } catch {
        yield abortMessage(turn.reason)
        return
      }
      if (turn.aborted) {
        // Aborted while the lock was being granted: give it back at once.
        release()
        yield abortMessage(turn.reason)
        return
      }
      let iterator: AsyncIterator<unknown> | undefined
      // Made on the first step, so a backend whose run() throws at once fails like one that
      // throws later.
      const next = () =>
        (iterator ??= asyncIteratorOf(this.#backend.run(input, turn.signal))).next()
      const close = async () => iterator!.return?.()
      let wake: ((aborted: typeof ABORTED) => void) | undefined
      turn.onAbort(() => wake?.(ABORTED))
      /**
       * Waits for `work` or the abort, whichever comes first: one promise, where `Promise.race`
       * would also leave a reaction on a promise shared by every step.
       */
      const untilAborted = <T>(work: () => PromiseLike<T>) =>
        new Promise<T | typeof ABORTED>((resolve, reject) => {
          wake = resolve
          work().then(resolve, reject)
        })
      let finished = false
      try {
        while (!turn.aborted) {
          let result
          try {
            result = await untilAborted(next)
          } catch (err) {
            finished = true
            if (turn.aborted) break
            this.#logger.error(`backend failed for run ${input.runId}`, err)
            yield { type: 'error', message: 'internal error', status: 500 }
            return
          }
          if (result === ABORTED) break
          if (result.done) {
            finished = true
            break
          }
          const event = result.value
          if (!isEvent(event)) {
            this.#logger.error(`backend yielded a malformed event for run ${input.runId}`, event)
            yield { type: 'error', message: 'internal error', status: 500 }
            return
          }
          yield event
          if (event.type === 'done' || event.type === 'error') return
        }
        yield turn.aborted ? abortMessage(turn.reason) : { type: 'done' }
      } finally {
        // Closed early: the turn ended, was aborted, or its consumer stopped. Once aborted, never
        // wait for it: the backend may be ignoring its signal.
        if (iterator && !finished) {
          if (turn.aborted) close().catch(() => {})
          else {
            try {
              await untilAborted(close)
            } catch (err) {
              // The turn's answer is out, or its consumer left: log it, change nothing.
              this.#logger.error(`backend failed to close run ${input.runId}`, err)
            }
          }
        }
      }
    } finally {
      settle()
    }
  }
}
