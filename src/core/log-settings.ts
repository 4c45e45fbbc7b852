/**
 * The log's level and format, from (first wins) the CLI flags, the environment and the config.
 * The names are OpenClaw's where it has them: `OPENCLAW_LOG_LEVEL` (which OpenClaw also lets
 * win over the config), `logging.consoleLevel` / `logging.level`, `logging.consoleStyle`.
 */
import type { Config, Env } from '../config.ts'
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.ts'

export interface LogSettings {
  level: LogLevel
  /** Unset: the runtime's default (the CLI: `pretty` on a terminal, else `json`). */
  format?: LogFormat
  /** Log each turn's prompt at debug level (`logging.content`). */
  content: boolean
}

export const isLogLevel = (value: string): value is LogLevel =>
  (LOG_LEVELS as readonly string[]).includes(value)

export const isLogFormat = (value: string): value is LogFormat =>
  (LOG_FORMATS as readonly string[]).includes(value)

/**
 * The settings, and a warning for each environment value that was ignored (a wrong value there
 * is ignored with a warning, as OpenClaw does, rather than stopping the server). Flags are
 * checked by the CLI before they come here.
 */
export const logSettings = (
  config: Config,
  env: Env,
  flags: { level?: LogLevel; format?: LogFormat } = {}
): { settings: LogSettings; warnings: string[] } => {
  const warnings: string[] = []
  const fromEnv = <T extends string>(name: string, valid: (v: string) => v is T, what: string) => {
    const raw = env[name]?.trim().toLowerCase()
    if (!raw) return undefined
    if (valid(raw)) return raw
    warnings.push(`${name}=${JSON.stringify(env[name]!.slice(0, 40))} ignored: expected ${what}`)
    return undefined
  }
  const { logging } = config
  const settings: LogSettings = {
    level:
      flags.level ??
      fromEnv('OPENCLAW_LOG_LEVEL', isLogLevel, LOG_LEVELS.join(', ')) ??
      logging.consoleLevel ??
      logging.level ??
      'info',
    content: logging.content,
  }
  const format =
    flags.format ??
    fromEnv('OPENCLAW_LOG_FORMAT', isLogFormat, LOG_FORMATS.join(' or ')) ??
    logging.consoleStyle
  if (format) settings.format = format
  return { settings, warnings }
}
