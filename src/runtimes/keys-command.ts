/**
 * `gateway-chat-completions keys create`: makes an API key, prints it once, and prints the
 * `gateway.http.apiKeys` entry to paste (which holds only the key's hash). Nothing is written
 * anywhere: the operator decides where the key and the entry go.
 */
import {
  generateKey,
  hashKey,
  KEY_ENDPOINTS,
  KEY_ID_PATTERN,
  KEY_ID_RULE,
  type ApiKeyConfig,
  type KeyEndpoint,
} from '../core/api-keys.ts'
import { AGENT_ID_PATTERN } from '../config.ts'
import { closest } from '../core/did-you-mean.ts'
import { parseArgs } from './argv.ts'

export const KEYS_USAGE = `Usage: gateway-chat-completions keys create --id ID --agents LIST [--rpm N]
         [--concurrency N] [--endpoints LIST] [--expires DATE-TIME] [--json]

Makes an API key for one client. The key is printed once; the config keeps only its hash.

Options:
  --id ID             the key's name in config, logs and metrics, e.g. app1
  --agents LIST       agents it may use, comma-separated (e.g. main,beta), or '*' for all
  --rpm N             requests per minute (default: no limit)
  --concurrency N     requests in progress at once (default: no limit)
  --endpoints LIST    some of chat, responses, models, comma-separated (default: all)
  --expires DATE-TIME when it stops working, with its time zone, e.g. 2027-01-01T00:00:00Z
  --json              print {"key", "entry"} as JSON, for scripts
  -h, --help          show this help`

// `--agents '*'` reaches us as `*`, a value like any other.
const KEYS_ARGS = {
  values: ['id', 'agents', 'rpm', 'concurrency', 'endpoints', 'expires'],
  flags: { json: 'json', help: 'help', h: 'help' },
} as const

/** ISO 8601 with seconds and a zone, as the config's `expiresAt` takes it. */
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/i

export interface KeysIo {
  out(text: string): void
  /** A mistake in the call: printed with the usage, and the command fails. */
  fail(message: string): never
}

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)

const count = (io: KeysIo, name: string, value: string | undefined) => {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    io.fail(`--${name}: must be a whole number of at least 1 (got ${JSON.stringify(value)})`)
  }
  return Number(value)
}

/** Runs `keys …` with the arguments after `keys`. */
export const runKeys = (argv: string[], io: KeysIo): void => {
  const { values, flags, positionals } = parseArgs(argv, KEYS_ARGS, (message) => io.fail(message))
  if (flags.help) return io.out(KEYS_USAGE)
  const [command, extra] = positionals
  if (command === undefined) return io.fail("expected the command 'keys create'")
  if (command !== 'create') {
    const guess = closest(command, ['create'])
    return io.fail(`unknown command 'keys ${command}'${guess ? `; did you mean create?` : ''}`)
  }
  if (extra !== undefined) return io.fail(`unexpected argument '${extra}'`)

  const { id } = values
  if (id === undefined) return io.fail('--id is required: the name of the key, e.g. --id app1')
  if (!KEY_ID_PATTERN.test(id)) return io.fail(`--id: ${KEY_ID_RULE} (got ${JSON.stringify(id)})`)
  if (values.agents === undefined) {
    return io.fail("--agents is required: the agents it may use, e.g. --agents main, or '*'")
  }
  const agents = list(values.agents).map((a) => a.toLowerCase())
  if (!agents.length) return io.fail("--agents: name at least one agent, or '*' for all")
  for (const agent of agents) {
    if (agent !== '*' && !AGENT_ID_PATTERN.test(agent)) {
      return io.fail(`--agents: '${agent}' is not an agent id`)
    }
  }
  let endpoints: KeyEndpoint[] | undefined
  if (values.endpoints !== undefined) {
    endpoints = []
    for (const name of list(values.endpoints)) {
      if (!(KEY_ENDPOINTS as readonly string[]).includes(name)) {
        const guess = closest(name, KEY_ENDPOINTS)
        return io.fail(
          `--endpoints: unknown endpoint '${name}'; ` +
            (guess ? `did you mean ${guess}?` : `the endpoints are ${KEY_ENDPOINTS.join(', ')}`)
        )
      }
      if (!endpoints.includes(name as KeyEndpoint)) endpoints.push(name as KeyEndpoint)
    }
    if (!endpoints.length) return io.fail(`--endpoints: name some of ${KEY_ENDPOINTS.join(', ')}`)
  }
  const rpm = count(io, 'rpm', values.rpm)
  const concurrency = count(io, 'concurrency', values.concurrency)
  const expires = values.expires
  if (expires !== undefined && (!DATE_TIME.test(expires) || Number.isNaN(Date.parse(expires)))) {
    return io.fail(
      '--expires: must be an ISO 8601 date-time with its time zone, e.g. 2027-01-01T00:00:00Z ' +
        `(got ${JSON.stringify(expires)})`
    )
  }
  if (expires !== undefined && Date.parse(expires) <= Date.now()) {
    return io.fail(`--expires: ${expires} has passed: the key would never work`)
  }

  const key = generateKey()
  const entry: Partial<ApiKeyConfig> = { id, hash: hashKey(key), agents }
  // Only what was asked for: the config's defaults (all endpoints, no limits) need no words.
  if (endpoints) entry.endpoints = endpoints
  if (rpm !== undefined) entry.rpm = rpm
  if (concurrency !== undefined) entry.concurrency = concurrency
  if (expires !== undefined) entry.expiresAt = expires

  if (flags.json) return io.out(JSON.stringify({ key, entry }, null, 2))
  const indented = JSON.stringify(entry, null, 2).replaceAll('\n', '\n  ')
  io.out(
    `API key '${id}' (shown this once: give it to the client now; the config keeps only its hash):\n\n` +
      `  ${key}\n\n` +
      'Add this entry to gateway.http.apiKeys in the config, then restart the server:\n\n' +
      `  ${indented}`
  )
}
