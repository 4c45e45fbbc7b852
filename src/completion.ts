/** Agent events → one non-stream `chat.completion` body. */
import type { AgentEvent, AgentUsage, StopReason, ToolCall, ToolChoice } from './backend.ts'
import { ApiError } from './errors.ts'
import { mapUsage } from './usage.ts'

export const NO_RESPONSE = 'No response from OpenClaw.'

/** What every answer to one request shares. */
export interface CompletionContext {
  id: string
  created: number
  model: string
  toolChoice?: ToolChoice
}

export const finishReasonOf = (toolCalls: ToolCall[], stopReason?: StopReason) =>
  toolCalls.length ? 'tool_calls' : stopReason === 'length' ? 'length' : 'stop'

/** A named or required `tool_choice` the agent did not honour: said after the run, as 502. */
export const unmetToolChoice = (choice: ToolChoice | undefined, toolCalls: ToolCall[]) => {
  if (!choice || choice === 'auto' || choice === 'none') return undefined
  if (choice === 'required') {
    if (toolCalls.length) return undefined
    return new ApiError(502, 'tool_choice=required was not satisfied by the agent response')
  }
  // A pinned function is met only by a call to that very function.
  const { name } = choice.function
  if (toolCalls.some((c) => c.name === name)) return undefined
  return new ApiError(
    502,
    `tool_choice required a ${name} tool call, but the agent did not produce one`
  )
}

export const errorFromEvent = (e: Extract<AgentEvent, { type: 'error' }>) =>
  new ApiError(e.status ?? 502, e.message, { code: e.code ?? null })

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
  for await (const event of events) {
    if (event.type === 'text') streamed += event.delta
    else if (event.type === 'tool_calls') toolCalls.push(...event.calls)
    else if (event.type === 'usage') usage = event.usage
    else if (event.type === 'done') {
      finalText = event.text
      stopReason = event.stopReason
    } else throw errorFromEvent(event)
  }
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
    usage: mapUsage(usage),
  }
}
