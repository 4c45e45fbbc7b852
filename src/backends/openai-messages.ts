/** Our normalised messages and run input → an OpenAI Chat Completions request body. */
import type { AgentRunInput, NormalizedMessage, ToolCall } from '../backend.ts'

export type OpenAIMessage = Record<string, unknown>

export const isSystem = (m: NormalizedMessage) => m.role === 'system' || m.role === 'developer'

/**
 * The client's messages with the current user turn's images replaced by the decoded, validated
 * ones as data URIs: an allow-listed URL was already fetched by us, and many local servers
 * (Ollama) cannot fetch URLs themselves.
 */
export const withCurrentImages = (input: AgentRunInput): NormalizedMessage[] => {
  const current = input.messages.findLastIndex((m) => m.role === 'user' || m.role === 'tool')
  if (current === -1 || input.messages[current].role !== 'user' || !input.images.length) {
    return input.messages
  }
  return input.messages.map((m, i) =>
    i === current
      ? { ...m, imageUrls: input.images.map((img) => `data:${img.mimeType};base64,${img.data}`) }
      : m
  )
}

const toolCallsOf = (calls: ToolCall[]) =>
  calls.map((c) => ({
    id: c.id,
    type: 'function',
    function: { name: c.name, arguments: c.arguments },
  }))

/** One message in OpenAI's wire shape. */
export const toOpenAIMessage = (m: NormalizedMessage): OpenAIMessage => {
  let out: OpenAIMessage
  switch (m.role) {
    case 'system':
    case 'developer':
      // Local servers' chat templates only know `system` (Ollama drops a `developer` message),
      // and OpenAI treats the two alike.
      out = { role: 'system', content: m.text }
      break
    case 'user':
      out = {
        role: 'user',
        content: m.imageUrls?.length
          ? [
              ...(m.text ? [{ type: 'text', text: m.text }] : []),
              ...m.imageUrls.map((url) => ({ type: 'image_url', image_url: { url } })),
            ]
          : m.text,
      }
      break
    case 'assistant':
      out = { role: 'assistant', content: m.text || (m.toolCalls?.length ? null : '') }
      if (m.toolCalls?.length) out.tool_calls = toolCallsOf(m.toolCalls)
      break
    case 'tool':
      out = { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.text }
      break
  }
  if (m.name && m.role !== 'tool') out.name = m.name
  return out
}

/** The request body, always streaming so deltas flow as the upstream produces them. */
export const buildRequestBody = (
  input: AgentRunInput,
  messages: NormalizedMessage[],
  model: string
): Record<string, unknown> => {
  const body: Record<string, unknown> = {
    model,
    messages: messages.map(toOpenAIMessage),
    stream: true,
    stream_options: { include_usage: true },
  }
  if (input.clientTools.length) {
    body.tools = input.clientTools
    // OpenAI rejects `tool_choice` without `tools`.
    if (input.toolChoice) body.tool_choice = input.toolChoice
  }
  const p = input.streamParams
  // `max_tokens`, not `max_completion_tokens`: Ollama and older vLLM/llama.cpp builds ignore or
  // reject the newer name, and OpenAI still accepts the older one for non-reasoning models.
  if (p.maxTokens !== undefined) body.max_tokens = p.maxTokens
  if (p.temperature !== undefined) body.temperature = p.temperature
  if (p.topP !== undefined) body.top_p = p.topP
  if (p.frequencyPenalty !== undefined) body.frequency_penalty = p.frequencyPenalty
  if (p.presencePenalty !== undefined) body.presence_penalty = p.presencePenalty
  if (p.seed !== undefined) body.seed = p.seed
  if (p.stop !== undefined) body.stop = p.stop
  if (p.responseFormat !== undefined) body.response_format = p.responseFormat
  if (input.user !== undefined) body.user = input.user
  return body
}
