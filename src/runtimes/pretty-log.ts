/**
 * The log for a terminal: one short line per record, the request log's fields in a fixed order.
 * It reads pino's JSON lines, so both formats carry the same fields; parsing again costs a few
 * microseconds a line, which a terminal can spare (production logs should be `json`).
 */

const LEVEL_COLORS: Record<string, number> = {
  fatal: 35,
  error: 31,
  warn: 33,
  info: 32,
  debug: 90,
  trace: 90,
}

const paint = (on: boolean, code: number, text: string) =>
  on ? `\x1b[${code}m${text}\x1b[0m` : text

const two = (n: number) => String(n).padStart(2, '0')

/** `HH:MM:SS.mmm`, local time: a terminal's reader knows the date. */
const clock = (iso: unknown) => {
  const d = typeof iso === 'string' ? new Date(iso) : new Date()
  const millis = String(d.getMilliseconds()).padStart(3, '0')
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${millis}`
}

const bytes = (n: number) =>
  n < 1024
    ? `${n} B`
    : n < 1024 * 1024
      ? `${(n / 1024).toFixed(1)} kB`
      : `${(n / 1048576).toFixed(1)} MB`

/** A field's value for `key=value`: strings bare unless they hold spaces or quotes. */
const shown = (value: unknown) =>
  typeof value === 'string' && !/[\s"=]/.test(value) ? value : JSON.stringify(value)

/** The request log's fields after the summary, as `key=value`. */
const REQUEST_TAIL = ['agent', 'key', 'session', 'client', 'requestId', 'runId'] as const
const REQUEST_KEYS = new Set<string>([
  'level',
  'time',
  'msg',
  'method',
  'path',
  'status',
  'outcome',
  'durationMs',
  'ttfbMs',
  'bytesOut',
  'stream',
  ...REQUEST_TAIL,
])

const requestLine = (r: Record<string, any>, color: boolean) => {
  const status = paint(color, r.status >= 500 ? 31 : r.status >= 400 ? 33 : 32, String(r.status))
  let line = `${r.method} ${r.path} ${status} ${r.outcome} ${r.durationMs} ms`
  if (r.ttfbMs !== undefined) line += ` (first byte ${r.ttfbMs} ms)`
  line += ` ${bytes(r.bytesOut)}`
  for (const key of REQUEST_TAIL) if (r[key] !== undefined) line += ` ${key}=${shown(r[key])}`
  return line
}

/** One record (a parsed pino line) as a terminal line, ending in a newline. */
export const prettyLine = (record: Record<string, any>, color: boolean): string => {
  const label = String(record.level ?? 'info')
  const level = paint(color, LEVEL_COLORS[label] ?? 0, label.toUpperCase().padEnd(5))
  const isRequest = record.msg === 'request' && typeof record.status === 'number'
  let line = `${paint(color, 2, clock(record.time))} ${level} `
  line += isRequest ? requestLine(record, color) : String(record.msg ?? '')
  for (const [key, value] of Object.entries(record)) {
    if (isRequest ? REQUEST_KEYS.has(key) : key === 'level' || key === 'time' || key === 'msg')
      continue
    if (key === 'err' && value && typeof value === 'object') continue
    line += ` ${paint(color, 2, `${key}=`)}${shown(value)}`
  }
  const err = record.err
  if (err && typeof err === 'object') {
    const text = String(err.stack ?? `${err.type}: ${err.message}`)
    line += `\n    ${text.replaceAll('\n', '\n    ')}`
  }
  return `${line}\n`
}

/** A pino destination that writes `prettyLine`s to `write`. */
export const prettyDestination = (write: (text: string) => void, color: boolean) => ({
  write(json: string) {
    let record: Record<string, any>
    try {
      record = JSON.parse(json)
    } catch {
      return write(json)
    }
    write(prettyLine(record, color))
  },
})
