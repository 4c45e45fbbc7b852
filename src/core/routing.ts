/** Which agent, which session, which channel: from headers, `model` and `user`, in that order. */
import { AGENT_ID_PATTERN, defaultAgentId, type AgentInfo } from '../config.ts'
import { mayUseAgent, type ApiKey } from './api-keys.ts'
import { ApiError, badRequest } from './errors.ts'
import { randomUuid } from './random-id.ts'

export interface Route {
  agentId: string
  sessionKey: string
  messageChannel: string
  modelOverride?: string
}

const INVALID_MODEL = 'Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.'
/** The gateway's words when several agents could answer and the request names none. */
const NO_OWNER =
  'Multiple agents are configured, but this operation has no explicit owner. Select an agent ' +
  'explicitly; CLI callers can pass --agent <id>, channels can add a binding, and ambient ' +
  'services can set their agentId target.'
const RESERVED_SESSION = '`x-openclaw-session-key` cannot use reserved internal session namespaces.'
/** Namespaces the gateway keeps for its own sessions (sub-agents, cron jobs, ACP, harnesses). */
const RESERVED_PREFIXES = ['subagent:', 'cron:', 'acp:', 'harness:']
const MAX_SESSION_KEY = 512
const CHANNEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** The agent a `model` string names; `null` for the default agent; throws when not an agent id. */
export const agentFromModel = (model: string): string | null => {
  const m = model.trim().toLowerCase()
  // A blank model names no agent, as in the gateway.
  if (m === '' || m === 'openclaw' || m === 'openclaw/default') return null
  const match = /^(?:openclaw\/|openclaw:|agent:)(.+)$/.exec(m)
  if (!match || !AGENT_ID_PATTERN.test(match[1]))
    throw badRequest(INVALID_MODEL, 'model', 'model_not_found')
  return match[1]
}

/** ` Agents: main, beta.`: which agents could answer, the first few (the list may be long). */
const agentList = (agents: AgentInfo[]): string => {
  const ids = agents.slice(0, 10).map((a) => a.id)
  return ` Agents: ${ids.join(', ')}${agents.length > ids.length ? ', …' : ''}.`
}

/**
 * `id` when it is an agent; else a 400 that lists the agents (`shown`: those the caller may use,
 * so an API key learns no others).
 */
const checkAgent = (id: string, agents: AgentInfo[], param: string | null, shown: AgentInfo[]) => {
  if (!AGENT_ID_PATTERN.test(id) || !agents.some((a) => a.id === id)) {
    // Echo at most an id's worth of what was sent: the header may be anything, of any size.
    const sent = id.length > 64 ? `${id.slice(0, 64)}…` : id
    const known = shown.length ? agentList(shown) : ''
    throw badRequest(`Unknown agent '${sent}'.${known}`, param, 'model_not_found')
  }
  return id
}

/**
 * The namespace part of a session key: what follows `agent:<id>:`, or the whole key. As the
 * gateway parses it: one `agent:` level, an id that is not blank, and a rest that neither is
 * empty nor starts with `:` (else the key has no agent part and is taken whole).
 */
const namespaceOf = (key: string): string => {
  const k = key.toLowerCase()
  if (!k.startsWith('agent:')) return k
  const idEnd = k.indexOf(':', 6)
  if (idEnd === -1 || !k.slice(6, idEnd).trim()) return k
  const rest = k.slice(idEnd + 1)
  return rest && !rest.startsWith(':') ? rest : k
}

/**
 * Keys the gateway reserves: a caller who could name them would write into a sub-agent's, a
 * cron job's, an ACP or an agent harness's session. (The gateway lets through a harness key
 * whose session exists and predates harness locks; we cannot see its store, so we refuse all.)
 */
const isReserved = (key: string): boolean => {
  const namespace = namespaceOf(key)
  return RESERVED_PREFIXES.some((p) => namespace.startsWith(p))
}

/**
 * Resolves the route for one request.
 * @throws {ApiError} 400 for an invalid model, an unknown or missing agent, or a reserved
 *   session key
 */
export const resolveRoute = (
  headers: Headers,
  model: string,
  user: string | undefined,
  agents: AgentInfo[],
  {
    selectionRequired = false,
    sessionPrefix = 'openai',
    fallbackAgent,
    key,
  }: {
    /** The agent when the request names none (a continued response's), over the default. */
    fallbackAgent?: string
    /** No default agent: a request must name one (`agents.ownership: "explicit"`, several agents). */
    selectionRequired?: boolean
    /** What the API's own session keys start with after the agent: `openai`, `openresponses`. */
    sessionPrefix?: string
    /**
     * The API key of the request: only its agents may answer (403 for another), and its
     * sessions live under `agent:<id>:key:<keyId>:`, apart from everyone else's.
     */
    key?: ApiKey
  } = {}
): Route => {
  const shown = key?.agents ? agents.filter((a) => mayUseAgent(key, a.id)) : agents
  const headerAgent = (
    headers.get('x-openclaw-agent-id') ?? headers.get('x-openclaw-agent')
  )?.trim()
  let agentId: string
  if (headerAgent) {
    agentId = checkAgent(headerAgent.toLowerCase(), agents, null, shown)
  } else {
    const fromModel = agentFromModel(model)
    if (fromModel === null && fallbackAgent !== undefined) {
      agentId = fallbackAgent
    } else if (fromModel === null && selectionRequired) {
      // Which agents could answer, so the caller can pick one.
      throw badRequest(`${NO_OWNER}${agentList(shown)}`, 'model', 'agent_required')
    } else {
      agentId =
        fromModel === null ? defaultAgentId(agents) : checkAgent(fromModel, agents, 'model', shown)
    }
  }
  if (key && !mayUseAgent(key, agentId)) {
    const use = shown.length ? ` Use ${shown.map((a) => `'openclaw/${a.id}'`).join(', ')}.` : ''
    throw new ApiError(403, `API key '${key.id}' may not use agent '${agentId}'.${use}`, {
      code: 'agent_not_allowed',
    })
  }
  // A key's sessions are its own: neither `user` nor the header reaches another caller's.
  const scope = key ? `agent:${agentId}:key:${key.id}:` : undefined

  let sessionKey = headers.get('x-openclaw-session-key')?.trim()
  if (sessionKey) {
    if (sessionKey.length > MAX_SESSION_KEY) {
      throw badRequest(`\`x-openclaw-session-key\` is longer than ${MAX_SESSION_KEY} characters.`)
    }
    if (isReserved(sessionKey)) throw badRequest(RESERVED_SESSION)
    // The key's own form (as its answers named it) is taken as it is.
    if (scope && !sessionKey.startsWith(scope)) sessionKey = scope + sessionKey
  } else if (user) {
    sessionKey = `${scope ?? `agent:${agentId}:`}${sessionPrefix}-user:${user.toLowerCase()}`
  } else {
    sessionKey = `${scope ?? `agent:${agentId}:`}${sessionPrefix}:${randomUuid()}`
  }

  const channel = headers.get('x-openclaw-message-channel')?.trim().toLowerCase()
  const messageChannel = channel && CHANNEL_PATTERN.test(channel) ? channel : 'webchat'

  const route: Route = { agentId, sessionKey, messageChannel }
  const override = headers.get('x-openclaw-model')?.trim()
  if (override !== undefined && override !== '') {
    const [provider, ...rest] = override.split('/')
    const modelId = rest.join('/')
    if (/\s/.test(override) || !provider || (override.includes('/') && !modelId)) {
      throw badRequest('Invalid `x-openclaw-model`.')
    }
    route.modelOverride = override
  }
  return route
}
