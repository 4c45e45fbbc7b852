/**
 * One turn's abort: it fires when the client goes away, when the server stops all runs (after the
 * shutdown drain), or when the turn outlives the run timeout; its reason says which, so the client
 * hears why. The backend gets a real `AbortSignal`; the app's own parts hear of the abort through
 * `onAbort`, plain callbacks, because a listener on a signal costs more than the rest of a short
 * turn's bookkeeping on Node 20 (bench/notes.md). Live turns are kept in a list, so stopping them
 * all needs no listener per turn on a shared signal.
 */
import { deadlines, type Deadline } from './deadlines.ts'
import { ApiError } from './errors.ts'
import { LiveList, type Link } from './live-list.ts'

/** Subscribes to the client going away; returns the unsubscribe. */
export type ClientWatch = (onGone: (reason: unknown) => void) => () => void

/** The Web-standard way: the request's own signal, which the runtime aborts on disconnect. */
export const watchRequestSignal =
  (signal: AbortSignal): ClientWatch =>
  (onGone) => {
    const onAbort = () => onGone(signal.reason)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    return () => signal.removeEventListener('abort', onAbort)
  }

export class Turn {
  readonly #controller = new AbortController()
  readonly #hooks: (() => void)[] = []
  readonly #live: LiveList<Turn>
  readonly #link: Link<Turn>
  #aborted = false
  #reason: unknown
  #unwatch: (() => void) | undefined
  #deadline: Deadline | undefined

  constructor(live: LiveList<Turn>, watchClient: ClientWatch, timeoutSeconds: number) {
    this.#live = live
    this.#link = live.add(this)
    this.#unwatch = watchClient((reason) => this.abort(reason))
    if (timeoutSeconds > 0 && !this.#aborted) {
      this.#deadline = deadlines.add(timeoutSeconds * 1000, () => {
        const message = `The agent did not finish within ${timeoutSeconds} seconds.`
        this.abort(new ApiError(504, message))
      })
    }
  }

  /** For the backend: aborts with the turn. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  get aborted(): boolean {
    return this.#aborted
  }

  get reason(): unknown {
    return this.#reason
  }

  /** Aborts once: the signal first (the backend hears it), then the hooks. */
  abort(reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#reason = reason
    this.#controller.abort(reason)
    for (const hook of this.#hooks.splice(0)) hook()
  }

  /** Calls `hook` once when the turn aborts (at once if it has). */
  onAbort(hook: () => void): void {
    if (this.#aborted) hook()
    else this.#hooks.push(hook)
  }

  /** Detaches from the client, clears the timer and leaves the set; call when the turn ends. */
  dispose(): void {
    deadlines.cancel(this.#deadline)
    this.#unwatch?.()
    this.#unwatch = undefined
    this.#live.delete(this.#link)
  }
}

export class Turns {
  readonly #live = new LiveList<Turn>()
  #stopped: { reason: unknown } | undefined

  /** Aborts every live turn, and every turn made from now on, with `reason`. */
  abortAll(reason: unknown): void {
    this.#stopped ??= { reason }
    for (const { value: turn } of this.#live) turn.abort(reason)
  }

  /**
   * A turn for one request.
   * @param watchClient calls its argument when the client goes away; returns an unsubscribe
   * @param timeoutSeconds 0 = no limit
   */
  create(watchClient: ClientWatch, timeoutSeconds: number): Turn {
    const turn = new Turn(this.#live, watchClient, timeoutSeconds)
    if (this.#stopped) turn.abort(this.#stopped.reason)
    return turn
  }
}
