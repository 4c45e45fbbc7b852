/**
 * What the core tells a metrics sink. The core only reports events; counting them and the
 * exposition format belong to the runtime (`src/runtimes/metrics.ts` keeps them in prom-client
 * on Node, Bun and Deno). Every call is one per request or rarer, never one per event.
 */
import type { BackendEvents } from '../backend.ts'
import type { RequestLogEntry } from './request-log.ts'
import type { RunStats } from './run.ts'

/** How a backend failed a turn: it threw, yielded something malformed, or yielded an error. */
export type BackendErrorKind = 'exception' | 'malformed_event' | 'error_event'

export interface Metrics {
  /** A request's answer ended (every request, once; for a stream, when the stream ended). */
  request(entry: RequestLogEntry): void
  /** An SSE answer began; its `request` comes when it ends. */
  streamOpened(): void
  /** A backend failed a turn; `status` is the answer's (an error event's own, else 500). */
  backendError(kind: BackendErrorKind, status: number): void
  /** A client address was locked out after too many failed auth attempts. */
  authLockout(): void
  /** Handed to the configured backend: what it reports about its connections. */
  readonly backend?: BackendEvents
  /**
   * The exposition for `GET /metrics`, given the runner's counts at the time of the scrape;
   * absent where the runtime has none (then `/metrics` is a 404).
   */
  expose?(runs: RunStats): Promise<{ contentType: string; body: string }>
}
