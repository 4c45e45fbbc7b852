/**
 * The abort signal of one turn. It fires when the client goes away, when the server stops
 * its runs (after the shutdown drain), or when the turn outlives the run timeout; its reason
 * says which, so the client hears why.
 */
import { ApiError } from './errors.ts'

export interface TurnSignal {
  signal: AbortSignal
  abort(reason: unknown): void
  /** Detaches from the long-lived signals and clears the timer; call when the turn ends. */
  dispose(): void
}

export const turnSignal = ({
  request,
  stop,
  timeoutSeconds,
}: {
  /** The request's own signal (aborted by the runtime on disconnect). */
  request: AbortSignal
  /** Aborted, with its reason, when the server stops all runs. */
  stop: AbortSignal
  /** 0 = no limit. */
  timeoutSeconds: number
}): TurnSignal => {
  const controller = new AbortController()
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason)
  const sources = [request, stop]
  for (const source of sources) {
    if (source.aborted) controller.abort(source.reason)
    else source.addEventListener('abort', onAbort, { once: true })
  }
  const timer =
    timeoutSeconds > 0
      ? setTimeout(
          () =>
            controller.abort(
              new ApiError(504, `The agent did not finish within ${timeoutSeconds} seconds.`)
            ),
          timeoutSeconds * 1000
        )
      : undefined
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose() {
      clearTimeout(timer)
      for (const source of sources) source.removeEventListener('abort', onAbort)
    },
  }
}
