/**
 * The memory `Store`: one process's state, as the app kept it before stores existed (and on
 * Workers, one isolate's). It answers synchronously wherever it can, so a request that finds its
 * session free and its key under its limits pays no promise for them.
 */
import { memoryResponseStore, type MemoryStoreOptions } from '../responses/store.ts'
import { SessionLocks } from './session-lock.ts'
import type { LockoutRule, RateResult, Release, Store } from './store.ts'

interface Attempts {
  failures: number[]
  lockedUntil: number
  /** The window of the rule it was last counted with (to prune without the rule). */
  windowMs: number
}

/** More clients than this are pruned, so that a flood of addresses cannot grow the map. */
const MAX_CLIENTS = 10_000

export interface MemoryOptions {
  responses: Omit<MemoryStoreOptions, 'now'>
  now?: () => number
}

export const memoryStore = ({
  responses,
  now = Date.now,
}: MemoryOptions): Store & {
  /** Sessions with a turn running or waiting (this process's). */
  readonly sessionLocks: number
} => {
  const attempts = new Map<string, Attempts>()
  const locks = new SessionLocks()
  const windows = new Map<string, { start: number; count: number }>()
  const slots = new Map<string, number>()

  const prune = (t: number) => {
    for (const [key, entry] of attempts) {
      const live = entry.lockedUntil > t || entry.failures.some((f) => t - f < entry.windowMs)
      if (!live) attempts.delete(key)
    }
    // Still full of live entries: drop the oldest unlocked ones rather than grow without bound.
    for (const [key, entry] of attempts) {
      if (attempts.size < MAX_CLIENTS) break
      if (entry.lockedUntil <= t) attempts.delete(key)
    }
  }

  return {
    kind: 'memory',
    get sessionLocks() {
      return locks.size
    },

    lockedFor(client) {
      const entry = attempts.get(client)
      if (!entry) return 0
      const left = entry.lockedUntil - now()
      return left > 0 ? Math.ceil(left / 1000) : 0
    },

    failed(client, rule: LockoutRule) {
      const t = now()
      let entry = attempts.get(client)
      if (!entry) {
        if (attempts.size >= MAX_CLIENTS) prune(t)
        entry = { failures: [], lockedUntil: 0, windowMs: rule.windowMs }
        attempts.set(client, entry)
      }
      entry.windowMs = rule.windowMs
      entry.failures = entry.failures.filter((f) => t - f < rule.windowMs)
      entry.failures.push(t)
      if (entry.failures.length < rule.maxAttempts) return false
      entry.lockedUntil = t + rule.lockoutMs
      entry.failures = []
      return true
    },

    succeeded(client) {
      attempts.delete(client)
    },

    lockSession(key, signal) {
      return locks.acquire(key, signal)
    },

    // A fixed window per key: the count starts again `windowMs` after the window's first request.
    hit(key, limit, windowMs): RateResult {
      const t = now()
      let window = windows.get(key)
      // Keys are API key ids: the map is no larger than the config's list of keys.
      if (!window || t - window.start >= windowMs) {
        window = { start: t, count: 0 }
        windows.set(key, window)
      }
      const resetMs = window.start + windowMs - t
      if (window.count >= limit) return { allowed: false, limit, remaining: 0, resetMs }
      window.count++
      return { allowed: true, limit, remaining: limit - window.count, resetMs }
    },

    slot(key, max): Release | undefined {
      const taken = slots.get(key) ?? 0
      if (taken >= max) return undefined
      slots.set(key, taken + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (slots.get(key) ?? 1) - 1
        if (left > 0) slots.set(key, left)
        else slots.delete(key)
      }
    },

    responses: memoryResponseStore({ ...responses, now }),
  }
}
