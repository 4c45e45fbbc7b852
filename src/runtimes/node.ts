/**
 * The package's Node entry (`gateway-chat-completions/node`): serve the app on its own port or
 * mount it into a host's server (`node-server.ts`), and what a Node host may want beside it.
 * Only re-exports; the CLI imports what it uses from the modules themselves, so that starting it
 * does not load what it may not need (prom-client: ~40 ms).
 */
export * from './node-server.ts'
export { loadConfig, type LoadConfigOptions } from './load-config.ts'
export { LINGER_BYTES, LINGER_MS, type LingerBounds } from './linger-bounds.ts'
export { createLogger, type LoggerOptions, type PinoLogger } from './logger.ts'
export { createPromMetrics, type PromMetricsOptions } from './metrics.ts'
