/**
 * The Durable Object that keeps counters: one object per client address for the failed-auth
 * lockout, one per API key id for its rate window and concurrency slots. Per client and per key
 * rather than one for all, so that no single object sees every request of the deployment, and
 * each lives near whoever uses it.
 *
 * Its state is one small value in storage, written on every change, with an alarm at its next
 * deadline that clears what ran out: an object whose client or key goes quiet ends up with
 * nothing stored. Concurrency slots are leases like session locks, renewed while held, so the
 * slots of a worker that died come back.
 */
import type { LockoutRule, RateResult } from '../core/store.ts'
import { answer, operationOf, unknownOperation, type DurableState } from './durable-protocol.ts'

interface Counters {
  lockout?: {
    failures: number[]
    lockedUntil: number
    /** The window of the rule it was last counted with (to expire it without the rule). */
    windowMs: number
  }
  window?: { start: number; count: number; windowMs: number }
  /** Each slot taken: its ticket and when its lease runs out. */
  slots?: Record<string, number>
}

export class CountersObject {
  readonly #state: DurableState
  #counters: Counters = {}

  constructor(state: DurableState) {
    this.#state = state
    void state.blockConcurrencyWhile(async () => {
      this.#counters = (await state.storage.get<Counters>('counters')) ?? {}
    })
  }

  async fetch(request: Request): Promise<Response> {
    const op = operationOf(request)
    const args = (await request.json()) as Record<string, any>
    const now = Date.now()
    this.#expire(now)
    switch (op) {
      case 'locked-for':
        return answer(this.#lockedFor(now))
      case 'failed':
        return answer({ locked: await this.#failed(now, args.rule) })
      case 'succeeded':
        if (this.#counters.lockout) {
          delete this.#counters.lockout
          await this.#save()
        }
        return answer({})
      case 'hit':
        return answer(await this.#hit(now, args.limit, args.windowMs))
      case 'slot':
        return answer({ taken: await this.#slot(now, args.ticket, args.max, args.leaseMs) })
      case 'renew':
        return answer({ held: await this.#renew(now, args.ticket, args.leaseMs) })
      case 'release':
        if (this.#counters.slots?.[args.ticket] !== undefined) {
          delete this.#counters.slots[args.ticket]
          await this.#save()
        }
        return answer({})
      default:
        return unknownOperation(op)
    }
  }

  async alarm(): Promise<void> {
    this.#expire(Date.now())
    await this.#save()
  }

  /** The seconds left of a lockout, and whether there is anything for a success to clear. */
  #lockedFor(now: number) {
    const lockout = this.#counters.lockout
    const left = (lockout?.lockedUntil ?? 0) - now
    return { seconds: left > 0 ? Math.ceil(left / 1000) : 0, clean: !lockout }
  }

  async #failed(now: number, rule: LockoutRule): Promise<boolean> {
    const lockout = (this.#counters.lockout ??= { failures: [], lockedUntil: 0, windowMs: 0 })
    lockout.windowMs = rule.windowMs
    lockout.failures = lockout.failures.filter((f) => now - f < rule.windowMs)
    lockout.failures.push(now)
    const locked = lockout.failures.length >= rule.maxAttempts
    if (locked) {
      lockout.lockedUntil = now + rule.lockoutMs
      lockout.failures = []
    }
    await this.#save()
    return locked
  }

  // A fixed window, as the memory store counts: it starts again `windowMs` after its first hit.
  async #hit(now: number, limit: number, windowMs: number): Promise<RateResult> {
    let window = this.#counters.window
    if (!window || window.windowMs !== windowMs) {
      window = this.#counters.window = { start: now, count: 0, windowMs }
    }
    const resetMs = window.start + windowMs - now
    if (window.count >= limit) return { allowed: false, limit, remaining: 0, resetMs }
    window.count++
    await this.#save()
    return { allowed: true, limit, remaining: limit - window.count, resetMs }
  }

  async #slot(now: number, ticket: string, max: number, leaseMs: number): Promise<boolean> {
    const slots = (this.#counters.slots ??= {})
    if (Object.keys(slots).length >= max) return false
    slots[ticket] = now + leaseMs
    await this.#save()
    return true
  }

  async #renew(now: number, ticket: string, leaseMs: number): Promise<boolean> {
    const slots = this.#counters.slots
    if (slots?.[ticket] === undefined) return false
    slots[ticket] = now + leaseMs
    await this.#save()
    return true
  }

  /** Drops what ran out by `now`. */
  #expire(now: number) {
    const { lockout, window, slots } = this.#counters
    if (lockout && lockout.lockedUntil <= now) {
      lockout.failures = lockout.failures.filter((f) => now - f < lockout.windowMs)
      if (lockout.failures.length === 0) delete this.#counters.lockout
    }
    if (window && window.start + window.windowMs <= now) delete this.#counters.window
    if (slots) {
      for (const [ticket, expires] of Object.entries(slots)) {
        if (expires <= now) delete slots[ticket]
      }
      if (Object.keys(slots).length === 0) delete this.#counters.slots
    }
  }

  /** The next time something runs out. */
  #deadline(): number | undefined {
    const { lockout, window, slots } = this.#counters
    const times = Object.values(slots ?? {})
    if (lockout) {
      times.push(Math.max(lockout.lockedUntil, (lockout.failures.at(-1) ?? 0) + lockout.windowMs))
    }
    if (window) times.push(window.start + window.windowMs)
    return times.length ? Math.min(...times) : undefined
  }

  async #save(): Promise<void> {
    const deadline = this.#deadline()
    if (deadline === undefined) {
      await this.#state.storage.deleteAll()
      await this.#state.storage.deleteAlarm()
      return
    }
    await this.#state.storage.put('counters', this.#counters)
    await this.#state.storage.setAlarm(deadline)
  }
}
