/** The one `AgentRunInput` a turn gets, from what each API read out of its wire format. */
import type {
  AgentRunInput,
  ClientTool,
  ImageInput,
  NormalizedMessage,
  StreamParams,
  ToolChoice,
} from '../backend.ts'
import type { Prompt } from './prompt.ts'
import type { Route } from './routing.ts'

export interface RunInputParts {
  runId: string
  route: Route
  prompt: Prompt
  images: ImageInput[]
  messages: NormalizedMessage[]
  request: {
    clientTools: ClientTool[]
    toolChoice?: ToolChoice
    streamParams: StreamParams
    user?: string
  }
  /** The caller holds `operator.admin`. */
  owner: boolean
}

export const runInput = ({
  runId,
  route,
  prompt,
  images,
  messages,
  request,
  owner,
}: RunInputParts): AgentRunInput => {
  const input: AgentRunInput = {
    runId,
    agentId: route.agentId,
    sessionKey: route.sessionKey,
    messageChannel: route.messageChannel,
    message: prompt.message,
    images,
    messages,
    clientTools: request.clientTools,
    toolChoice: request.toolChoice,
    streamParams: request.streamParams,
    senderIsOwner: owner,
  }
  // Set only when present (a `delete` would turn the object into a slow dictionary).
  if (prompt.extraSystemPrompt !== undefined) input.extraSystemPrompt = prompt.extraSystemPrompt
  if (request.user !== undefined) input.user = request.user
  if (route.modelOverride !== undefined) input.modelOverride = route.modelOverride
  return input
}
