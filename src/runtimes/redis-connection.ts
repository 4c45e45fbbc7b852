/**
 * The Redis store's connections: one for commands, one for the lock-release channel (a
 * subscribed connection takes no other commands). Every operation is bounded in time and fails
 * with `StoreUnavailableError`, so a request never waits on a Redis that is gone; the client
 * reconnects by itself (with backoff) and the next operation after that succeeds.
 */
import { createClient } from '@redis/client'
import { deadlines } from '../core/deadlines.ts'
import type { Logger } from '../core/logger.ts'
import { StoreUnavailableError } from '../core/store.ts'
import type { Script } from './redis-scripts.ts'

export interface RedisConnectionOptions {
  url: string
  /** How long one operation may take before it fails with `StoreUnavailableError`. */
  timeoutMs: number
  logger?: Pick<Logger, 'info' | 'warn'>
}

type Client = ReturnType<typeof makeClient>

// Commands sent but not yet answered, at most: a Redis that hangs (stopped, or a network that
// drops packets) cannot grow our memory without bound; past it, the 503 comes at once.
const MAX_PENDING = 10_000

const makeClient = (url: string, timeoutMs: number) =>
  createClient({
    url,
    // RESP2: every Redis (and Valkey, KeyDB) speaks it; we need nothing of RESP3.
    RESP: 2,
    // Offline, a command fails at once rather than waiting for a reconnection that may not come.
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_PENDING,
    socket: {
      connectTimeout: timeoutMs,
      // Quick retries first, then once a second at most: a Redis that comes back is used again
      // within about a second, without restarting the process.
      reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000) + Math.random() * 50,
    },
  })

/** Any failure of the client (offline, timed out, a reply error) as the store reports it. */
const unavailable = (err: unknown) =>
  err instanceof StoreUnavailableError
    ? err
    : new StoreUnavailableError(`Redis: ${(err as Error)?.message ?? String(err)}`, { cause: err })

export class RedisConnection {
  readonly #client: Client
  readonly #subscriber: Client
  readonly #timeoutMs: number
  readonly #logger: RedisConnectionOptions['logger']
  /**
   * Settles once the first connection attempt has: an operation made while the process is still
   * connecting waits for it (a request right after start is not refused), later ones do not.
   */
  readonly #started: Promise<void>
  readonly #awaitingReady = new Set<() => void>()
  #connecting = true
  #down = false
  #closed = false

  constructor({ url, timeoutMs, logger }: RedisConnectionOptions) {
    this.#timeoutMs = timeoutMs
    this.#logger = logger
    this.#client = makeClient(url, timeoutMs)
    this.#subscriber = this.#client.duplicate()
    let started!: () => void
    this.#started = new Promise((resolve) => (started = resolve))
    this.#client.on('ready', () => {
      this.#connecting = false
      started()
      if (this.#down) this.#logger?.info('Redis is reachable again')
      this.#down = false
    })
    // Without a listener, an error event would end the process; each reconnection attempt
    // errs, so only the loss of a working connection is logged.
    this.#client.on('error', (err: Error) => {
      this.#connecting = false
      started()
      if (this.#down || this.#closed) return
      this.#down = true
      this.#logger?.warn(
        `Redis is unreachable (${err.message}): requests that need the shared store get 503 ` +
          'until it returns'
      )
    })
    this.#subscriber.on('error', () => {})
    this.#client.connect().catch(() => {})
    this.#subscriber.connect().catch(() => {})
  }

  /**
   * Runs `op` against Redis within the timeout.
   * @throws StoreUnavailableError when Redis cannot be reached or does not answer in time
   */
  run<T>(op: (client: Client) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('The Redis store is closed'))
    return new Promise<T>((resolve, reject) => {
      const deadline = deadlines.add(this.#timeoutMs, () =>
        reject(new StoreUnavailableError(`Redis did not answer within ${this.#timeoutMs} ms`))
      )
      const started = this.#connecting
        ? this.#started.then(() => op(this.#client))
        : op(this.#client)
      started.then(
        (value) => {
          deadlines.cancel(deadline)
          resolve(value)
        },
        (err) => {
          deadlines.cancel(deadline)
          reject(unavailable(err))
        }
      )
    })
  }

  /** Runs a script by its SHA1, sending its source only when Redis does not have it yet. */
  eval(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const options = { keys, arguments: args.map(String) }
    return this.run(async (client) => {
      try {
        return await client.evalSha(script.sha, options)
      } catch (err) {
        if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err
        return await client.eval(script.source, options)
      }
    })
  }

  /**
   * Hears every message on `channel`. The subscription is made once connected and renewed by
   * the client after each reconnection; a message sent while it was away is lost (callers must
   * not depend on it alone).
   */
  subscribe(channel: string, listener: (message: string) => void): void {
    const subscribe = () => {
      this.#awaitingReady.delete(subscribe)
      if (this.#closed) return
      this.#subscriber.subscribe(channel, listener).catch(() => {
        // Lost the connection between connecting and subscribing: try again once it is back.
        this.#whenSubscriberReady(subscribe)
      })
    }
    if (this.#subscriber.isReady) subscribe()
    else this.#whenSubscriberReady(subscribe)
  }

  #whenSubscriberReady(fn: () => void) {
    this.#awaitingReady.add(fn)
    this.#subscriber.once('ready', fn)
  }

  /** Closes both connections: waits up to the timeout for answers in flight, then cuts them. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const fn of this.#awaitingReady) this.#subscriber.off('ready', fn)
    this.#awaitingReady.clear()
    await Promise.all(
      [this.#client, this.#subscriber].map(async (client) => {
        if (!client.isOpen) return
        let timer: ReturnType<typeof setTimeout> | undefined
        const cut = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#timeoutMs)
        })
        // Reconnecting, it has nothing to wait for: closing would only wait for the next attempt.
        if (!client.isReady) client.destroy()
        else await Promise.race([client.close().catch(() => {}), cut])
        clearTimeout(timer)
        if (client.isOpen) client.destroy()
      })
    )
  }
}
