/** `/v1/models`: the agents, as model ids a client can pick. */
import { AGENT_ID_PATTERN, defaultAgentId, type AgentInfo } from './config.ts'
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

/** `openclaw`, `openclaw/default`, the default agent, then every agent; no duplicates. */
export const listModels = (agents: AgentInfo[]) => {
  const ids = new Set(['openclaw', 'openclaw/default', `openclaw/${defaultAgentId(agents)}`])
  for (const agent of agents) ids.add(`openclaw/${agent.id}`)
  return { object: 'list', data: [...ids].map(model) }
}

/**
 * One model by its (URL-encoded) id.
 * @throws {ApiError} 400 for a malformed id, 404 for an agent that does not exist
 */
export const getModel = (encodedId: string, agents: AgentInfo[]) => {
  let id: string
  try {
    id = decodeURIComponent(encodedId).trim()
  } catch {
    throw badRequest('Invalid model id encoding.')
  }
  if (!id) throw badRequest('Missing model id.')
  const lower = id.toLowerCase()
  if (lower === 'openclaw' || lower === 'openclaw/default') return model(lower)
  const agent = /^(?:openclaw\/|openclaw:|agent:)(.+)$/.exec(lower)?.[1]
  if (!agent || !AGENT_ID_PATTERN.test(agent)) throw badRequest('Invalid model id.')
  if (!agents.some((a) => a.id === agent)) {
    throw new ApiError(404, `Model '${id}' not found.`, { code: 'model_not_found' })
  }
  return model(`openclaw/${agent}`)
}
