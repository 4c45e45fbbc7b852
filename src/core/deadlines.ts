/**
 * Many deadlines, one timer. Every request has a body deadline and every turn a run timeout;
 * a timer each would cost two `setTimeout`/`clearTimeout` pairs per request, though almost none
 * ever fires. Here one timer waits for the earliest deadline: with one timeout for all (the
 * usual case) each new deadline is the latest, so adding and removing one touches no timer.
 */

import { LiveList, type Link } from './live-list.ts'

interface Due {
  readonly at: number
  readonly onExpire: () => void
}

/** A deadline, as `cancel()` takes it. */
export type Deadline = Link<Due>

export class Deadlines {
  readonly #live = new LiveList<Due>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerAt = Infinity

  /** Calls `onExpire` in `ms` milliseconds, unless `cancel()`ed first. */
  add(ms: number, onExpire: () => void): Deadline {
    const at = Date.now() + ms
    const deadline = this.#live.add({ at, onExpire })
    if (at < this.#timerAt) this.#schedule(at)
    return deadline
  }

  cancel(deadline: Deadline | undefined): void {
    this.#live.delete(deadline)
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
      const { at, onExpire } = deadline.value
      if (at <= now) {
        this.#live.delete(deadline)
        onExpire()
      } else if (at < next) next = at
    }
    // A deadline added by an `onExpire` above has set its own timer if it is the earliest.
    if (next < this.#timerAt) this.#schedule(next)
  }
}

/** The process's deadlines: every request and turn shares them. */
export const deadlines = new Deadlines()
