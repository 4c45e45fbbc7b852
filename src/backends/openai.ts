/**
 * The OpenAI-upstream backend: each turn goes to an OpenAI-compatible model server (OpenAI,
 * Ollama, vLLM, llama.cpp, LiteLLM…) with the structured messages, and its stream comes back as
 * agent events. Web-standard only (fetch, streams), so it runs on every runtime.
 */
import type {
  AgentBackend,
  AgentEvent,
  AgentRunInput,
  AgentUsage,
  BackendRuntime,
  NormalizedMessage,
  StopReason,
  ToolCall,
} from '../backend.ts'
import type { OpenAIBackendConfig } from '../config.ts'
import {
  errorForStatus,
  midStreamError,
  redactor,
  timeoutError,
  unreachableError,
} from './openai-errors.ts'
import { buildRequestBody, withCurrentImages } from './openai-messages.ts'
import { randomCallId } from '../core/random-id.ts'
import { sseEvents } from './openai-sse.ts'
import { SessionMemory, composeHistory, isStableSessionKey } from './session-memory.ts'

type Sessions = OpenAIBackendConfig['sessions']

export type OpenAIBackendOptions = Omit<OpenAIBackendConfig, 'type' | 'headers' | 'timeoutMs'> &
  Partial<Pick<OpenAIBackendConfig, 'headers' | 'timeoutMs'>> & {
    sessions?: Partial<Sessions>
  } & BackendRuntime

const SESSION_DEFAULTS: Sessions = { maxMessages: 200, maxSessions: 1000, ttlMs: 86_400_000 }
const MAX_ERROR_BODY = 64 * 1024

/** The upstream's usage → ours. Our `mapChatUsage` adds `cacheRead` back onto the prompt count. */
export const usageFromOpenAI = (u: Record<string, any>): AgentUsage => {
  const num = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n : undefined)
  const prompt = num(u.prompt_tokens)
  const cached = num(u.prompt_tokens_details?.cached_tokens)
  const usage: AgentUsage = {}
  if (prompt !== undefined) usage.input = Math.max(prompt - (cached ?? 0), 0)
  if (cached !== undefined) usage.cacheRead = cached
  const output = num(u.completion_tokens)
  if (output !== undefined) usage.output = output
  const total = num(u.total_tokens)
  if (total !== undefined) usage.total = total
  return usage
}

const stopReasonOf = (finish: string | undefined, hasCalls: boolean): StopReason => {
  if (finish === 'length') return 'length'
  if (finish === 'tool_calls' || finish === 'function_call') return 'tool_calls'
  if (finish === undefined && hasCalls) return 'tool_calls'
  return 'stop'
}

/**
 * Tool-call deltas → whole calls. OpenAI sends a call's id and name first and its arguments in
 * pieces under one `index`; Ollama sends each call whole. A new id under a used index is a new
 * call (servers that always say index 0).
 */
class ToolCallAssembler {
  readonly #calls: ToolCall[] = []
  readonly #slot = new Map<number, number>()

  add(deltas: unknown[]) {
    for (const [position, raw] of deltas.entries()) {
      const d = (raw ?? {}) as Record<string, any>
      const index = typeof d.index === 'number' ? d.index : position
      const id = typeof d.id === 'string' && d.id ? d.id : undefined
      let slot = this.#slot.get(index)
      if (slot === undefined || (id && this.#calls[slot].id && this.#calls[slot].id !== id)) {
        slot = this.#calls.push({ id: '', name: '', arguments: '' }) - 1
        this.#slot.set(index, slot)
      }
      const call = this.#calls[slot]
      if (id && !call.id) call.id = id
      const name = d.function?.name
      if (typeof name === 'string' && name && !call.name) call.name = name
      const args = d.function?.arguments
      if (typeof args === 'string') call.arguments += args
      else if (args && typeof args === 'object') call.arguments += JSON.stringify(args)
    }
  }

  calls(): ToolCall[] {
    return this.#calls
      .filter((c) => c.name)
      .map((c) => ({ id: c.id || randomCallId(), name: c.name, arguments: c.arguments || '{}' }))
  }
}

/** What one upstream answer said, gathered while its text streams through. */
interface Answer {
  text: string
  tools: ToolCallAssembler
  finish?: string
  usage?: AgentUsage
}

/** One chunk (or a whole non-stream completion) into the answer; text deltas come back. */
const absorb = (answer: Answer, chunk: Record<string, any>): string | undefined => {
  if (chunk.usage && typeof chunk.usage === 'object') answer.usage = usageFromOpenAI(chunk.usage)
  let text = ''
  for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
    if (!choice || (typeof choice.index === 'number' && choice.index !== 0)) continue
    const delta = choice.delta ?? choice.message ?? {}
    if (typeof delta.content === 'string') text += delta.content
    if (Array.isArray(delta.tool_calls)) answer.tools.add(delta.tool_calls)
    if (typeof choice.finish_reason === 'string') answer.finish = choice.finish_reason
  }
  answer.text += text
  return text || undefined
}

/** Creates the backend. One instance keeps one session memory. */
export const openaiBackend = (options: OpenAIBackendOptions): AgentBackend => {
  const fetchImpl = options.fetch ?? globalThis.fetch
  const url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`
  // `host` carries no userinfo, so a `https://user:pass@…` base URL is not quoted back.
  const host = new URL(options.baseUrl).host
  const timeoutMs = options.timeoutMs ?? 600_000
  const customHeaders = options.headers ?? {}
  const redact = redactor([options.apiKey, ...Object.values(customHeaders)])
  const memory = new SessionMemory({ ...SESSION_DEFAULTS, ...options.sessions })
  const log = options.logger

  const headers = (): Record<string, string> => {
    const h: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'text/event-stream, application/json',
    }
    if (options.apiKey) h.authorization = `Bearer ${options.apiKey}`
    return { ...h, ...customHeaders }
  }

  async function* run(input: AgentRunInput, signal: AbortSignal): AsyncGenerator<AgentEvent> {
    if (signal.aborted) return
    const stable = isStableSessionKey(input.sessionKey)
    const sent = withCurrentImages(input)
    const messages = stable ? composeHistory(memory.get(input.sessionKey), sent) : sent
    const body = buildRequestBody(input, messages, input.modelOverride ?? options.model)

    // Our own controller: the caller's signal and the time-to-headers limit both abort it.
    const controller = new AbortController()
    const onAbort = () => controller.abort(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    let timedOut = false
    // Set once the upstream's answer was read to its end.
    let whole = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    try {
      let response: Response
      try {
        response = await fetchImpl(url, {
          method: 'POST',
          headers: headers(),
          body: JSON.stringify(body),
          signal: controller.signal,
        })
      } catch (err) {
        if (signal.aborted) return
        if (timedOut) {
          log?.warn(`openai backend: no answer from ${host} within ${timeoutMs} ms`)
          yield timeoutError()
          return
        }
        log?.warn(`openai backend: cannot reach ${host}: ${redact(String(err))}`)
        yield unreachableError(host)
        return
      } finally {
        clearTimeout(timer)
      }

      if (!response.ok) {
        const text = await readLimited(response).catch(() => '')
        if (signal.aborted) return
        log?.warn(`openai backend: ${host} answered ${response.status}: ${redact(text)}`)
        yield errorForStatus(response.status, text, redact)
        return
      }

      const answer: Answer = { text: '', tools: new ToolCallAssembler() }
      let complete = false
      const contentType = response.headers.get('content-type') ?? ''
      try {
        if (!response.body) {
          complete = true
        } else if (contentType.includes('application/json')) {
          // A server that ignores `stream: true` answers with one whole completion.
          const text = absorb(answer, JSON.parse(await response.text()))
          if (text) yield { type: 'text', delta: text }
          complete = true
        } else {
          for await (const data of sseEvents(response.body)) {
            if (data === '[DONE]') {
              complete = true
              break
            }
            let chunk: Record<string, any>
            try {
              chunk = JSON.parse(data)
            } catch {
              log?.warn(`openai backend: ignored a malformed chunk from ${host}`)
              continue
            }
            if (chunk?.error) {
              log?.warn(`openai backend: ${host} failed mid-stream: ${redact(data)}`)
              yield midStreamError(chunk.error, redact)
              return
            }
            const text = absorb(answer, chunk ?? {})
            if (text) yield { type: 'text', delta: text }
            if (signal.aborted) return
          }
          // No `[DONE]` but a finish reason: servers that just close the body are still whole.
          complete ||= answer.finish !== undefined
        }
      } catch (err) {
        if (signal.aborted) return
        log?.warn(`openai backend: the stream from ${host} broke: ${redact(String(err))}`)
        yield { type: 'error', status: 502, message: 'The upstream connection was lost.' }
        return
      }
      if (signal.aborted) return
      if (!complete) {
        yield { type: 'error', status: 502, message: 'The upstream stream ended unexpectedly.' }
        return
      }

      const calls = answer.tools.calls()
      if (calls.length) yield { type: 'tool_calls', calls }
      if (answer.usage) yield { type: 'usage', usage: answer.usage }
      if (stable) {
        // Only a whole turn is remembered, and all at once, so a failed or aborted turn leaves
        // the session as it was.
        const reply: NormalizedMessage = { role: 'assistant', text: answer.text }
        if (calls.length) reply.toolCalls = calls
        memory.set(input.sessionKey, [...messages, reply])
      }
      whole = true
      yield { type: 'done', stopReason: stopReasonOf(answer.finish, calls.length > 0) }
    } finally {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      // Ends the upstream request if the consumer stopped early without aborting (a whole
      // answer needs nothing ended, and an abort costs an exception's stack).
      if (!whole) controller.abort()
    }
  }

  return {
    name: 'openai',
    run,
    async close() {
      memory.clear()
    },
  }
}

/** At most `MAX_ERROR_BODY` characters of an error body: enough for a message, never unbounded. */
const readLimited = async (response: Response): Promise<string> => {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    for (;;) {
      const next = await reader.read()
      if (next.done) break
      text += decoder.decode(next.value, { stream: true })
      if (text.length > MAX_ERROR_BODY) break
    }
  } finally {
    reader.cancel().catch(() => {})
  }
  return text.slice(0, MAX_ERROR_BODY)
}
