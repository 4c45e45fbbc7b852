/**
 * One turn at a time per session key, per process. Waiters queue in arrival order; a turn that
 * ends, fails or is aborted (even while still waiting) releases its place at once. A free
 * session is taken without a promise: nearly every turn finds its session free.
 */

interface Waiter {
  grant(): void
}

export class SessionLocks {
  /** Per held session: the turns waiting for it, in order (`null` while none waits). */
  #queues = new Map<string, Waiter[] | null>()

  /** Session keys with a turn running or waiting. */
  get size(): number {
    return this.#queues.size
  }

  /**
   * Holds the lock until the returned `release()` is called: at once when the session is free,
   * else after the session's earlier turns.
   * @throws the signal's reason when aborted while waiting (the place in the queue is given up)
   */
  acquire(key: string, signal: AbortSignal): (() => void) | Promise<() => void> {
    const queue = this.#queues.get(key)
    if (queue === undefined) {
      this.#queues.set(key, null)
      return this.#releaser(key)
    }
    if (signal.aborted) return Promise.reject(signal.reason)
    // The first to wait makes the session's line.
    const waiting = queue ?? []
    if (queue === null) this.#queues.set(key, waiting)
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = waiting.indexOf(waiter)
        if (at !== -1) waiting.splice(at, 1)
        reject(signal.reason)
      }
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort)
          resolve(this.#releaser(key))
        },
      }
      waiting.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The release of one turn's hold: hands the session to the next waiter, or frees it. */
  #releaser(key: string) {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#queues.get(key)?.shift()
      if (next) next.grant()
      else this.#queues.delete(key)
    }
  }
}
