/**
 * The abort signal of each turn. It fires when the client goes away, when the server stops all
 * runs (after the shutdown drain), or when the turn outlives the run timeout; its reason says
 * which, so the client hears why. Live turns are kept in a set, so stopping them all needs no
 * listener per turn on a shared signal.
 */
import { ApiError } from './errors.ts'

export interface TurnSignal {
  signal: AbortSignal
  abort(reason: unknown): void
  /** Detaches from the request, clears the timer and leaves the set; call when the turn ends. */
  dispose(): void
}

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

export class TurnSignals {
  #live = new Set<AbortController>()
  #stopped: unknown

  /** Aborts every live turn, and every turn made from now on, with `reason`. */
  abortAll(reason: unknown): void {
    this.#stopped ??= reason
    for (const controller of this.#live) controller.abort(reason)
  }

  /**
   * A signal for one turn.
   * @param watchClient calls its argument when the client goes away; returns an unsubscribe
   * @param timeoutSeconds 0 = no limit
   */
  create(watchClient: ClientWatch, timeoutSeconds: number): TurnSignal {
    const controller = new AbortController()
    const unwatch = watchClient((reason) => controller.abort(reason))
    if (this.#stopped !== undefined) controller.abort(this.#stopped)
    this.#live.add(controller)
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            const message = `The agent did not finish within ${timeoutSeconds} seconds.`
            controller.abort(new ApiError(504, message))
          }, timeoutSeconds * 1000)
        : undefined
    return {
      signal: controller.signal,
      abort: (reason) => controller.abort(reason),
      dispose: () => {
        clearTimeout(timer)
        unwatch()
        this.#live.delete(controller)
      },
    }
  }
}
