/**
 * The OpenAI-upstream backend: each turn goes to an OpenAI-compatible model server.
 * (Being written.)
 */
import type { AgentBackend, BackendRuntime } from '../backend.ts'
import type { OpenAIBackendConfig } from '../config.ts'

export type OpenAIBackendOptions = Omit<OpenAIBackendConfig, 'type'> & BackendRuntime

export const openaiBackend = (_options: OpenAIBackendOptions): AgentBackend => {
  throw new Error('the openai backend is not implemented yet')
}
