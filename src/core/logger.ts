/**
 * The app's logging interface, and the default implementation: JSON lines through `console`,
 * which is what Cloudflare Workers index (and what a library user gets unless they pass a
 * logger). The Node, Bun and Deno CLI pass a pino-backed one instead (`src/runtimes/logger.ts`).
 */
import type { RequestLogEntry } from './request-log.ts'

export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string, err?: unknown): void
  /**
   * Debug detail; absent when debug is off, so the caller builds nothing for it. `fields` may
   * hold message content (only with `logging.content`).
   */
  debug?(message: string, fields: Record<string, unknown>): void
  /** The request log: one entry per answered request, at `info`; absent to log none. */
  request?(entry: RequestLogEntry): void
}

/** OpenClaw's levels (`logging.level`, `OPENCLAW_LOG_LEVEL`), least to most verbose. */
export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const LOG_FORMATS = ['pretty', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Whether a logger at `level` writes lines of level `line`. */
export const enabled = (level: LogLevel, line: Exclude<LogLevel, 'silent'>): boolean =>
  LOG_LEVELS.indexOf(line) <= LOG_LEVELS.indexOf(level)

/** An error as a log shows it: its kind, message, code and stack; no other properties. */
export const errorFields = (err: unknown): Record<string, unknown> | undefined => {
  if (err === undefined) return undefined
  if (!(err instanceof Error)) return { type: typeof err }
  const fields: Record<string, unknown> = { type: err.name, message: err.message }
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' || typeof code === 'number') fields.code = code
  if (err.stack) fields.stack = err.stack
  return fields
}

/** One JSON line per call through `console`, in pino's shape (`level`, `time`, `msg`). */
export const consoleLogger = (level: LogLevel = 'info'): Logger => {
  const line = (label: string, msg: string, fields?: object) =>
    JSON.stringify({ level: label, time: new Date().toISOString(), msg, ...fields })
  const logger: Logger = {
    info: (m) => enabled(level, 'info') && console.log(line('info', m)),
    warn: (m) => enabled(level, 'warn') && console.warn(line('warn', m)),
    error: (m, err) =>
      enabled(level, 'error') && console.error(line('error', m, { err: errorFields(err) })),
  }
  if (enabled(level, 'debug')) logger.debug = (m, fields) => console.log(line('debug', m, fields))
  if (enabled(level, 'info'))
    logger.request = (entry) => console.log(line('info', 'request', entry))
  return logger
}
