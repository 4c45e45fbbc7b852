/**
 * Agent events → `chat.completion.chunk` SSE frames; the one place their JSON is made. Only
 * unnamed `data:` events: the role chunk at once, text deltas as they come, tool calls, the
 * finish chunk, the usage chunk when asked for, then `[DONE]`.
 */
import type { AgentEvent, AgentUsage, StopReason, ToolCall } from '../backend.ts'
import type { ApiError } from '../core/errors.ts'
import type { Framer } from '../core/sse.ts'
import { argumentPieces, errorFromEvent, holdsText, unmetToolChoice } from '../core/tools.ts'
import { mapChatUsage } from '../core/usage.ts'
import { NO_RESPONSE } from '../core/prompt.ts'
import { finishReasonOf, type CompletionContext } from './completion.ts'

export interface ChunkContext extends CompletionContext {
  includeUsage: boolean
}

const DONE = 'data: [DONE]\n\n'

/** The text of each kind of chunk, for one answer. */
const chunkWriter = (ctx: ChunkContext) => {
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
          // At least one piece, even empty: the gateway's clients wait for one.
          const pieces = argumentPieces(call.arguments)
          return (pieces.length ? pieces : [''])
            .map((args) => choice({ tool_calls: [{ index, function: { arguments: args } }] }))
            .reduce((acc, c) => acc + c, open)
        })
        .join(''),
    finish: (reason: string) => choice({}, reason),
    usage: (usage: AgentUsage | undefined) =>
      `data: ${head}[],"usage":${JSON.stringify(mapChatUsage(usage))}}\n\n`,
    error: (err: ApiError) => `data: ${JSON.stringify(err.toJSON())}\n\n`,
  }
}

/** The chat framer for one answer. */
export const chatFramer = (ctx: ChunkContext): Framer => {
  const write = chunkWriter(ctx)
  // While tool_choice is constrained, prose waits until we know a tool call came.
  const hold = holdsText(ctx.toolChoice)
  let sentText = false
  let heldText = ''
  let usage: AgentUsage | undefined
  const toolCalls: ToolCall[] = []
  let finished = false

  const fail = (err: ApiError) => {
    finished = true
    return write.error(err) + DONE
  }

  const finish = (finalText: string | undefined, stopReason: StopReason | undefined) => {
    const unmet = unmetToolChoice(ctx.toolChoice, toolCalls)
    if (unmet) return fail(unmet)
    let out = ''
    if (heldText) out += write.text(heldText)
    else if (!sentText && !toolCalls.length) out += write.text(finalText || NO_RESPONSE)
    else if (!sentText && finalText) out += write.text(finalText)
    if (toolCalls.length) out += write.toolCalls(toolCalls)
    out += write.finish(finishReasonOf(toolCalls, stopReason))
    if (ctx.includeUsage) out += write.usage(usage)
    finished = true
    return out + DONE
  }

  return {
    get finished() {
      return finished
    },
    open: () => write.role(),
    end: () => finish(undefined, undefined),
    event(event) {
      switch (event.type) {
        case 'text':
          if (!event.delta) return ''
          if (hold) {
            heldText += event.delta
            return ''
          }
          sentText = true
          return write.text(event.delta)
        case 'tool_calls':
          toolCalls.push(...event.calls)
          return ''
        case 'usage':
          usage = event.usage
          return ''
        case 'done':
          return finish(event.text, event.stopReason)
        case 'error':
          return fail(errorFromEvent(event))
      }
    },
  }
}
