/**
 * The Durable Object that serialises one session's turns across every instance of the worker
 * (one object per session key). A worker asks for the lock with a ticket of its own and the
 * request is answered once the lock is its: waiters are served in the order they came.
 *
 * The lock is a lease: its holder renews it while the turn runs, and an alarm at its expiry
 * hands it on, so a turn whose worker died frees the session within one lease. The holder is
 * kept in storage (an object may be evicted between two renewals); the queue is not, since every
 * waiter is a request still open to this very instance.
 */
import { answer, operationOf, unknownOperation, type DurableState } from './durable-protocol.ts'

interface Holder {
  ticket: string
  expires: number
}

interface Waiter {
  ticket: string
  leaseMs: number
  answer(held: boolean): void
}

/** How many given-up tickets are remembered (see `#cancelled`). */
const MAX_CANCELLED = 256

export class SessionLockObject {
  readonly #state: DurableState
  #holder: Holder | undefined
  #queue: Waiter[] = []
  /**
   * Tickets given up before their request to wait arrived (a worker sends both at once when its
   * client leaves): such a late request is refused rather than queued for no one.
   */
  #cancelled = new Set<string>()

  constructor(state: DurableState) {
    this.#state = state
    void state.blockConcurrencyWhile(async () => {
      this.#holder = await state.storage.get<Holder>('holder')
    })
  }

  async fetch(request: Request): Promise<Response> {
    const op = operationOf(request)
    const { ticket, leaseMs } = (await request.json()) as { ticket: string; leaseMs: number }
    switch (op) {
      case 'acquire':
        return answer({ held: await this.#acquire(ticket, leaseMs) })
      case 'renew':
        return answer({ held: await this.#renew(ticket, leaseMs) })
      case 'release':
        await this.#release(ticket)
        return answer({})
      default:
        return unknownOperation(op)
    }
  }

  /** The lease ran out without a renewal: the holder is taken to be gone. */
  async alarm(): Promise<void> {
    if (!this.#holder) return
    if (this.#holder.expires <= Date.now()) await this.#handOn()
    else await this.#state.storage.setAlarm(this.#holder.expires)
  }

  async #acquire(ticket: string, leaseMs: number): Promise<boolean> {
    if (this.#cancelled.delete(ticket)) return false
    // An alarm can run late: a lease already over is ended here, and its waiters go first.
    if (this.#holder && this.#holder.expires <= Date.now()) await this.#handOn()
    if (!this.#holder) {
      await this.#hold(ticket, leaseMs)
      return true
    }
    return new Promise<boolean>((resolve) => {
      this.#queue.push({ ticket, leaseMs, answer: resolve })
    })
  }

  async #renew(ticket: string, leaseMs: number): Promise<boolean> {
    if (this.#holder?.ticket !== ticket) return false
    await this.#hold(ticket, leaseMs)
    return true
  }

  /** Ends a hold, or gives up a place in the queue, or one that is still on its way. */
  async #release(ticket: string): Promise<void> {
    if (this.#holder?.ticket === ticket) return this.#handOn()
    const at = this.#queue.findIndex((w) => w.ticket === ticket)
    if (at !== -1) {
      this.#queue.splice(at, 1)[0].answer(false)
      return
    }
    if (this.#cancelled.size >= MAX_CANCELLED) {
      this.#cancelled.delete(this.#cancelled.values().next().value!)
    }
    this.#cancelled.add(ticket)
  }

  async #hold(ticket: string, leaseMs: number): Promise<void> {
    this.#holder = { ticket, expires: Date.now() + leaseMs }
    await this.#state.storage.put('holder', this.#holder)
    await this.#state.storage.setAlarm(this.#holder.expires)
  }

  /** Gives the lock to the first waiter, or frees it. */
  async #handOn(): Promise<void> {
    const next = this.#queue.shift()
    if (next) {
      await this.#hold(next.ticket, next.leaseMs)
      next.answer(true)
      return
    }
    this.#holder = undefined
    await this.#state.storage.delete('holder')
    await this.#state.storage.deleteAlarm()
  }
}
