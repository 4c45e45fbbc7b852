/**
 * Runs one turn: waits for the session's lock, drives the backend, and turns whatever happens
 * (abort, a throw, a malformed event) into the small event union the responders understand.
 */
import type { AgentBackend, AgentEvent, AgentRunInput } from '../backend.ts'
import { ApiError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import { STORE_UNAVAILABLE, StoreUnavailableError, type Release, type Store } from './store.ts'
import type { Turn } from './turn.ts'

export type { Logger }

/** Who hears of a backend's failures (for metrics). */
type ErrorSink = Pick<Metrics, 'backendError'> | undefined

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

/** Why a turn could not take its session's lock: the store is down (503), else the abort. */
const lockFailure = (err: unknown, reason: unknown): Extract<AgentEvent, { type: 'error' }> =>
  err instanceof StoreUnavailableError
    ? { type: 'error', message: STORE_UNAVAILABLE, status: 503, code: 'store_unavailable' }
    : abortMessage(reason)

const abortMessage = (reason: unknown): Extract<AgentEvent, { type: 'error' }> => {
  if (reason instanceof ApiError)
    return { type: 'error', message: reason.message, status: reason.status }
  return { type: 'error', message: 'The request was cancelled.', status: 499 }
}

type Result = IteratorResult<AgentEvent, undefined>

const FINISHED: Result = { done: true, value: undefined }

/** A sync iterable (an array) works too, as it would under `for await`. */
const asyncIteratorOf = <T>(events: AsyncIterable<T> | Iterable<T>): AsyncIterator<T> =>
  Symbol.asyncIterator in Object(events)
    ? (events as AsyncIterable<T>)[Symbol.asyncIterator]()
    : (async function* () {
        yield* events as Iterable<T>
      })()

/**
 * One turn's events, pulled by its consumer. Written by hand rather than as an async generator:
 * a generator around the backend's own iterator costs several promise turns per event, about as
 * much as the backend itself (bench/notes.md); here each event costs one promise.
 */
class TurnEvents implements AsyncIterableIterator<AgentEvent> {
  readonly #input: AgentRunInput
  readonly #turn: Turn
  readonly #backend: AgentBackend
  readonly #locks: Pick<Store, 'lockSession'>
  readonly #logger: Logger
  readonly #errors: ErrorSink
  readonly #onSettled: () => void
  #iterator?: AsyncIterator<unknown>
  #release?: () => void
  /** Set while a step waits: gets its event, or the abort's at once when the turn aborts. */
  #wake?: (event: AgentEvent) => void
  /** The `next()` waiting for its step. */
  #resolveStep?: (result: Result) => void
  /** The last event went out (or the consumer stopped): only `done: true` from now on. */
  #ended = false
  /** The backend's iterator finished by itself: nothing to close. */
  #exhausted = false
  /** The close started with the last event, which frees the lock when it is done. */
  #closing?: Promise<void>
  #settled = false

  constructor(
    backend: AgentBackend,
    locks: Pick<Store, 'lockSession'>,
    logger: Logger,
    errors: ErrorSink,
    input: AgentRunInput,
    turn: Turn,
    onSettled: () => void
  ) {
    this.#backend = backend
    this.#locks = locks
    this.#logger = logger
    this.#errors = errors
    this.#input = input
    this.#turn = turn
    this.#onSettled = onSettled
    // Some runtimes (workerd) drop a disconnected body without cancelling it: the abort alone
    // must free the lock and end a step that waits.
    turn.onAbort(() => {
      const wake = this.#wake
      // A waiting step gets the abort as the last event (which settles); else settle now.
      if (wake && !this.#ended) wake(this.#last(abortMessage(turn.reason)))
      else this.#settle()
    })
  }

  [Symbol.asyncIterator]() {
    return this
  }

  next(): Promise<Result> {
    const ready = this.#ready()
    if (ready === true) return this.#step()
    if (ready instanceof Promise) return ready.then((r) => (r === true ? this.#step() : r))
    return Promise.resolve(ready)
  }

  /** A step's event as `next()` answers it. */
  readonly #answerStep = (event: AgentEvent) => this.#resolveStep!({ done: false, value: event })

  /**
   * Every event to `onEvent`, in order, until the turn ends; for consumers that take them all
   * (a non-stream answer). Cheaper than `next()` in a loop: no promise of ours per event, and no
   * await in the consumer; the abort still ends it at once.
   */
  drain(onEvent: (event: AgentEvent) => void): Promise<void> {
    return new Promise<void>((finished) => {
      const deliver = (event: AgentEvent) => {
        onEvent(event)
        if (this.#ended) finished()
        else this.#begin(deliver)
      }
      // The abort or the end, when the turn never started its backend.
      const end = (result: Result) => (result.done ? finished() : deliver(result.value))
      const ready = this.#ready()
      if (ready === true) this.#begin(deliver)
      else if (ready instanceof Promise)
        ready.then((r) => (r === true ? this.#begin(deliver) : end(r)))
      else end(ready)
    })
  }

  /**
   * Whether the turn may step its backend: `true` once it holds the session's lock (at once
   * when it is free: no promise then), else what to answer instead (the abort or the end).
   */
  #ready(): true | Result | Promise<true | Result> {
    if (this.#ended) return FINISHED
    if (this.#turn.aborted) return this.#lastResult(abortMessage(this.#turn.reason))
    if (this.#release) return true
    let lock: Release | Promise<Release>
    try {
      lock = this.#locks.lockSession(this.#input.sessionKey, this.#turn.signal)
    } catch (err) {
      return this.#lastResult(lockFailure(err, this.#turn.reason))
    }
    if (typeof lock === 'function') {
      this.#release = lock
      return true
    }
    return lock.then(
      (release) => {
        this.#release = release
        // Aborted while the lock was being granted: give it back at once.
        if (this.#turn.aborted || this.#settled) {
          this.#settle()
          return this.#lastResult(abortMessage(this.#turn.reason))
        }
        return true as const
      },
      (err) => this.#lastResult(lockFailure(err, this.#turn.reason))
    )
  }

  /** Ends early (the consumer stopped): closes the backend's run, then frees the lock. */
  async return(): Promise<Result> {
    if (!this.#ended) {
      this.#ended = true
      await this.#close()
    } else await this.#closing
    this.#settle()
    return FINISHED
  }

  /**
   * One backend step, answered by its event or by the abort, whichever comes first. The
   * executor and the callbacks are made once per turn, not once per event: a long answer has
   * hundreds of events.
   */
  #step(): Promise<Result> {
    return new Promise<Result>(this.#start)
  }

  readonly #start = (resolve: (result: Result) => void) => {
    this.#resolveStep = resolve
    this.#begin(this.#answerStep)
  }

  /** Starts one backend step; `wake` gets its event, or the abort's, whichever comes first. */
  #begin(wake: (event: AgentEvent) => void) {
    this.#wake = wake
    let pending: Promise<IteratorResult<unknown>>
    try {
      // Made on the first step, so a backend whose run() throws at once fails like one that
      // throws later.
      this.#iterator ??= asyncIteratorOf(this.#backend.run(this.#input, this.#turn.signal))
      pending = this.#iterator.next()
    } catch (err) {
      return wake(this.#failed(err))
    }
    pending.then(this.#settleStep, this.#failStep)
  }

  readonly #settleStep = (result: IteratorResult<unknown>) => {
    if (!this.#ended) this.#wake?.(this.#received(result))
  }

  readonly #failStep = (err: unknown) => {
    if (!this.#ended) this.#wake?.(this.#failed(err))
  }

  #received(result: IteratorResult<unknown>): AgentEvent {
    if (result.done) {
      this.#exhausted = true
      return this.#last({ type: 'done' })
    }
    const event = result.value
    if (!isEvent(event)) {
      this.#logger.error(`backend yielded a malformed event for run ${this.#input.runId}`, event)
      this.#errors?.backendError('malformed_event', 500)
      return this.#last({ type: 'error', message: 'internal error', status: 500 })
    }
    if (event.type === 'error') this.#errors?.backendError('error_event', event.status ?? 502)
    if (event.type === 'done' || event.type === 'error') return this.#last(event)
    return event
  }

  #failed(err: unknown): AgentEvent {
    this.#exhausted = true
    if (this.#turn.aborted) return this.#last(abortMessage(this.#turn.reason))
    this.#logger.error(`backend failed for run ${this.#input.runId}`, err)
    this.#errors?.backendError('exception', 500)
    return this.#last({ type: 'error', message: 'internal error', status: 500 })
  }

  /**
   * The turn's last event. The backend's run is closed (its `finally` may still hold work for
   * the session) before the lock goes to the session's next turn; once aborted, it is not
   * waited for: the backend may be ignoring its signal.
   */
  #last(event: AgentEvent): AgentEvent {
    if (!this.#ended) {
      this.#ended = true
      const closing = this.#close()
      if (this.#turn.aborted) {
        closing?.catch(() => {})
        this.#settle()
      } else if (!closing) {
        this.#settle()
      } else {
        this.#closing = closing.then(
          () => this.#settle(),
          (err) => {
            // The turn's answer is out: log it, change nothing.
            this.#logger.error(`backend failed to close run ${this.#input.runId}`, err)
            this.#settle()
          }
        )
      }
    }
    return event
  }

  /** The turn's last event, as `next()` answers it. */
  #lastResult(event: AgentEvent): Result {
    return { done: false, value: this.#last(event) }
  }

  /** Closes the backend's run: `undefined` when there is nothing to close (no promise made). */
  #close(): Promise<unknown> | undefined {
    const iterator = this.#iterator
    if (!iterator || this.#exhausted) return undefined
    this.#exhausted = true
    try {
      return Promise.resolve(iterator.return?.())
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #settle(): void {
    if (this.#settled) return
    this.#settled = true
    this.#wake = undefined
    this.#release?.()
    this.#turn.dispose()
    this.#onSettled()
  }
}

/** Runs turns against one backend, one at a time per session key, and counts them. */
export class TurnRunner {
  #active = 0
  readonly #backend: AgentBackend
  readonly #store: Store & { readonly sessionLocks?: number }
  readonly #logger: Logger
  readonly #errors: ErrorSink

  constructor(backend: AgentBackend, store: Store, logger: Logger, errors?: ErrorSink) {
    this.#backend = backend
    this.#store = store
    this.#logger = logger
    this.#errors = errors
  }

  stats(): RunStats {
    // A shared store's locks are everyone's: only the memory store counts its own.
    return { activeRuns: this.#active, sessionLocks: this.#store.sessionLocks ?? 0 }
  }

  /**
   * The turn's events. The iterator always ends with `done` or `error` and never throws. The
   * session lock is freed and the turn disposed when the turn ends, when its consumer stops, or
   * as soon as the turn aborts: some runtimes (workerd) drop a disconnected response body
   * without ever cancelling it, so the consumer cannot be relied on to finish the iterator.
   * The backend's events end as soon as the turn aborts, too: a backend that ignores its signal
   * cannot hold the answer (or the run timeout) hostage.
   */
  run(input: AgentRunInput, turn: Turn): AsyncIterableIterator<AgentEvent> {
    this.#active++
    return new TurnEvents(
      this.#backend,
      this.#store,
      this.#logger,
      this.#errors,
      input,
      turn,
      () => {
        this.#active--
      }
    )
  }
}

/** Calls `onEvent` with each of a turn's events; resolves when the turn has ended. */
export const eachEvent = (
  events: AsyncIterable<AgentEvent>,
  onEvent: (event: AgentEvent) => void
): Promise<void> =>
  events instanceof TurnEvents
    ? events.drain(onEvent)
    : (async () => {
        for await (const event of events) onEvent(event)
      })()
