/** Backend token counts → OpenAI `usage`. */
import type { AgentUsage } from './backend.ts'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details?: { cached_tokens: number }
}

/** A whole, non-negative count: the spec's token counts are integers, whatever a backend reports. */
const count = (n: number | undefined) =>
  typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.round(n) : 0

/** Prompt = input + cache reads, completion = output, total = the larger of their sum and the report. */
export const mapUsage = (u: AgentUsage = {}): Usage => {
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
