/**
 * The CLI's logger and metrics (Node, Bun, Deno): the log's level and format from the flags, the
 * environment and the config; prom-client metrics when `metrics.enabled`.
 */
import type { Config, Env } from '../config.ts'
import { LOG_FORMATS, LOG_LEVELS } from '../core/logger.ts'
import { isLogFormat, isLogLevel, logSettings } from '../core/log-settings.ts'
import type { Metrics } from '../core/metrics.ts'
import { createLogger, type PinoLogger } from './logger.ts'
import { createPromMetrics } from './metrics.ts'

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

/** The logger and metrics for `config`; the flags were checked with `logFlagsError`. */
export const observability = (
  config: Config,
  env: Env,
  flags: LogFlags = {}
): { logger: PinoLogger; metrics: Metrics | undefined } => {
  const format = flags['log-format']
  const level = flags['log-level']
  const { settings, warnings } = logSettings(config, env, {
    format: format !== undefined && isLogFormat(format) ? format : undefined,
    level: level !== undefined && isLogLevel(level) ? level : undefined,
  })
  const logger = createLogger({ level: settings.level, format: settings.format })
  for (const warning of warnings) logger.warn(warning)
  return { logger, metrics: config.metrics.enabled ? createPromMetrics() : undefined }
}
