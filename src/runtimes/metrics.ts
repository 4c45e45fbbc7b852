/**
 * The app's `Metrics` in prom-client, for Node, Bun and Deno (Workers keep no process-wide
 * state to scrape, so they have none). Each app gets its own registry; `GET /metrics` renders
 * it. Label values come only from the app's own vocabulary (route templates, known methods,
 * statuses, configured agents, configured API key ids), so no client can grow the number of
 * series.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Metrics } from '../core/metrics.ts'
import { methodLabel, routeOf } from '../core/request-log.ts'

export interface PromMetricsOptions {
  /** Also the process's own metrics (CPU, memory, event-loop lag, GC); default true. */
  defaultMetrics?: boolean
}

/** Seconds: fast JSON answers up to streams as long as the run timeout (10 minutes). */
const DURATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
]
const FIRST_BYTE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

const CONNECTION_STATES = ['connecting', 'open', 'closed'] as const

export const createPromMetrics = ({ defaultMetrics = true }: PromMetricsOptions = {}): Metrics & {
  registry: Registry
} => {
  const registry = new Registry()
  const registers = [registry]
  if (defaultMetrics) collectDefaultMetrics({ register: registry })

  const requests = new Counter({
    name: 'openclaw_http_requests_total',
    help:
      'Requests answered, by route, method, status, agent (empty before routing) and API key id ' +
      '(empty for other callers).',
    labelNames: ['route', 'method', 'status', 'agent', 'key'] as const,
    registers,
  })
  const duration = new Histogram({
    name: 'openclaw_http_request_duration_seconds',
    help: 'From arrival to the end of the answer (a stream: its last byte or the client leaving).',
    labelNames: ['route', 'stream'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  })
  const firstByte = new Histogram({
    name: 'openclaw_http_stream_first_byte_seconds',
    help: 'Streams: from arrival to the first body bytes.',
    labelNames: ['route'] as const,
    buckets: FIRST_BYTE_BUCKETS,
    registers,
  })
  const openStreams = new Gauge({
    name: 'openclaw_http_open_streams',
    help: 'SSE answers being sent now.',
    registers,
  })
  const runsActive = new Gauge({
    name: 'openclaw_agent_runs_active',
    help: 'Agent runs started and not finished (those waiting for their session included).',
    registers,
  })
  const sessionLocks = new Gauge({
    name: 'openclaw_agent_session_locks',
    help: 'Sessions with a run going or queued.',
    registers,
  })
  const runsAborted = new Counter({
    name: 'openclaw_agent_runs_aborted_total',
    help: 'Agent runs cut short: the client left (client_gone) or the run timeout (timed_out).',
    labelNames: ['reason'] as const,
    registers,
  })
  const backendErrors = new Counter({
    name: 'openclaw_backend_errors_total',
    help: 'Turns the backend failed: it threw, yielded a malformed event, or an error event.',
    labelNames: ['kind', 'status'] as const,
    registers,
  })
  const lockouts = new Counter({
    name: 'openclaw_auth_lockouts_total',
    help: 'Client addresses locked out after too many failed auth attempts.',
    registers,
  })
  const connectionState = new Gauge({
    name: 'openclaw_gateway_backend_connection_state',
    help: "The gateway backend's connections (owner, member): 1 for the state each is in.",
    labelNames: ['connection', 'state'] as const,
    registers,
  })
  const reconnects = new Counter({
    name: 'openclaw_gateway_backend_reconnects_total',
    help: "The gateway backend's connections opened again after an earlier one was lost.",
    labelNames: ['connection'] as const,
    registers,
  })

  // Known label values start at 0, so a rate over them exists before the first event.
  for (const reason of ['client_gone', 'timed_out']) runsAborted.inc({ reason }, 0)

  return {
    registry,
    request(entry) {
      const route = routeOf(entry.path)
      requests.inc({
        route,
        method: methodLabel(entry.method),
        status: entry.status,
        agent: entry.agent ?? '',
        key: entry.key ?? '',
      })
      duration.observe({ route, stream: String(entry.stream) }, entry.durationMs / 1000)
      if (entry.stream) {
        openStreams.dec()
        if (entry.ttfbMs !== undefined) firstByte.observe({ route }, entry.ttfbMs / 1000)
      }
      if (entry.runId !== undefined) {
        if (entry.outcome === 'client_gone' || entry.outcome === 'timed_out')
          runsAborted.inc({ reason: entry.outcome })
      }
    },
    streamOpened: () => openStreams.inc(),
    backendError: (kind, status) => backendErrors.inc({ kind, status }),
    authLockout: () => lockouts.inc(),
    backend: {
      connectionState(connection, state) {
        for (const s of CONNECTION_STATES)
          connectionState.set({ connection, state: s }, +(s === state))
      },
      reconnected: (connection) => reconnects.inc({ connection }),
    },
    async expose(runs) {
      runsActive.set(runs.activeRuns)
      sessionLocks.set(runs.sessionLocks)
      return { contentType: registry.contentType, body: await registry.metrics() }
    },
  }
}
