/**
 * The in-process backend: a host program (a gateway embedding this app) supplies the turn
 * function itself. It may return events as an async iterable or just the final text.
 */
import type { AgentBackend, AgentEvent, AgentInfo, AgentRunInput } from '../backend.ts'

export type InProcessRun = (
  input: AgentRunInput,
  signal: AbortSignal
) => AsyncIterable<AgentEvent> | Promise<string | { text: string }>

export interface InProcessBackendOptions {
  run: InProcessRun
  listAgents?: () => Promise<AgentInfo[]>
  name?: string
}

/**
 * Wraps a host function as an `AgentBackend`.
 * @example
 * ```ts
 * const backend = inProcessBackend({ run: async (input) => `You said: ${input.message}` })
 * ```
 */
export const inProcessBackend = ({
  run,
  listAgents,
  name = 'in-process',
}: InProcessBackendOptions): AgentBackend => ({
  name,
  listAgents,
  async *run(input, signal) {
    const result = run(input, signal)
    if (
      result &&
      typeof (result as AsyncIterable<AgentEvent>)[Symbol.asyncIterator] === 'function'
    ) {
      yield* result as AsyncIterable<AgentEvent>
      return
    }
    const value = await (result as Promise<string | { text: string }>)
    yield { type: 'done', text: typeof value === 'string' ? value : value.text }
  },
})
