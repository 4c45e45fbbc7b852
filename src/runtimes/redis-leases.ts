/**
 * Keeps the leases this instance holds (session locks, concurrency slots) alive: every third of
 * the lease, each is extended in Redis. One timer for all of them, and none while nothing is
 * held. An instance that dies stops extending, so its leases run out by themselves.
 */

export interface Lease {
  /** Extends the lease; false when another holder has it now (this one is lost). */
  renew(): Promise<boolean>
  /** Hears that the lease was lost (another instance holds what this one thought it held). */
  lost(): void
  /** Gives it back (and stops extending it); a second call does nothing. */
  release(): Promise<unknown>
}

export class Leases {
  readonly #held = new Set<Lease>()
  readonly #everyMs: number
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(leaseMs: number) {
    this.#everyMs = Math.max(1, Math.floor(leaseMs / 3))
  }

  get size(): number {
    return this.#held.size
  }

  hold(lease: Lease): void {
    this.#held.add(lease)
    if (this.#timer) return
    this.#timer = setInterval(this.#renew, this.#everyMs)
    // A held lease must not keep a process alive that has nothing else to do.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  drop(lease: Lease): void {
    this.#held.delete(lease)
    if (this.#held.size === 0) this.stop()
  }

  /** Gives back every lease held (the store closes). */
  releaseAll(): Promise<unknown> {
    return Promise.allSettled([...this.#held].map((lease) => lease.release()))
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  readonly #renew = () => {
    for (const lease of this.#held) {
      lease.renew().then(
        (kept) => {
          if (kept || !this.#held.has(lease)) return
          this.drop(lease)
          lease.lost()
        },
        // Redis is away: the next round tries again, and the lease lasts until then.
        () => {}
      )
    }
  }
}
