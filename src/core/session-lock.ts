/**
 * One turn at a time per session key, per process. Waiters queue in arrival order; a turn that
 * ends, fails or is aborted (even while still waiting) releases its place at once.
 */
export class SessionLocks {
  #tails = new Map<string, Promise<void>>()

  /** Session keys with a turn running or waiting. */
  get size(): number {
    return this.#tails.size
  }

  /**
   * Holds the lock until `release()` is called: at once when the session is free (no promise, so
   * no wait), else after the session's earlier turns.
   * @throws the signal's reason when aborted while waiting (the place in the queue is given up)
   */
  acquire(key: string, signal: AbortSignal): (() => void) | Promise<() => void> {
    const previous = this.#tails.get(key)
    let release!: () => void
    const mine = new Promise<void>((resolve) => (release = resolve))
    // The next waiter waits for ours *and* everything before it, so giving up early stays ordered.
    const tail = previous ? previous.then(() => mine) : mine
    this.#tails.set(key, tail)
    let released = false
    const done = () => {
      if (released) return
      released = true
      release()
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    }
    if (!previous) return done
    return abortable(previous, signal).then(
      () => done,
      (err) => {
        // Our place must not block those behind us: they still wait for `previous` itself.
        tail.then(() => this.#tails.get(key) === tail && this.#tails.delete(key))
        release()
        released = true
        throw err
      }
    )
  }
}

const abortable = (promise: Promise<void>, signal: AbortSignal): Promise<void> => {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    })
  })
}
