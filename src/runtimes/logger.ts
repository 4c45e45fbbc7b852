/**
 * The app's `Logger` on pino, for Node, Bun and Deno (the CLI uses it; `mount()` users may pass
 * it too). Lines go to stdout in batches (`line-batch.ts`): a line costs a serialisation and a
 * string append, and the lines of 20 ms go out in one write. `pretty` is for a terminal
 * (`pretty-log.ts`).
 */
import process from 'node:process'
import pino from 'pino'
import { errorFields, type LogFormat, type Logger, type LogLevel } from '../core/logger.ts'
import { prettyDestination } from './pretty-log.ts'
import { lineBatch } from './line-batch.ts'

export interface LoggerOptions {
  /** Default `info`. */
  level?: LogLevel
  /** Default: `pretty` when stdout is a terminal, else `json`. */
  format?: LogFormat
  /** Where lines go, one call per line (default: stdout). */
  write?: (line: string) => void
  /** Colours in the pretty format (default: stdout is a terminal and `NO_COLOR` is unset). */
  color?: boolean
}

export type PinoLogger = Logger & {
  /**
   * An info line written at any level but `silent`: the server's start-up and shutdown, which
   * an operator (and a script that started it on port 0) needs even when only warnings are on.
   */
  notice(message: string): void
  /** Writes out the lines still waiting for the end of this event-loop turn. */
  flush(): void
}

const stdoutIsTerminal = () => process.stdout.isTTY === true

let lastMs = 0
let lastTime = ''

/**
 * pino's ISO `time`, made once per millisecond: `toISOString()` was half of a request line's
 * cost (~0.5 of ~1.6 µs on Node 24), and under load many lines share a millisecond.
 */
const isoTime = () => {
  const now = Date.now()
  if (now !== lastMs) {
    lastMs = now
    lastTime = `,"time":"${new Date(now).toISOString()}"`
  }
  return lastTime
}

/** A `Logger` writing through pino, in `format`, at `level`. */
export const createLogger = ({
  level = 'info',
  format = stdoutIsTerminal() ? 'pretty' : 'json',
  write,
  color = stdoutIsTerminal() && !process.env.NO_COLOR,
}: LoggerOptions = {}): PinoLogger => {
  const stdout = write ? undefined : lineBatch()
  const out = write ?? stdout!.write
  const destination = format === 'pretty' ? prettyDestination(out, color) : { write: out }
  const log = pino(
    {
      level,
      // No pid or hostname: whatever collects the output knows where it came from.
      base: undefined,
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // An error's type, message, code and stack; never its other properties (a request's
      // options, say, could hold a key).
      serializers: { err: errorFields },
    },
    destination
  )
  const notices = level === 'silent' ? log : log.child({}, { level: 'info' })
  const logger: PinoLogger = {
    notice: (message) => notices.info(message),
    info: (message) => log.info(message),
    warn: (message) => log.warn(message),
    error: (message, err) => (err === undefined ? log.error(message) : log.error({ err }, message)),
    flush: () => stdout?.flush(),
  }
  if (log.isLevelEnabled('debug')) logger.debug = (message, fields) => log.debug(fields, message)
  if (log.isLevelEnabled('info')) {
    // pino's line, byte for byte, made with one `JSON.stringify`: a request's line is on every
    // answer's path, and pino's own serialisation of it costs 2.5 times as much.
    logger.request = (entry) =>
      destination.write(
        `{"level":"info"${isoTime()},${JSON.stringify(entry).slice(1, -1)},"msg":"request"}\n`
      )
  }
  return logger
}
