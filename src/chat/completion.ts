/** Agent events → one non-stream `chat.completion` body. */
import type { AgentEvent, AgentUsage, StopReason, ToolCall, ToolChoice } from '../backend.ts'
import { NO_RESPONSE } from '../core/prompt.ts'
import { eachEvent } from '../core/run.ts'
import { errorFromEvent, unmetToolChoice } from '../core/tools.ts'
import { mapChatUsage } from '../core/usage.ts'

/** What every answer to one request shares. */
export interface CompletionContext {
  id: string
  created: number
  model: string
  toolChoice?: ToolChoice
}

export const finishReasonOf = (toolCalls: ToolCall[], stopReason?: StopReason) =>
  toolCalls.length ? 'tool_calls' : stopReason === 'length' ? 'length' : 'stop'

/**
 * Drains the turn and builds the body.
 * @throws {ApiError} when the turn fails
 */
export const buildCompletion = async (
  events: AsyncIterable<AgentEvent>,
  ctx: CompletionContext
) => {
  let streamed = ''
  let finalText: string | undefined
  let stopReason: StopReason | undefined
  let usage: AgentUsage | undefined
  const toolCalls: ToolCall[] = []
  let failed: Extract<AgentEvent, { type: 'error' }> | undefined
  await eachEvent(events, (event) => {
    if (event.type === 'text') streamed += event.delta
    else if (event.type === 'tool_calls') toolCalls.push(...event.calls)
    else if (event.type === 'usage') usage = event.usage
    else if (event.type === 'done') {
      finalText = event.text
      stopReason = event.stopReason
    } else failed = event
  })
  if (failed) throw errorFromEvent(failed)
  const unmet = unmetToolChoice(ctx.toolChoice, toolCalls)
  if (unmet) throw unmet
  const text = finalText ?? streamed
  const message: Record<string, unknown> = {
    role: 'assistant',
    // A pure tool call has no content, as OpenAI answers it.
    content: text || (toolCalls.length ? null : NO_RESPONSE),
    refusal: null,
  }
  if (toolCalls.length) {
    message.tool_calls = toolCalls.map((c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }))
  }
  return {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [
      { index: 0, message, logprobs: null, finish_reason: finishReasonOf(toolCalls, stopReason) },
    ],
    usage: mapChatUsage(usage),
  }
}
