/**
 * The echo backend: no network, deterministic. It answers with the very prompt a gateway agent
 * would receive, which makes it the reference for tests, demos and benchmarks.
 */
import type { AgentBackend, AgentEvent, AgentRunInput } from '../backend.ts'
import { randomCallId } from '../core/random-id.ts'

export interface EchoBackendOptions {
  /** Characters per streamed chunk (default 8). */
  chunkChars?: number
  /** Pause between chunks, in milliseconds (default 0). */
  delayMs?: number
}

const tokens = (text: string) => Math.ceil(text.length / 4)

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })

/** The current entry's own text: the last user-or-tool message, not the flattened prompt. */
const currentText = (input: AgentRunInput) =>
  input.messages.findLast((m) => m.role === 'user' || m.role === 'tool')?.text ?? ''

/**
 * Creates the echo backend. Hooks, read from the current message's text:
 * `/tool <name> <json-args>` calls that client tool when it was offered;
 * `/error <text>` fails the run with `<text>`; `/stall <ms>` waits before the first chunk.
 */
export const echoBackend = ({
  chunkChars = 8,
  delayMs = 0,
}: EchoBackendOptions = {}): AgentBackend => ({
  name: 'echo',
  async *run(input: AgentRunInput, signal: AbortSignal): AsyncGenerator<AgentEvent> {
    const text = currentText(input)
    const promptTokens = tokens((input.extraSystemPrompt ?? '') + input.message)

    const error = /^\/error(?:\s+([\s\S]*))?$/.exec(text)
    if (error) {
      yield { type: 'error', message: error[1]?.trim() || 'echo error' }
      return
    }

    const tool = /^\/tool\s+(\S+)(?:\s+([\s\S]*))?$/.exec(text)
    if (tool && input.clientTools.some((t) => t.function.name === tool[1])) {
      const args = tool[2]?.trim() || '{}'
      yield {
        type: 'tool_calls',
        calls: [
          {
            id: randomCallId(),
            name: tool[1],
            arguments: args,
          },
        ],
      }
      yield { type: 'usage', usage: { input: promptTokens, output: tokens(tool[1] + args) } }
      yield { type: 'done', stopReason: 'tool_calls' }
      return
    }

    const stall = /^\/stall\s+(\d+)\b/.exec(text)
    if (stall) await sleep(Number(stall[1]), signal)

    const reply =
      input.extraSystemPrompt !== undefined
        ? `[System]\n${input.extraSystemPrompt}\n\n${input.message}`
        : input.message
    for (let i = 0; i < reply.length; i += chunkChars) {
      if (i > 0 && delayMs > 0) await sleep(delayMs, signal)
      if (signal.aborted) return
      yield { type: 'text', delta: reply.slice(i, i + chunkChars) }
    }
    yield { type: 'usage', usage: { input: promptTokens, output: tokens(reply) } }
    yield { type: 'done', stopReason: 'stop' }
  },
})
