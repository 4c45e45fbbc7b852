/**
 * Agent events → an SSE byte stream, for any wire format: the format's framer turns each event
 * into text, this drives the turn. Pull-based: one read of the body pulls one step of the agent,
 * so a slow reader slows the agent instead of filling memory, and cancelling the body stops the
 * agent. Events that are ready together go out in one write; while the agent is silent a comment
 * line keeps proxies from cutting the connection.
 */
import type { AgentEvent } from '../backend.ts'

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

/** A wire format's frames for one answer. */
export interface Framer {
  /** What goes out at once, before the agent says anything. */
  open(): string
  /** The frames for one event; `end()` is called after the last one. */
  event(event: AgentEvent): string
  /** True once the answer is complete (after a `done` or an `error`). */
  readonly finished: boolean
  /** The frames when the events ran out without `done` (cannot happen with the runner). */
  end(): string
  /**
   * What must be done before the last frames go out, once the framer is finished (a stored
   * response: so that a client that continues from it at once, on any instance, finds it).
   */
  settling?(): Promise<void> | undefined
}

// A comment with no blank line after it: it rides along with the next event, so no parser sees
// an empty event (old openai-go and openai-python choked on those).
const HEARTBEAT = ': keep-alive\n'
const encoder = new TextEncoder()

const TIMEOUT = Symbol('timeout')
const SOON = Symbol('soon')

/**
 * Settles after a few microtask turns: long enough for an event an agent already has to come
 * through the generators, far shorter than any I/O. Events that arrive together go out in one
 * write, and a fast agent costs no timer per event.
 */
const soon = (): Promise<typeof SOON> => {
  let p: Promise<unknown> = Promise.resolve()
  for (let i = 0; i < 12; i++) p = p.then()
  return p.then(() => SOON)
}

/** At most this much text per write, so one read never takes an unbounded batch. */
const BATCH_CHARS = 64 * 1024

const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> => {
  let timer: ReturnType<typeof setTimeout>
  const timeout = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMEOUT)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Told of a stream's writes and its end (for the request log and metrics). */
export interface StreamMeter {
  /** One write of `bytes` (events that were ready together go out in one). */
  wrote(bytes: number): void
  /** The stream ended: after its last event, or `cancelled` by its reader. */
  ended(last: AgentEvent | undefined, cancelled: boolean): void
}

export interface SseOptions {
  /** Milliseconds of agent silence before a comment line; 0 = never. */
  heartbeatMs: number
  /** Runs when the reader goes away (the client disconnected). */
  onCancel: () => void
  meter?: StreamMeter
}

/** The SSE body for a turn. */
export const sseStream = (
  events: AsyncIterable<AgentEvent>,
  framer: Framer,
  { heartbeatMs, onCancel, meter }: SseOptions
): ReadableStream<Uint8Array> => {
  const iterator = events[Symbol.asyncIterator]()
  let out = framer.open()
  let pending: Promise<IteratorResult<AgentEvent>> | undefined
  let cancelled = false
  /** The latest event: once the framer is finished, the last (`done` or `error`). */
  let last: AgentEvent | undefined

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // Silence is measured from the last write: events that write nothing (held prose, usage)
        // do not put off the heartbeat.
        const heartbeatAt = Date.now() + heartbeatMs
        while (!framer.finished && out.length < BATCH_CHARS) {
          pending ??= iterator.next()
          let result: IteratorResult<AgentEvent> | typeof SOON | typeof TIMEOUT =
            await Promise.race([pending, soon()])
          if (result === SOON) {
            // Nothing more right now: send what is ready, or wait (with the heartbeat) for more.
            if (out) break
            const left = heartbeatAt - Date.now()
            // Due already (events kept coming that write nothing, held prose say): send it now
            // rather than race a zero timer against the next event, which the event may win
            // every time.
            if (heartbeatMs > 0 && left <= 0) {
              out = HEARTBEAT
              break
            }
            result = heartbeatMs > 0 ? await withTimeout(pending, left) : await pending
          }
          if (cancelled) return
          if (result === TIMEOUT) {
            out = HEARTBEAT
            break
          }
          pending = undefined
          out += result.done ? framer.end() : framer.event((last = result.value))
        }
        if (framer.finished) {
          const settling = framer.settling?.()
          if (settling) await settling
          if (cancelled) return
        }
        if (out) {
          const bytes = encoder.encode(out)
          controller.enqueue(bytes)
          meter?.wrote(bytes.byteLength)
          out = ''
        }
        if (framer.finished) {
          controller.close()
          meter?.ended(last, false)
          // Lets the turn's `finally` run now: it frees the session lock.
          iterator.return?.(undefined)
        }
      },
      cancel() {
        cancelled = true
        meter?.ended(undefined, true)
        onCancel()
        iterator.return?.(undefined)
      },
    },
    { highWaterMark: 0 }
  )
}
