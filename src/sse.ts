/**
 * Agent events → the SSE byte stream of `chat.completion.chunk`s. Pull-based: one read of the
 * body pulls one step of the agent, so a slow reader slows the agent instead of filling memory,
 * and cancelling the body stops the agent.
 */
import type { AgentEvent, AgentUsage, StopReason, ToolCall } from './backend.ts'
import {
  NO_RESPONSE,
  errorFromEvent,
  finishReasonOf,
  unmetToolChoice,
  type CompletionContext,
} from './completion.ts'
import type { ApiError } from './errors.ts'
import { mapUsage } from './usage.ts'

export interface StreamContext extends CompletionContext {
  includeUsage: boolean
  /** Milliseconds of agent silence before a comment line; 0 = never. */
  heartbeatMs: number
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

const ARGUMENT_FRAGMENT = 256
// A comment with no blank line after it: it rides along with the next event, so no parser sees
// an empty event (old openai-go and openai-python choked on those).
const HEARTBEAT = ': keep-alive\n'
const DONE = 'data: [DONE]\n\n'
const encoder = new TextEncoder()

/** Splits text into pieces of at most `size` UTF-16 units without cutting a surrogate pair. */
const fragments = (text: string, size: number): string[] => {
  if (!text) return ['']
  const out: string[] = []
  for (let i = 0; i < text.length;) {
    let end = Math.min(i + size, text.length)
    const last = text.charCodeAt(end - 1)
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
    out.push(text.slice(i, end))
    i = end
  }
  return out
}

/** Builds the chunks of one response; the one place their JSON is made. */
const chunkWriter = (ctx: StreamContext) => {
  const head = `{"id":${JSON.stringify(ctx.id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"choices":`
  const tail = ctx.includeUsage ? ',"usage":null}' : '}'
  const choice = (delta: unknown, finish: string | null = null) =>
    `data: ${head}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish === null ? 'null' : JSON.stringify(finish)}}]${tail}\n\n`
  return {
    role: () => choice({ role: 'assistant', content: '' }),
    text: (content: string) => choice({ content }),
    toolCalls: (calls: ToolCall[]) =>
      calls
        .map((call, index) => {
          const [first, ...rest] = fragments(call.arguments, ARGUMENT_FRAGMENT)
          const open = choice({
            tool_calls: [
              {
                index,
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: '' },
              },
            ],
          })
          return [first, ...rest]
            .map((args) => choice({ tool_calls: [{ index, function: { arguments: args } }] }))
            .reduce((acc, c) => acc + c, open)
        })
        .join(''),
    finish: (reason: string) => choice({}, reason),
    usage: (usage: AgentUsage | undefined) =>
      `data: ${head}[],"usage":${JSON.stringify(mapUsage(usage))}}\n\n`,
    error: (err: ApiError) => `data: ${JSON.stringify(err.toJSON())}\n\n`,
  }
}

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

/**
 * The SSE body for a turn. `onCancel` runs when the reader goes away (client disconnect).
 */
export const sseStream = (
  events: AsyncIterable<AgentEvent>,
  ctx: StreamContext,
  onCancel: () => void
): ReadableStream<Uint8Array> => {
  const iterator = events[Symbol.asyncIterator]()
  const write = chunkWriter(ctx)
  // While tool_choice is constrained, prose waits until we know a tool call came.
  const holdText =
    ctx.toolChoice !== undefined && ctx.toolChoice !== 'auto' && ctx.toolChoice !== 'none'
  let out = write.role()
  let sentText = false
  let heldText = ''
  let usage: AgentUsage | undefined
  const toolCalls: ToolCall[] = []
  let pending: Promise<IteratorResult<AgentEvent>> | undefined
  let finished = false
  let cancelled = false

  const finish = (finalText: string | undefined, stopReason: StopReason | undefined) => {
    const unmet = unmetToolChoice(ctx.toolChoice, toolCalls)
    if (unmet) return fail(unmet)
    if (heldText) out += write.text(heldText)
    else if (!sentText && !toolCalls.length) out += write.text(finalText || NO_RESPONSE)
    else if (!sentText && finalText) out += write.text(finalText)
    if (toolCalls.length) out += write.toolCalls(toolCalls)
    out += write.finish(finishReasonOf(toolCalls, stopReason))
    if (ctx.includeUsage) out += write.usage(usage)
    out += DONE
    finished = true
  }

  const fail = (err: ApiError) => {
    out += write.error(err) + DONE
    finished = true
  }

  const handle = (event: AgentEvent) => {
    switch (event.type) {
      case 'text':
        if (!event.delta) return
        if (holdText) heldText += event.delta
        else {
          out += write.text(event.delta)
          sentText = true
        }
        return
      case 'tool_calls':
        toolCalls.push(...event.calls)
        return
      case 'usage':
        usage = event.usage
        return
      case 'done':
        return finish(event.text, event.stopReason)
      case 'error':
        return fail(errorFromEvent(event))
    }
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // Silence is measured from the last write: events that write nothing (held prose, usage)
        // do not put off the heartbeat.
        const heartbeatAt = Date.now() + ctx.heartbeatMs
        while (!finished && out.length < BATCH_CHARS) {
          pending ??= iterator.next()
          let result: IteratorResult<AgentEvent> | typeof SOON | typeof TIMEOUT =
            await Promise.race([pending, soon()])
          if (result === SOON) {
            // Nothing more right now: send what is ready, or wait (with the heartbeat) for more.
            if (out) break
            result =
              ctx.heartbeatMs > 0
                ? await withTimeout(pending, Math.max(0, heartbeatAt - Date.now()))
                : await pending
          }
          if (cancelled) return
          if (result === TIMEOUT) {
            out = HEARTBEAT
            break
          }
          pending = undefined
          if (result.done) finish(undefined, undefined)
          else handle(result.value)
        }
        if (out) {
          controller.enqueue(encoder.encode(out))
          out = ''
        }
        if (finished) {
          controller.close()
          // Lets the turn's `finally` run now: it frees the session lock.
          iterator.return?.(undefined)
        }
      },
      cancel() {
        cancelled = true
        onCancel()
        iterator.return?.(undefined)
      },
    },
    { highWaterMark: 0 }
  )
}
