/**
 * One turn at a time per session key, per process. Waiters queue in arrival order; a turn that
 * ends, fails or is aborted (even while still waiting) releases its place at once. A free
 * session is taken without a promise: nearly every turn finds its session free.
 */

interface Waiter {
  grant(): void
}

export class SessionLocks {
  /** Per held session: the turns waiting for it, in order. */
  #queues = new Map<string, Waiter[]>()

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
    if (!queue) {
      const mine: Waiter[] = []
      this.#queues.set(key, mine)
      return this.#releaser(key, mine)
    }
    if (signal.aborted) return Promise.reject(signal.reason)
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = queue.indexOf(waiter)
        if (at !== -1) queue.splice(at, 1)
        reject(signal.reason)
      }
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort)
          resolve(this.#releaser(key, queue))
        },
      }
      queue.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The release of one turn's hold: hands the session to the next waiter, or frees it. */
  #releaser(key: string, queue: Waiter[]) {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = queue.shift()
      if (next) next.grant()
      else if (this.#queues.get(key) === queue) this.#queues.delete(key)
    }
  }
}
