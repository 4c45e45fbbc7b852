/**
 * One request's clock and facts, from its arrival to the end of its answer: they make the
 * `Server-Timing` header, the request-log line and the request metrics. An exchange is found by
 * its `Request`, which every part that answers holds (`c.req.raw`), so nothing is threaded
 * through the handlers. Cheap when no one listens: a clock read at each end and the header.
 */
import { Context } from 'hono'
import type { AgentEvent } from '../backend.ts'
import type { Logger } from './logger.ts'
import type { Metrics } from './metrics.ts'
import {
  logSessionKey,
  outcomeOf,
  pathOf,
  type Outcome,
  type RequestLogEntry,
} from './request-log.ts'
import type { StreamMeter } from './sse.ts'
import { utf8Length } from './utf8.ts'
import type { Release } from './store.ts'

/** Where an app's exchanges report; one per app. */
export interface ExchangeSinks {
  request: Logger['request']
  metrics: Metrics | undefined
  /** The client's address (the app's `clientAddress`, trusted proxies applied). */
  clientAddress: (c: Context) => string | undefined
}

/**
 * A live exchange is kept on its `Request`, under this module's own symbol, and taken off as
 * soon as the answer is made (a stream's body holds its exchange itself). A `WeakMap` from
 * requests cost ~1 µs more per request (`bench/pipeline.ts`, bench/notes.md): the garbage
 * collector treats each of its entries as an ephemeron.
 */
const EXCHANGE = Symbol('exchange')

type Holder = Request & { [EXCHANGE]?: Exchange }

/** Begins the exchange of `request` (with the runtime's `env`, for the client's address). */
export const beginExchange = (request: Request, env: unknown, sinks: ExchangeSinks): Exchange => {
  const exchange = new Exchange(request, env, sinks)
  ;(request as Holder)[EXCHANGE] = exchange
  return exchange
}

/** The exchange of a request the app is answering. */
export const exchangeOf = (request: Request | null): Exchange | undefined =>
  request === null ? undefined : (request as Holder)[EXCHANGE]

/** Milliseconds to two decimals: enough to see our overhead, short in a header. */
const ms = (t: number) => Math.round(t * 100) / 100

export class Exchange implements StreamMeter {
  readonly #start = performance.now()
  readonly #request: Request
  readonly #env: unknown
  readonly #sinks: ExchangeSinks
  #runStart = 0
  #runId: string | undefined
  #status = 0
  #requestId = ''
  #agent: string | undefined
  #session: string | undefined
  #client: string | undefined
  /** The client's address was given by auth (`clientIs`): no need to work it out again. */
  #clientKnown = false
  #stream = false
  #bytes = 0
  #firstByte = 0
  #ended = false
  #key: string | undefined
  #headers: Record<string, string> | undefined
  #release: Release | undefined

  constructor(request: Request, env: unknown, sinks: ExchangeSinks) {
    this.#request = request
    this.#env = env
    this.#sinks = sinks
  }

  /** The client's address, as auth worked it out (the log line shows the same one). */
  clientIs(address: string | undefined): void {
    this.#client = address
    this.#clientKnown = true
  }

  /** An API key's id made the request (for the log and metrics; never the key). */
  keyed(id: string): void {
    this.#key = id
  }

  /**
   * What its key's limits gave it: headers for its answer (`x-ratelimit-*`), whatever it may be,
   * and a concurrency slot, given back when the answer ends (a stream: when it ends or its
   * client leaves), or at `release()`.
   */
  admitted(headers: Record<string, string> | undefined, release: Release | undefined): void {
    this.#headers = headers
    this.#release = release
  }

  /** Headers its answer carries besides its own (see `admitted`). */
  get headers(): Record<string, string> | undefined {
    return this.#headers
  }

  /** Whether it holds something to give back when its answer ends. */
  get holding(): boolean {
    return this.#release !== undefined
  }

  /** Gives back what it holds now (its turn was aborted); safe to call again. */
  readonly release = (): void => {
    const release = this.#release
    this.#release = undefined
    release?.()
  }

  /** A run started for it: the time in the agent counts from now. */
  ran(runId: string): void {
    this.#runStart = performance.now()
    this.#runId = runId
  }

  /**
   * The answer is made: returns its `Server-Timing`. A non-stream answer ends here; a stream
   * (a `ReadableStream` body) ends when its body does (`wrote` / `ended`). Before the stream's
   * headers go out, nothing of the agent's time is known: only `total` (to the headers) is sent.
   */
  answered(
    status: number,
    requestId: string,
    headers: Record<string, string> | undefined,
    body: BodyInit | null
  ): string {
    ;(this.#request as Holder)[EXCHANGE] = undefined
    const now = performance.now()
    const stream = body instanceof ReadableStream
    // Also when nothing is logged: a slot must come back whether or not anyone listens.
    if (!stream) this.release()
    const timing =
      this.#runStart && !stream
        ? `total;dur=${ms(now - this.#start)}, agent;dur=${ms(now - this.#runStart)}`
        : `total;dur=${ms(now - this.#start)}`
    if (this.#ended || (!this.#sinks.request && !this.#sinks.metrics)) return timing
    this.#status = status
    this.#requestId = requestId
    if (headers) {
      this.#agent = headers['x-openclaw-agent-id']
      this.#session = headers['x-openclaw-session-key']
    }
    // Now, while the connection is surely there (a socket may forget its peer once closed).
    if (this.#sinks.request && !this.#clientKnown) {
      this.#client = this.#sinks.clientAddress(new Context(this.#request, { env: this.#env }))
    }
    if (stream) {
      this.#stream = true
      this.#sinks.metrics?.streamOpened()
    } else {
      if (typeof body === 'string') this.#bytes = utf8Length(body)
      else if (body instanceof Uint8Array || body instanceof ArrayBuffer)
        this.#bytes = body.byteLength
      this.#end(outcomeOf(status), now)
    }
    return timing
  }

  /** A stream's body wrote `bytes`. */
  wrote(bytes: number): void {
    if (!this.#firstByte) this.#firstByte = performance.now()
    this.#bytes += bytes
  }

  /** A stream's body ended: after its last event, or cancelled by its reader. */
  ended(last: AgentEvent | undefined, cancelled: boolean): void {
    this.release()
    if (cancelled) return this.#end('client_gone', performance.now())
    this.#end(last?.type === 'error' ? streamFailure(last.status) : 'completed', performance.now())
  }

  #end(outcome: Outcome, now: number): void {
    if (this.#ended) return
    this.#ended = true
    const { request, metrics } = this.#sinks
    if (!request && !metrics) return
    const entry: RequestLogEntry = {
      method: this.#request.method,
      path: pathOf(this.#request.url),
      status: this.#status,
      outcome,
      durationMs: ms(now - this.#start),
      ttfbMs: this.#stream && this.#firstByte ? ms(this.#firstByte - this.#start) : undefined,
      bytesOut: this.#bytes,
      stream: this.#stream,
      agent: this.#agent,
      session: this.#session === undefined ? undefined : logSessionKey(this.#session),
      requestId: this.#requestId,
      runId: this.#runId,
      client: this.#client,
      key: this.#key,
    }
    metrics?.request(entry)
    request?.(entry)
  }
}

/** A stream's answer is sent (200); how it failed is in its last event's status. */
const streamFailure = (status = 502): Outcome => {
  const outcome = outcomeOf(status)
  return outcome === 'rejected' || outcome === 'completed' ? 'failed' : outcome
}
