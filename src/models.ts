/** `/v1/models`: the agents, as model ids a client can pick. */
import { AGENT_ID_PATTERN, defaultAgentId, type AgentInfo } from './config.ts'
import { mayUseAgent, type ApiKey } from './core/api-keys.ts'
import { ApiError, badRequest } from './core/errors.ts'

/**
 * A model object. `permission: []` is not in OpenAI's spec any more (dropped in 2023), but the
 * gateway sends it and clients written against the old API require it: aallam/openai-kotlin
 * 3.5.0 fails without it ("Field 'permission' is required"), OpenAI-Pharo still expects it.
 * The spec's `Model` does not forbid extra keys, so it costs nothing.
 */
const model = (id: string) => ({
  id,
  object: 'model',
  created: 0,
  owned_by: 'openclaw',
  permission: [],
})

/**
 * `openclaw`, `openclaw/default`, the default agent, then every agent; no duplicates. For an API
 * key, only the agents it may use (the first three only when it may use the default agent).
 */
export const listModels = (agents: AgentInfo[], key?: ApiKey) => {
  const fallback = defaultAgentId(agents)
  const ids = new Set<string>()
  if (!key || mayUseAgent(key, fallback)) {
    for (const id of ['openclaw', 'openclaw/default', `openclaw/${fallback}`]) ids.add(id)
  }
  for (const agent of agents) {
    if (!key || mayUseAgent(key, agent.id)) ids.add(`openclaw/${agent.id}`)
  }
  return { object: 'list', data: [...ids].map(model) }
}

const notFound = (id: string) =>
  new ApiError(404, `Model '${id}' not found.`, { code: 'model_not_found' })

/**
 * One model by its (URL-encoded) id.
 * @throws {ApiError} 400 for a malformed id, 404 for an agent that does not exist (or that the
 *   API `key` may not use: to it, the agent does not exist)
 */
export const getModel = (encodedId: string, agents: AgentInfo[], key?: ApiKey) => {
  let id: string
  try {
    id = decodeURIComponent(encodedId).trim()
  } catch {
    throw badRequest('Invalid model id encoding.')
  }
  if (!id) throw badRequest('Missing model id.')
  const lower = id.toLowerCase()
  if (lower === 'openclaw' || lower === 'openclaw/default') {
    if (key && !mayUseAgent(key, defaultAgentId(agents))) throw notFound(id)
    return model(lower)
  }
  const agent = /^(?:openclaw\/|openclaw:|agent:)(.+)$/.exec(lower)?.[1]
  if (!agent || !AGENT_ID_PATTERN.test(agent)) throw badRequest('Invalid model id.')
  if (!agents.some((a) => a.id === agent) || (key && !mayUseAgent(key, agent))) throw notFound(id)
  return model(`openclaw/${agent}`)
}
