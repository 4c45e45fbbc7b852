export {
  createChatCompletionsApp,
  CHAT_PATH,
  RESPONSES_PATH,
  MODELS_PATH,
  HEALTH_PATH,
  METRICS_PATH,
} from './app.ts'
export type { ChatCompletionsApp, ChatCompletionsOptions } from './app.ts'
export type {
  AgentBackend,
  AgentEvent,
  AgentInfo,
  AgentRunInput,
  AgentUsage,
  ClientTool,
  ImageInput,
  NormalizedMessage,
  StopReason,
  StreamParams,
  ToolCall,
  ToolChoice,
} from './backend.ts'
export { createBackend, echoBackend, inProcessBackend } from './backends/index.ts'
export type { EchoBackendOptions, InProcessBackendOptions, InProcessRun } from './backends/index.ts'
export { ConfigError, parseConfig, resolveAuth, bindHost, substituteEnv } from './config.ts'
export type { Config, ConfigInput, ConfigProblem, Env, ResolvedAuth, AuthMode } from './config.ts'
export { ApiError } from './core/errors.ts'
export type { Logger, RunStats } from './core/run.ts'
export { consoleLogger } from './core/logger.ts'
export type { LogFormat, LogLevel } from './core/logger.ts'
export type { BackendErrorKind, Metrics } from './core/metrics.ts'
export type { Outcome, RequestLogEntry } from './core/request-log.ts'
export type { BackendEvents, ConnectionState } from './backend.ts'
export { memoryStore, type MemoryOptions } from './core/memory-store.ts'
export { generateKey, hashKey } from './core/api-keys.ts'
export type { ApiKeyConfig, KeyEndpoint } from './core/api-keys.ts'
export { StoreUnavailableError } from './core/store.ts'
export type { Awaitable, LockoutRule, RateResult, Release, Store } from './core/store.ts'
export type { ResponseStore, StoredResponse } from './responses/store.ts'
