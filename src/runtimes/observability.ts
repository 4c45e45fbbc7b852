/**
 * The CLI's logger and metrics (Node, Bun, Deno): the log's level and format from the flags, the
 * environment and the config; prom-client metrics when `metrics.enabled`.
 */
import type { Config, Env } from '../config.ts'
import { LOG_FORMATS, LOG_LEVELS } from '../core/logger.ts'
import { isLogFormat, isLogLevel, logSettings } from '../core/log-settings.ts'
import type { Metrics } from '../core/metrics.ts'
import { createLogger, type PinoLogger } from './logger.ts'

export interface LogFlags {
  'log-format'?: string
  'log-level'?: string
}

/** What is wrong with `--log-format` / `--log-level`, if anything. */
export const logFlagsError = (flags: LogFlags): string | undefined => {
  const format = flags['log-format']
  if (format !== undefined && !isLogFormat(format))
    return `--log-format: expected ${LOG_FORMATS.join(' or ')}, not ${format}`
  const level = flags['log-level']
  if (level !== undefined && !isLogLevel(level))
    return `--log-level: expected one of ${LOG_LEVELS.join(', ')}, not ${level}`
  return undefined
}

/**
 * The logger and metrics for `config`; the flags were checked with `logFlagsError`. prom-client
 * is loaded only when metrics are on (~40 ms of start-up otherwise spent for nothing).
 */
export const observability = async (
  config: Config,
  env: Env,
  flags: LogFlags = {}
): Promise<{ logger: PinoLogger; metrics: Metrics | undefined }> => {
  const format = flags['log-format']
  const level = flags['log-level']
  const { settings, warnings } = logSettings(config, env, {
    format: format !== undefined && isLogFormat(format) ? format : undefined,
    level: level !== undefined && isLogLevel(level) ? level : undefined,
  })
  const logger = createLogger({ level: settings.level, format: settings.format })
  for (const warning of warnings) logger.warn(warning)
  if (!config.metrics.enabled) return { logger, metrics: undefined }
  const { createPromMetrics } = await import('./metrics.ts')
  return { logger, metrics: createPromMetrics() }
}
