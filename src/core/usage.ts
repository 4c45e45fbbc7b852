/** Backend token counts → each API's `usage`. */
import type { AgentUsage } from '../backend.ts'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens: number }
}

/** A whole, non-negative count: the spec's token counts are integers, whatever a backend reports. */
const count = (n: number | undefined) =>
  typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.round(n) : 0

/**
 * Chat's: prompt = input + cache reads, completion = output, total = the larger of their sum and
 * the report.
 */
export const mapChatUsage = (u: AgentUsage = {}): Usage => {
  const cached = count(u.cacheRead)
  const prompt = count(u.input) + cached
  const completion = count(u.output)
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Math.max(prompt + completion, count(u.total)),
  }
  if (cached > 0) usage.prompt_tokens_details = { cached_tokens: cached }
  return usage
}

/**
 * The Responses API's, as the gateway counts it: input = input + cache reads + cache writes,
 * with both cache counts in the details; total = the larger of the sum and the report.
 */
export const mapResponsesUsage = (u: AgentUsage = {}) => {
  const cached = count(u.cacheRead)
  const written = count(u.cacheWrite)
  const input = count(u.input) + cached + written
  const output = count(u.output)
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached, cache_write_tokens: written },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: Math.max(input + output, count(u.total)),
  }
}
