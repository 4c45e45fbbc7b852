/**
 * The configuration: a valibot schema over the gateway's own config file (JSON5), so the same
 * file serves both. Keys in the sections this product owns (`owned()`) must be known ones, so a
 * typo is an error instead of a setting silently left at its default; keys anywhere else belong
 * to the gateway and are ignored. Every known key has its default here.
 */
import ipaddr from 'ipaddr.js'
import * as v from 'valibot'
import {
  KEY_ENDPOINTS,
  KEY_HASH_PATTERN,
  KEY_ID_PATTERN,
  KEY_ID_RULE,
  KEY_PREFIX,
  keysNeedSecretMode,
} from './core/api-keys.ts'
import { parseProxyEntry } from './core/client-address.ts'
import { closest } from './core/did-you-mean.ts'

const MiB = 1024 * 1024

/** A key the OpenClaw gateway puts in one of our sections: accepted, and dropped here. */
const ignoredKey = v.optional(
  v.pipe(
    v.unknown(),
    v.transform((): undefined => undefined)
  )
)

/**
 * Makes an object schema ours: a key it does not know is an error naming it, with the key it was
 * probably meant to be. `ignored` lists keys the gateway's own schema has in the same place, which
 * a shared config file may hold: accepted, never read (each is listed in the README).
 *
 * @example owned(v.object({ enabled: v.optional(v.boolean(), false) }), ['securityHeaders'])
 */
export const owned = <
  const TEntries extends v.ObjectEntries,
  const TIgnored extends string = never,
>(
  schema: v.ObjectSchema<TEntries, undefined>,
  ignored: readonly TIgnored[] = []
) => {
  const entries = { ...schema.entries } as TEntries & Record<TIgnored, typeof ignoredKey>
  for (const key of ignored) (entries as v.ObjectEntries)[key] = ignoredKey
  const ours = Object.keys(schema.entries)
  return v.strictObject(entries, (issue) =>
    // Only an unknown key is worded here; `describeIssue` words the rest, knowing the path.
    issue.expected === 'never' ? unknownKey(String(issue.input), ours, ignored) : issue.message
  )
}

const unknownKey = (key: string, ours: string[], ignored: readonly string[]): string => {
  if (key === '$include') {
    return "the gateway's $include is not read here: write this section's keys in the file itself"
  }
  const guess = closest(key, [...ours, ...ignored])
  return guess
    ? `unknown key; did you mean ${guess}?`
    : `unknown key; the keys here are ${ours.join(', ')}`
}

const positiveInt = () => v.pipe(v.number(), v.integer(), v.minValue(1))
const nonNegativeInt = () => v.pipe(v.number(), v.integer(), v.minValue(0))

/** Agent ids as the gateway accepts them; always compared lower-cased. */
export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/i

const RateLimitSchema = owned(
  v.object({
    maxAttempts: v.optional(positiveInt(), 10),
    windowMs: v.optional(positiveInt(), 60_000),
    lockoutMs: v.optional(positiveInt(), 300_000),
    exemptLoopback: v.optional(v.boolean(), true),
  })
)

const DEFAULT_FILE_MIMES = [
  'text/plain',
  'text/markdown',
  'text/html',
  'text/csv',
  'application/json',
  'application/pdf',
]

const ImagesSchema = owned(
  v.object({
    allowUrl: v.optional(v.boolean(), false),
    urlAllowlist: v.optional(v.array(v.string()), []),
    allowedMimes: v.optional(v.array(v.pipe(v.string(), v.toLowerCase())), [
      'image/jpeg',
      'image/png',
      'image/gif',
      'image/webp',
      'image/heic',
      'image/heif',
    ]),
    maxBytes: v.optional(positiveInt(), 10 * MiB),
    maxRedirects: v.optional(nonNegativeInt(), 3),
    timeoutMs: v.optional(positiveInt(), 10_000),
  })
)

/** What both APIs share: limits on the body and its images, heartbeats. */
const endpointFields = {
  maxBodyBytes: v.optional(positiveInt(), 20 * MiB),
  maxImageParts: v.optional(nonNegativeInt(), 8),
  maxTotalImageBytes: v.optional(positiveInt(), 20 * MiB),
  heartbeatSeconds: v.optional(v.pipe(v.number(), v.minValue(0)), 15),
  /** Time allowed for the whole request body to arrive (slow senders get 408). */
  bodyTimeoutMs: v.optional(positiveInt(), 30_000),
}

const ChatCompletionsSchema = owned(
  v.object({
    enabled: v.optional(v.boolean(), false),
    ...endpointFields,
    images: v.optional(ImagesSchema, {}),
  })
)

const FilesSchema = owned(
  v.object({
    allowUrl: v.optional(v.boolean(), true),
    urlAllowlist: v.optional(v.array(v.string()), []),
    allowedMimes: v.optional(
      v.pipe(
        v.array(v.pipe(v.string(), v.toLowerCase())),
        // An empty list means the defaults, as in the gateway.
        v.transform((list) => (list.length ? list : DEFAULT_FILE_MIMES))
      ),
      DEFAULT_FILE_MIMES
    ),
    maxBytes: v.optional(positiveInt(), 5 * MiB),
    /** Text beyond this many characters is cut off. */
    maxChars: v.optional(positiveInt(), 60_000),
    maxRedirects: v.optional(nonNegativeInt(), 3),
    timeoutMs: v.optional(positiveInt(), 10_000),
    pdf: v.optional(
      owned(
        v.object({
          /** Pages whose text is read. */
          maxPages: v.optional(positiveInt(), 4),
          /** The gateway's rendering limits; accepted, unused (pages are never rendered here). */
          maxPixels: v.optional(positiveInt(), 4_000_000),
          minTextChars: v.optional(nonNegativeInt(), 200),
        })
      ),
      {}
    ),
  })
)

const ResponsesSchema = owned(
  v.object({
    enabled: v.optional(v.boolean(), false),
    ...endpointFields,
    /** URL-sourced images and files in one request's whole `input`. */
    maxUrlParts: v.optional(nonNegativeInt(), 8),
    images: v.optional(
      owned(v.object({ ...ImagesSchema.entries, allowUrl: v.optional(v.boolean(), true) })),
      {}
    ),
    files: v.optional(FilesSchema, {}),
    /** Responses kept for `previous_response_id` and `GET /v1/responses/{id}`. */
    retention: v.optional(
      owned(
        v.object({
          maxResponses: v.optional(positiveInt(), 500),
          ttlSeconds: v.optional(positiveInt(), 1800),
        })
      ),
      {}
    ),
  })
)

const TrustedProxySchema = owned(
  v.object({
    /** The header the proxy puts the authenticated user in, e.g. `x-forwarded-user`. */
    userHeader: v.pipe(
      v.string(),
      v.check((s) => s.trim() !== '', 'userHeader is required for trusted-proxy mode')
    ),
    /** Headers the proxy always sets; a request without any of them is refused. */
    requiredHeaders: v.optional(v.array(v.pipe(v.string(), v.nonEmpty())), []),
    /** Users allowed in (exact, case-sensitive); empty = everyone the proxy lets through. */
    allowUsers: v.optional(v.array(v.string()), []),
    /** Whether a proxy on this host (a loopback peer) may vouch for users. */
    allowLoopback: v.optional(v.boolean(), false),
  }),
  // The gateway's Cloudflare Access identity and device auto-approval: not done here.
  ['cloudflareAccessOidc', 'deviceAutoApprove']
)

const AuthSchema = owned(
  v.object({
    mode: v.optional(v.picklist(['token', 'password', 'none', 'trusted-proxy'])),
    token: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    password: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    rateLimit: v.optional(v.union([v.literal(false), RateLimitSchema]), {}),
    trustedProxy: v.optional(TrustedProxySchema),
  }),
  // The gateway's Tailscale identity headers and the scopes it grants verified identities.
  ['allowTailscale', 'identityScopes']
)

const CorsSchema = owned(
  v.object({
    /** Origins a browser may call from, e.g. `https://app.example.com`; empty = CORS off. */
    allowedOrigins: v.optional(v.array(v.pipe(v.string(), v.nonEmpty())), []),
  })
)

/** `gateway.bind`'s words: ours, and the gateway's `auto`, `custom` and `tailnet`. */
const BIND_MODES = ['loopback', 'lan', 'auto', 'custom', 'tailnet']
const BIND_WORDS = 'loopback, lan, auto, custom, tailnet, localhost or an IP address'

const isIp = (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s)

/** An address to listen on as given: an IP address, or `localhost` (never a name to look up). */
export const isListenAddress = (s: string) => s === 'localhost' || isIp(s)

// Gateways run in the open: when the value may be a secret, say only what kind of value it is
// (an API key's `hash` too: a key pasted there by mistake must not be echoed).
const SECRET_KEY = /token|password|secret|apikey|authorization|^hash$/i

/** A value as an error message shows it: short, quoted when a string. */
const shown = (value: unknown, path = ''): string => {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  if (SECRET_KEY.test(path.slice(path.lastIndexOf('.') + 1))) return `a ${typeof value}`
  if (typeof value !== 'string') return String(value)
  const text = JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 58)}…"` : text
}

/**
 * Ours: one client's API key (`gateway-chat-completions keys create` prints the entry). Only the
 * key's SHA-256 is kept; `agents` and `endpoints` say what it may use, `rpm` and `concurrency`
 * how much, `expiresAt` until when.
 */
const ApiKeySchema = owned(
  v.object({
    id: v.pipe(v.string(), v.regex(KEY_ID_PATTERN, KEY_ID_RULE)),
    hash: v.pipe(
      v.string(),
      v.check(
        (s) => !s.startsWith(KEY_PREFIX),
        'holds a key itself: put only its hash here (sha256:…, as keys create prints it), and ' +
          'make a new key, as this one has been written down'
      ),
      v.check(
        (s) => KEY_HASH_PATTERN.test(s),
        "must be 'sha256:' and 64 hex digits (keys create prints it)"
      ),
      v.toLowerCase()
    ),
    agents: v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check(
            (s) => s === '*' || AGENT_ID_PATTERN.test(s),
            (issue) => `must be an agent id, or '*' for all (got ${shown(issue.input)})`
          ),
          v.toLowerCase()
        )
      ),
      v.minLength(1, "must name at least one agent, or '*' for all")
    ),
    /** Default: all three. */
    endpoints: v.optional(
      v.pipe(
        v.array(v.picklist(KEY_ENDPOINTS)),
        v.minLength(1, `must name at least one of ${KEY_ENDPOINTS.join(', ')}`)
      ),
      [...KEY_ENDPOINTS]
    ),
    /** Requests per minute (a fixed window per key, counted in the store). */
    rpm: v.optional(positiveInt()),
    /** Answers in progress at once (a stream counts until it ends). */
    concurrency: v.optional(positiveInt()),
    expiresAt: v.optional(
      v.pipe(
        v.string(),
        v.isoTimestamp(
          (issue) =>
            'must be an ISO 8601 date-time with its time zone, e.g. 2027-01-01T00:00:00Z ' +
            `(got ${shown(issue.input)})`
        )
      )
    ),
  })
)

/**
 * Ours: where the state shared between instances lives (lockouts, session locks, per-key
 * counters, stored responses). `memory` is one process; `redis` is for several Node, Bun or
 * Deno instances (its URL from `url` or `OPENCLAW_REDIS_URL`); `durable-objects` is the worker's.
 */
// Each variant a const of its own: written inline in `v.variant`, the context would widen
// `owned`'s ignored keys to `string` and every field's type to `unknown`.
const MemoryStoreSchema = owned(v.object({ type: v.literal('memory') }))

const RedisStoreSchema = owned(
  v.object({
    type: v.literal('redis'),
    /** Default: `OPENCLAW_REDIS_URL`. */
    url: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    /** Prefix of every key, so instances of different deployments can share one Redis. */
    prefix: v.optional(v.string(), 'openclaw:'),
    /** How long a session lock or a concurrency slot outlives an instance that died. */
    leaseMs: v.optional(v.pipe(positiveInt(), v.minValue(1000, 'must be at least 1000')), 30_000),
    /** How long one Redis command may take before the request gets a 503. */
    timeoutMs: v.optional(positiveInt(), 2000),
  })
)

const DurableStoreSchema = owned(
  v.object({
    type: v.literal('durable-objects'),
    /** As for Redis: how long a lock or slot outlives a worker that died. */
    leaseMs: v.optional(v.pipe(positiveInt(), v.minValue(1000, 'must be at least 1000')), 30_000),
    /** How long one call to an object may take before the request gets a 503. */
    timeoutMs: v.optional(positiveInt(), 5000),
  })
)

const StoreSchema = v.variant('type', [MemoryStoreSchema, RedisStoreSchema, DurableStoreSchema])

const GatewaySchema = v.object({
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 18789),
  /** Proxies (IPs or CIDR ranges) whose `X-Forwarded-For` is believed; trusted-proxy auth's peers. */
  trustedProxies: v.optional(
    v.array(
      v.pipe(
        v.string(),
        v.check((s) => parseProxyEntry(s) !== undefined, 'must be an IP address or a CIDR range')
      )
    ),
    []
  ),
  /** On shutdown, how long in-flight answers may take to finish before their runs are aborted. */
  drainTimeoutMs: v.optional(nonNegativeInt(), 10_000),
  /** `loopback`, `lan`, an IP address, or one of the gateway's other modes (see `listenHost`). */
  bind: v.optional(
    v.pipe(
      v.string(),
      v.check(
        (s) => BIND_MODES.includes(s) || isListenAddress(s),
        (issue) => `must be ${BIND_WORDS} (got ${shown(issue.input)})`
      )
    ),
    'loopback'
  ),
  /** The address for `bind: "custom"`, as the gateway reads it. */
  customBindHost: v.optional(
    v.pipe(
      v.string(),
      v.check(isIp, (issue) => `must be an IP address (got ${shown(issue.input)})`)
    )
  ),
  auth: v.optional(AuthSchema, {}),
  store: v.optional(StoreSchema, { type: 'memory' }),
  http: v.optional(
    owned(
      v.object({
        endpoints: v.optional(
          owned(
            v.object({
              chatCompletions: v.optional(ChatCompletionsSchema, {}),
              responses: v.optional(ResponsesSchema, {}),
            })
          ),
          {}
        ),
        cors: v.optional(CorsSchema, {}),
        /** Per-client keys for the OpenAI endpoints, beside the gateway's token or password. */
        apiKeys: v.optional(v.array(ApiKeySchema), []),
        /**
         * The OpenAI endpoints (`/v1/…`) take API keys only: the gateway's token or password,
         * which is full operator access, gets a 401 there (it still opens `/health/details` and
         * `/metrics`).
         */
        apiKeysOnly: v.optional(v.boolean(), false),
      }),
      // The gateway's HSTS header setting: this app sets no security headers of its own.
      ['securityHeaders']
    ),
    {}
  ),
})

const AgentSchema = v.object({
  id: v.pipe(
    v.string(),
    v.regex(AGENT_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}'),
    v.toLowerCase()
  ),
  default: v.optional(v.boolean()),
  name: v.optional(v.string()),
})

const EchoBackendSchema = owned(
  v.object({
    type: v.literal('echo'),
    chunkChars: v.optional(positiveInt(), 8),
    delayMs: v.optional(nonNegativeInt(), 0),
  })
)

const GatewayBackendSchema = owned(
  v.object({
    type: v.literal('gateway'),
    /** The gateway's WebSocket URL. */
    url: v.optional(
      v.pipe(v.string(), v.regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL')),
      'ws://127.0.0.1:18789'
    ),
    token: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    password: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    /** Where the Ed25519 device identity is kept: a file path (Node, Bun, Deno), or a JWK (JSON). */
    deviceIdentity: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
    connectTimeoutMs: v.optional(positiveInt(), 15_000),
    /**
     * Client tools cannot cross the gateway's `agent` method. `refuse`: a request that offers them
     * gets a 400. `ignore`: they are left out and the agent answers with its own tools (for clients
     * that always send tools, such as Codex).
     */
    clientTools: v.optional(v.picklist(['refuse', 'ignore']), 'refuse'),
  })
)

const OpenAIBackendSchema = owned(
  v.object({
    type: v.literal('openai'),
    /** The upstream's base URL, e.g. `http://127.0.0.1:11434/v1`. */
    baseUrl: v.pipe(v.string(), v.url('must be a URL')),
    apiKey: v.optional(v.string()),
    /** The upstream model every turn uses (unless `x-openclaw-model` names another). */
    model: v.pipe(v.string(), v.nonEmpty('must not be empty')),
    headers: v.optional(v.record(v.string(), v.string()), {}),
    /** Time to the upstream's response headers. */
    timeoutMs: v.optional(positiveInt(), 600_000),
    /** Conversation memory for stable session keys (`user` or the session header). */
    sessions: v.optional(
      owned(
        v.object({
          maxMessages: v.optional(positiveInt(), 200),
          maxSessions: v.optional(positiveInt(), 1000),
          ttlMs: v.optional(positiveInt(), 86_400_000),
        })
      ),
      {}
    ),
  })
)

/** The roster as a 2026.9 gateway file writes it: agents keyed by id. */
const AgentEntriesSchema = v.record(
  v.pipe(v.string(), v.regex(AGENT_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}')),
  v.looseObject({ name: v.optional(v.string()) })
)

// `agents` itself is ours (the gateway's own schema has no other keys there), but what is inside
// an agent entry and `defaults` is mostly the gateway's (workspace, model, tools…): ignored.
const AgentsSchema = v.pipe(
  owned(
    v.object({
      list: v.optional(v.array(AgentSchema)),
      entries: v.optional(AgentEntriesSchema),
      /**
       * `explicit`: with several agents, a request must name its agent (no default serves it).
       * `sole` and `legacy` are the gateway's other values; both keep the default agent.
       */
      ownership: v.optional(v.picklist(['sole', 'legacy', 'explicit'])),
      defaults: v.optional(
        v.object({
          /** A turn that runs longer is aborted: 504, or an error event once streaming. */
          timeoutSeconds: v.optional(v.pipe(v.number(), v.minValue(0)), 600),
        }),
        {}
      ),
    })
  ),
  // `entries` wins over `list`, as in the gateway; neither means the one agent `main`.
  v.transform(({ entries, list, ...rest }) => ({
    ...rest,
    list: entries
      ? Object.entries(entries).map(([id, e]): AgentInfo => {
          const agent: AgentInfo = { id: id.toLowerCase() }
          if (e.name !== undefined) agent.name = e.name
          return agent
        })
      : (list ?? [{ id: 'main', default: true }]),
  }))
)

const LOG_LEVEL = v.picklist(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'])

/**
 * OpenClaw's `logging` section, read for what the console log needs: its levels and style. Its
 * file-log keys are accepted and unused (this app writes to stdout only); `content` is ours.
 */
const LoggingSchema = v.object({
  level: v.optional(LOG_LEVEL),
  /** Wins over `level` here: all of this app's log goes to the console. */
  consoleLevel: v.optional(LOG_LEVEL),
  consoleStyle: v.optional(v.picklist(['pretty', 'json'])),
  /** Log each turn's prompt at debug level (off: no message content is ever logged). */
  content: v.optional(v.boolean(), false),
  file: v.optional(v.string()),
  maxFileBytes: v.optional(v.number()),
  redactPatterns: v.optional(v.array(v.string())),
  audit: v.optional(v.looseObject({})),
})

/** Ours: Prometheus metrics at `GET /metrics` (Node, Bun, Deno). */
const MetricsSchema = v.object({
  enabled: v.optional(v.boolean(), false),
  /** `false` serves `/metrics` without auth (e.g. to a scraper on a private network). */
  auth: v.optional(v.boolean(), true),
})

export const ConfigSchema = v.object({
  gateway: v.optional(GatewaySchema, {}),
  agents: v.optional(AgentsSchema, {}),
  logging: v.optional(LoggingSchema, {}),
  metrics: v.optional(MetricsSchema, {}),
  backend: v.optional(
    v.variant('type', [EchoBackendSchema, GatewayBackendSchema, OpenAIBackendSchema]),
    { type: 'echo' }
  ),
})

/** What a config file or object may say. */
export type ConfigInput = v.InferInput<typeof ConfigSchema>
/** A validated config with every default filled in. */
export type Config = v.InferOutput<typeof ConfigSchema>
export type ChatCompletionsConfig = Config['gateway']['http']['endpoints']['chatCompletions']
export type ResponsesConfig = Config['gateway']['http']['endpoints']['responses']
export type EchoBackendConfig = v.InferOutput<typeof EchoBackendSchema>
export type GatewayBackendConfig = v.InferOutput<typeof GatewayBackendSchema>
export type OpenAIBackendConfig = v.InferOutput<typeof OpenAIBackendSchema>
export type RateLimitConfig = v.InferOutput<typeof RateLimitSchema>
export type StoreConfig = Config['gateway']['store']

export type AuthMode = 'token' | 'password' | 'none' | 'trusted-proxy'
export type TrustedProxyConfig = v.InferOutput<typeof TrustedProxySchema>

/** The auth the app enforces, secrets resolved from config first, then the environment. */
export interface ResolvedAuth {
  mode: AuthMode
  /** The bearer secret: the token or password; under trusted-proxy, the optional password. */
  secret?: string
  trustedProxy?: TrustedProxyConfig
  /** Under trusted-proxy: the proxies allowed to vouch for users. */
  trustedProxies?: string[]
}

/** One thing wrong in a config: the key path (empty for the whole file) and why, in plain words. */
export interface ConfigProblem {
  path: string
  reason: string
}

const formatProblem = ({ path, reason }: ConfigProblem) => (path ? `${path}: ${reason}` : reason)

/**
 * A config that cannot be used. `problems` lists everything found wrong in one pass, so an
 * operator fixes a file once instead of once per typo; `path` and `reason` are the first's.
 */
export class ConfigError extends Error {
  readonly path: string
  readonly reason: string
  readonly problems: readonly ConfigProblem[]
  constructor(path: string | readonly ConfigProblem[], reason = '') {
    const problems = typeof path === 'string' ? [{ path, reason }] : path
    super(problems.map(formatProblem).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
    this.path = problems[0]?.path ?? ''
    this.reason = problems[0]?.reason ?? ''
  }
}

export type Env = Record<string, string | undefined>

/** `${VAR}`, `${VAR:-default}`, and `$${VAR}` for a literal `${VAR}` (as the gateway reads it). */
const ENV_REF = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g

interface Unset {
  path: string
  name: string
  /** The string as it stands with the placeholder left in. */
  text: string
}

const unsetReason = (name: string) =>
  `environment variable ${name} is not set (write \${${name}:-default} to give a default)`

/** `substituteEnv`'s work, reporting unset variables instead of throwing at the first. */
const expandEnv = (value: unknown, env: Env, unset: Unset[], path = ''): unknown => {
  if (typeof value === 'string') {
    const missing: string[] = []
    const text = value.replace(
      ENV_REF,
      (ref, escaped: string, name: string, fallback: string | undefined) => {
        if (escaped) return ref.slice(1)
        const found = env[name]
        if (found !== undefined && found !== '') return found
        if (fallback !== undefined) return fallback
        missing.push(name)
        return ref
      }
    )
    for (const name of missing) unset.push({ path, name, text })
    return text
  }
  if (Array.isArray(value)) {
    return value.map((item, i) => expandEnv(item, env, unset, `${path}[${i}]`))
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, item] of Object.entries(value)) {
      out[k] = expandEnv(item, env, unset, path ? `${path}.${k}` : k)
    }
    return out
  }
  return value
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value, so one config file can take
 * secrets from the environment; `$${VAR}` stands for a literal `${VAR}`.
 * @throws {ConfigError} listing every variable that is unset and has no default
 */
export const substituteEnv = (value: unknown, env: Env, path = ''): unknown => {
  const unset: Unset[] = []
  const out = expandEnv(value, env, unset, path)
  if (unset.length) {
    throw new ConfigError(unset.map((u) => ({ path: u.path, reason: unsetReason(u.name) })))
  }
  return out
}

type Issue = v.BaseIssue<unknown>

const issuePath = (issue: Issue): string => {
  let path = ''
  for (const item of issue.path ?? []) {
    const key = item.key
    path += typeof key === 'number' ? `[${key}]` : path ? `.${String(key)}` : String(key)
  }
  return path
}

/**
 * The issues to report: a union's own issue says only that no option fitted, so the issues of
 * the option that got past the type (`rateLimit: {maxAtempts: 5}`) are reported in its place,
 * their paths made absolute.
 */
const flatIssues = (issues: readonly Issue[]): Issue[] =>
  issues.flatMap((issue) => {
    const deeper = (issue.issues ?? []).filter((sub) => sub.path?.length)
    if (issue.type !== 'union' || !deeper.length) return [issue]
    const base = issue.path ?? []
    return flatIssues(deeper.map((sub) => ({ ...sub, path: [...base, ...sub.path!] }) as Issue))
  })

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  Object: 'an object',
  Array: 'a list',
}

/** valibot's `expected` (`"token" | "password"`, `false | Object`) in words. */
const expectedWords = (expected: string | null): string => {
  // A union's or a picklist's options come parenthesised: `("echo" | "gateway")`.
  const bare =
    expected?.startsWith('(') && expected.endsWith(')') ? expected.slice(1, -1) : expected
  const options = (bare ?? '').split(' | ').map((o) => TYPE_WORDS[o] ?? o)
  if (options.length > 1 && options.every((o) => o.startsWith('"'))) {
    return `one of ${options.slice(0, -1).join(', ')} or ${options.at(-1)}`
  }
  return options.length > 1 ? `${options.slice(0, -1).join(', ')} or ${options.at(-1)}` : options[0]
}

/**
 * An issue's reason in plain words. Messages written in the schema are kept; valibot's own
 * (`Invalid type: Expected string but received 5`) are reworded from the issue's fields.
 */
const describeIssue = (issue: Issue, path: string): string => {
  const got = `(got ${shown(issue.input, path)})`
  if (!issue.message.startsWith('Invalid ')) {
    // A message written in the schema; a pattern or a check is clearer with what it was given.
    const quote = ['regex', 'check', 'url'].includes(issue.type) && !issue.message.includes('(got ')
    return quote ? `${issue.message} ${got}` : issue.message
  }
  if (issue.kind === 'schema') {
    if (issue.type.endsWith('object') && issue.expected === 'never') return 'unknown key'
    if (issue.input === undefined) {
      // A missing key is reported by its object; a missing `type` by the backend's variant.
      return issue.type.endsWith('object')
        ? 'is required'
        : `is required: ${expectedWords(issue.expected)}`
    }
    return `must be ${expectedWords(issue.expected)} ${got}`
  }
  const requirement = (issue as { requirement?: unknown }).requirement
  switch (issue.type) {
    case 'integer':
      return `must be a whole number ${got}`
    case 'min_value':
      return `must be at least ${requirement} ${got}`
    case 'max_value':
      return `must be at most ${requirement} ${got}`
    case 'non_empty':
      return 'must not be empty'
    case 'url':
      return `must be a URL ${got}`
    case 'regex':
      return `must match ${requirement} ${got}`
    case 'min_length':
      return `must have at least ${requirement} ${Array.isArray(issue.input) ? 'items' : 'characters'}`
    case 'max_length':
      return `must have at most ${requirement} ${Array.isArray(issue.input) ? 'items' : 'characters'}`
    default:
      return `is not valid ${got}`
  }
}

/** Every string in a value, however deep. */
const stringsIn = (value: unknown, found = new Set<string>()): Set<string> => {
  if (typeof value === 'string') found.add(value)
  else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) stringsIn(item, found)
  }
  return found
}

const within = (path: string, parent: string) =>
  path === parent || path.startsWith(`${parent}.`) || path.startsWith(`${parent}[`)

/** What only the whole roster shows: duplicate ids, a default marker with explicit ownership. */
const rosterProblems = (config: Config): ConfigProblem[] => {
  const problems: ConfigProblem[] = []
  const ids = new Set<string>()
  config.agents.list.forEach((agent, i) => {
    if (ids.has(agent.id)) {
      problems.push({ path: `agents.list[${i}].id`, reason: `duplicate agent '${agent.id}'` })
    }
    ids.add(agent.id)
    if (agent.default && config.agents.ownership === 'explicit') {
      problems.push({
        path: `agents.list[${i}].default`,
        reason: 'agents.ownership=explicit cannot be combined with a default=true marker',
      })
    }
  })
  problems.push(...keyProblems(config))
  const { bind, customBindHost } = config.gateway
  if (bind === 'custom' && customBindHost === undefined) {
    problems.push({
      path: 'gateway.customBindHost',
      reason: "is required when gateway.bind is 'custom' (the IP address to listen on)",
    })
  }
  return problems
}

/**
 * What only the whole list of API keys shows: duplicate ids or keys, agents that do not exist,
 * keys under an auth mode that has no use for them, `apiKeysOnly` without a key.
 */
const keyProblems = (config: Config): ConfigProblem[] => {
  const problems: ConfigProblem[] = []
  const { apiKeys, apiKeysOnly } = config.gateway.http
  const { mode } = config.gateway.auth
  if (apiKeys.length && (mode === 'none' || mode === 'trusted-proxy')) {
    problems.push({ path: 'gateway.http.apiKeys', reason: keysNeedSecretMode(mode) })
  }
  if (apiKeysOnly && !apiKeys.length) {
    problems.push({
      path: 'gateway.http.apiKeysOnly',
      reason: 'no key is configured in gateway.http.apiKeys: nothing could call the API',
    })
  }
  // The gateway backend lists its own agents: the configured list is not the one to check.
  const agentIds =
    config.backend.type === 'gateway' ? undefined : config.agents.list.map((a) => a.id)
  const ids = new Set<string>()
  const hashes = new Map<string, string>()
  apiKeys.forEach((key, i) => {
    const at = `gateway.http.apiKeys[${i}]`
    if (ids.has(key.id)) problems.push({ path: `${at}.id`, reason: `duplicate key id '${key.id}'` })
    ids.add(key.id)
    const twin = hashes.get(key.hash)
    if (twin !== undefined) {
      problems.push({ path: `${at}.hash`, reason: `the same key as '${twin}': make a new one` })
    } else hashes.set(key.hash, key.id)
    key.agents.forEach((agent, j) => {
      if (agent === '*' || !agentIds || agentIds.includes(agent)) return
      const guess = closest(agent, agentIds)
      const hint = guess ? `did you mean ${guess}?` : `the agents are ${agentIds.join(', ')}`
      problems.push({ path: `${at}.agents[${j}]`, reason: `unknown agent '${agent}'; ${hint}` })
    })
  })
  return problems
}

/** Configs this module produced: already expanded, so never expanded twice. */
const parsedConfigs = new WeakSet<object>()

/**
 * Validates a config object (as read from JSON5, or written in code), expands its `${VAR}`
 * placeholders from `env`, and fills in defaults. A placeholder whose variable is unset is an
 * error only where the value is used: a gateway's file may hold placeholders for its own keys.
 * @throws {ConfigError} listing every problem found: key path and reason
 */
export const parseConfig = (input: unknown, env: Env = {}): Config => {
  const unset: Unset[] = []
  const expanded =
    input && typeof input === 'object' && parsedConfigs.has(input)
      ? input
      : expandEnv(input ?? {}, env, unset)
  const result = v.safeParse(ConfigSchema, expanded)
  const problems: ConfigProblem[] = []
  // A placeholder is used when its string made it into the (partial) output, wherever a
  // transform moved it (`agents.entries.<id>.name` becomes `agents.list[i].name`).
  const kept = unset.length ? stringsIn(result.output) : new Set()
  const unsetPaths: string[] = []
  for (const u of unset) {
    if (!kept.has(u.text)) continue
    problems.push({ path: u.path, reason: unsetReason(u.name) })
    unsetPaths.push(u.path)
  }
  if (!result.success) {
    for (const issue of flatIssues(result.issues)) {
      const path = issuePath(issue)
      // `baseUrl: "${BASE_URL}"` is not a URL, but the unset variable is what to fix.
      if (unsetPaths.some((p) => within(path, p))) continue
      problems.push({ path, reason: describeIssue(issue, path) })
    }
  } else {
    problems.push(...rosterProblems(result.output))
  }
  // A failed parse always leaves a problem: its issues, or the unset variables that caused them.
  if (problems.length || !result.success) throw new ConfigError(problems)
  parsedConfigs.add(result.output)
  return result.output
}

/**
 * Whether a request that names no agent must be refused: the roster's ownership is explicit and
 * more than one agent could answer (one agent always owns every request).
 */
export const selectionRequired = (config: Config, agents: AgentInfo[]): boolean =>
  config.agents.ownership === 'explicit' && agents.length > 1

/**
 * The auth mode and secret: explicit mode, else password when one resolves, else token.
 * @throws {ConfigError} when token or password mode has no secret (auth fails closed)
 */
export const resolveAuth = (config: Config, env: Env = {}): ResolvedAuth => {
  const { auth, trustedProxies } = config.gateway
  const token = auth.token ?? (env.OPENCLAW_GATEWAY_TOKEN || undefined)
  const password = auth.password ?? (env.OPENCLAW_GATEWAY_PASSWORD || undefined)
  const mode: AuthMode = auth.mode ?? (password ? 'password' : 'token')
  if (mode === 'none') return { mode }
  if (mode === 'trusted-proxy') {
    if (!auth.trustedProxy) {
      throw new ConfigError(
        'gateway.auth.trustedProxy',
        "auth mode 'trusted-proxy' needs gateway.auth.trustedProxy (at least its userHeader)"
      )
    }
    if (!trustedProxies.length) {
      throw new ConfigError(
        'gateway.trustedProxies',
        "auth mode 'trusted-proxy' needs at least one proxy address in gateway.trustedProxies"
      )
    }
    // A token would be a second way in that bypasses the proxy's identity: the gateway refuses it.
    if (token) {
      throw new ConfigError(
        'gateway.auth.token',
        "auth mode 'trusted-proxy' and a token are mutually exclusive: remove gateway.auth.token " +
          'and the OPENCLAW_GATEWAY_TOKEN environment variable'
      )
    }
    return { mode, secret: password, trustedProxy: auth.trustedProxy, trustedProxies }
  }
  const secret = mode === 'token' ? token : password
  if (!secret) {
    const envName = mode === 'token' ? 'OPENCLAW_GATEWAY_TOKEN' : 'OPENCLAW_GATEWAY_PASSWORD'
    throw new ConfigError(
      `gateway.auth.${mode}`,
      `auth mode '${mode}' needs a secret: set gateway.auth.${mode} or the ${envName} environment variable`
    )
  }
  return { mode, secret }
}

export interface AgentInfo {
  id: string
  name?: string
  default?: boolean
}

/** The configured default agent: the one marked default, else the first, else `main`. */
export const defaultAgentId = (agents: AgentInfo[]): string =>
  (agents.find((a) => a.default) ?? agents[0])?.id ?? 'main'

/**
 * The host to listen on for `gateway.bind`: `loopback` (and the gateway's `auto`, which outside a
 * container is loopback) is 127.0.0.1, `lan` 0.0.0.0, `custom` the `customBindHost`, an address
 * itself.
 * @throws {ConfigError} for `tailnet` (this server does not look up Tailscale's address), for
 *   `custom` without `customBindHost`, and for anything that is not an address
 */
export const bindHost = (bind: string, customBindHost?: string): string => {
  if (bind === 'loopback' || bind === 'auto') return '127.0.0.1'
  if (bind === 'lan') return '0.0.0.0'
  if (bind === 'custom' && customBindHost !== undefined && isIp(customBindHost)) {
    return customBindHost
  }
  if (bind === 'custom') {
    throw new ConfigError(
      'gateway.customBindHost',
      "must be an IP address when gateway.bind is 'custom'"
    )
  }
  if (bind === 'tailnet') {
    throw new ConfigError(
      'gateway.bind',
      "'tailnet' needs this machine's Tailscale address, which this server does not look up: " +
        'give the address (--host 100.x.y.z, or as gateway.bind)'
    )
  }
  if (!isListenAddress(bind))
    throw new ConfigError('gateway.bind', `must be ${BIND_WORDS} (got ${shown(bind)})`)
  return bind
}
