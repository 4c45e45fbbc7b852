/**
 * The configuration: a valibot schema over the gateway's own config file (JSON5), so the same
 * file serves both. Unknown keys are ignored; every known key has its default here.
 */
import * as v from 'valibot'
import { parseProxyEntry } from './core/client-address.ts'

const MiB = 1024 * 1024

const positiveInt = () => v.pipe(v.number(), v.integer(), v.minValue(1))
const nonNegativeInt = () => v.pipe(v.number(), v.integer(), v.minValue(0))

/** Agent ids as the gateway accepts them; always compared lower-cased. */
export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/i

const RateLimitSchema = v.object({
  maxAttempts: v.optional(positiveInt(), 10),
  windowMs: v.optional(positiveInt(), 60_000),
  lockoutMs: v.optional(positiveInt(), 300_000),
  exemptLoopback: v.optional(v.boolean(), true),
})

const DEFAULT_FILE_MIMES = [
  'text/plain',
  'text/markdown',
  'text/html',
  'text/csv',
  'application/json',
  'application/pdf',
]

const ImagesSchema = v.object({
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

/** What both APIs share: limits on the body and its images, heartbeats. */
const endpointFields = {
  maxBodyBytes: v.optional(positiveInt(), 20 * MiB),
  maxImageParts: v.optional(nonNegativeInt(), 8),
  maxTotalImageBytes: v.optional(positiveInt(), 20 * MiB),
  heartbeatSeconds: v.optional(v.pipe(v.number(), v.minValue(0)), 15),
  /** Time allowed for the whole request body to arrive (slow senders get 408). */
  bodyTimeoutMs: v.optional(positiveInt(), 30_000),
}

const ChatCompletionsSchema = v.object({
  enabled: v.optional(v.boolean(), false),
  ...endpointFields,
  images: v.optional(ImagesSchema, {}),
})

const FilesSchema = v.object({
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
    v.object({
      /** Pages whose text is read. */
      maxPages: v.optional(positiveInt(), 4),
      /** The gateway's rendering limits; accepted, unused (pages are never rendered here). */
      maxPixels: v.optional(positiveInt(), 4_000_000),
      minTextChars: v.optional(nonNegativeInt(), 200),
    }),
    {}
  ),
})

const ResponsesSchema = v.object({
  enabled: v.optional(v.boolean(), false),
  ...endpointFields,
  /** URL-sourced images and files in one request's whole `input`. */
  maxUrlParts: v.optional(nonNegativeInt(), 8),
  images: v.optional(
    v.object({ ...ImagesSchema.entries, allowUrl: v.optional(v.boolean(), true) }),
    {}
  ),
  files: v.optional(FilesSchema, {}),
  /** Responses kept for `previous_response_id` and `GET /v1/responses/{id}`. */
  retention: v.optional(
    v.object({
      maxResponses: v.optional(positiveInt(), 500),
      ttlSeconds: v.optional(positiveInt(), 1800),
    }),
    {}
  ),
})

const TrustedProxySchema = v.object({
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
})

const AuthSchema = v.object({
  mode: v.optional(v.picklist(['token', 'password', 'none', 'trusted-proxy'])),
  token: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
  password: v.optional(v.pipe(v.string(), v.nonEmpty('must not be empty'))),
  rateLimit: v.optional(v.union([v.literal(false), RateLimitSchema]), {}),
  trustedProxy: v.optional(TrustedProxySchema),
})

const CorsSchema = v.object({
  /** Origins a browser may call from, e.g. `https://app.example.com`; empty = CORS off. */
  allowedOrigins: v.optional(v.array(v.pipe(v.string(), v.nonEmpty())), []),
})

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
  bind: v.optional(v.pipe(v.string(), v.nonEmpty()), 'loopback'),
  auth: v.optional(AuthSchema, {}),
  http: v.optional(
    v.object({
      endpoints: v.optional(
        v.object({
          chatCompletions: v.optional(ChatCompletionsSchema, {}),
          responses: v.optional(ResponsesSchema, {}),
        }),
        {}
      ),
      cors: v.optional(CorsSchema, {}),
    }),
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

const EchoBackendSchema = v.object({
  type: v.literal('echo'),
  chunkChars: v.optional(positiveInt(), 8),
  delayMs: v.optional(nonNegativeInt(), 0),
})

const GatewayBackendSchema = v.object({
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

const OpenAIBackendSchema = v.object({
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
    v.object({
      maxMessages: v.optional(positiveInt(), 200),
      maxSessions: v.optional(positiveInt(), 1000),
      ttlMs: v.optional(positiveInt(), 86_400_000),
    }),
    {}
  ),
})

/** The roster as a 2026.9 gateway file writes it: agents keyed by id. */
const AgentEntriesSchema = v.record(
  v.pipe(v.string(), v.regex(AGENT_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}')),
  v.looseObject({ name: v.optional(v.string()) })
)

const AgentsSchema = v.pipe(
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
  }),
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

export const ConfigSchema = v.object({
  gateway: v.optional(GatewaySchema, {}),
  agents: v.optional(AgentsSchema, {}),
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

/** A config value that cannot be used, named by its key path. */
export class ConfigError extends Error {
  readonly path: string
  readonly reason: string
  constructor(path: string, reason: string) {
    super(path ? `${path}: ${reason}` : reason)
    this.name = 'ConfigError'
    this.path = path
    this.reason = reason
  }
}

export type Env = Record<string, string | undefined>

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value, so one config file can take
 * secrets from the environment.
 * @throws {ConfigError} for a variable that is unset and has no default
 */
export const substituteEnv = (value: unknown, env: Env, path = ''): unknown => {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_, name: string, fallback: string | undefined) => {
      const found = env[name]
      if (found !== undefined && found !== '') return found
      if (fallback !== undefined) return fallback
      throw new ConfigError(path, `environment variable ${name} is not set`)
    })
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, item] of Object.entries(value)) {
      out[k] = substituteEnv(item, env, path ? `${path}.${k}` : k)
    }
    return out
  }
  return value
}

const issuePath = (issue: v.BaseIssue<unknown>): string => {
  let path = ''
  for (const item of issue.path ?? []) {
    const key = item.key
    path += typeof key === 'number' ? `[${key}]` : path ? `.${String(key)}` : String(key)
  }
  return path
}

/**
 * Validates a config object (as read from JSON5) and fills in defaults.
 * @throws {ConfigError} naming the first bad key path and why
 */
export const parseConfig = (input: unknown): Config => {
  const result = v.safeParse(ConfigSchema, input ?? {})
  if (!result.success) {
    const issue = result.issues[0]
    throw new ConfigError(issuePath(issue), issue.message)
  }
  const config = result.output
  const ids = new Set<string>()
  config.agents.list.forEach((agent, i) => {
    if (ids.has(agent.id))
      throw new ConfigError(`agents.list[${i}].id`, `duplicate agent '${agent.id}'`)
    ids.add(agent.id)
    if (agent.default && config.agents.ownership === 'explicit') {
      throw new ConfigError(
        `agents.list[${i}].default`,
        'agents.ownership=explicit cannot be combined with a default=true marker'
      )
    }
  })
  return config
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

/** The host to listen on for `gateway.bind`: loopback, lan, or an address as given. */
export const bindHost = (bind: string): string => {
  if (bind === 'loopback') return '127.0.0.1'
  if (bind === 'lan') return '0.0.0.0'
  return bind
}
