/**
 * Many deadlines, one timer. Every request has a body deadline and every turn a run timeout;
 * a timer each would cost two `setTimeout`/`clearTimeout` pairs per request, though almost none
 * ever fires. Here one timer waits for the earliest deadline: with one timeout for all (the
 * usual case) each new deadline is the latest, so adding and removing one touches no timer.
 */

export interface Deadline {
  readonly at: number
  readonly onExpire: () => void
}

export class Deadlines {
  readonly #live = new Set<Deadline>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Infinity

  /** Calls `onExpire` in `ms` milliseconds, unless `cancel()`ed first. */
  add(ms: number, onExpire: () => void): Deadline {
    const deadline = { at: Date.now() + ms, onExpire }
    this.#live.add(deadline)
    if (deadline.at < this.#timerAt) this.#schedule(deadline.at)
    return deadline
  }

  cancel(deadline: Deadline | undefined): void {
    if (deadline) this.#live.delete(deadline)
  }

  #schedule(at: number) {
    clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = setTimeout(this.#fire, Math.max(0, at - Date.now()))
    // A deadline must not keep a process alive that has nothing else to do.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  readonly #fire = () => {
    this.#timer = undefined
    this.#timerAt = Infinity
    const now = Date.now()
    let next = Infinity
    for (const deadline of this.#live) {
      if (deadline.at <= now) {
        this.#live.delete(deadline)
        deadline.onExpire()
      } else if (deadline.at < next) next = deadline.at
    }
    if (next < Infinity) this.#schedule(next)
  }
}

/** The process's deadlines: every request and turn shares them. */
export const deadlines = new Deadlines()
