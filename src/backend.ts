/** The plug point: what an agent runtime receives for one turn and what it yields back. */
import type { AgentInfo } from './config.ts'

export type { AgentInfo }

/** A message as the client sent it, normalised: roles kept, text and images kept apart. */
export interface NormalizedMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool'
  /** The text of the message (text parts joined by a newline), or '' when there is none. */
  text: string
  /** Image parts as sent (data URIs or URLs); only the current turn's are validated and decoded. */
  imageUrls?: string[]
  /** How many files the message carried (the current turn's text goes to the system prompt). */
  files?: number
  name?: string
  toolCallId?: string
  toolCalls?: ToolCall[]
}

export interface ToolCall {
  id: string
  name: string
  /** JSON text, as OpenAI sends it. */
  arguments: string
}

export interface ClientTool {
  type: 'function'
  function: {
    name: string
    description?: string
    parameters?: Record<string, unknown>
    strict?: boolean
  }
}

export type ToolChoice =
  'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } }

export interface ImageInput {
  type: 'image'
  /** Base64 of the decoded bytes. */
  data: string
  mimeType: string
}

export interface StreamParams {
  maxTokens?: number
  temperature?: number
  topP?: number
  frequencyPenalty?: number
  presencePenalty?: number
  seed?: number
  stop?: string[]
  responseFormat?: Record<string, unknown>
}

export interface AgentRunInput {
  /** Unique per request; also the completion id. A backend may use it as an idempotency key. */
  runId: string
  agentId: string
  sessionKey: string
  messageChannel: string
  /** The prompt a gateway agent receives: the conversation flattened to one text. */
  message: string
  /** System and developer text, joined by a blank line. */
  extraSystemPrompt?: string
  images: ImageInput[]
  /** The structured messages, for backends that keep roles (system and developer included). */
  messages: NormalizedMessage[]
  /** Tools the client offered (already narrowed by `tool_choice`; empty for `none`). */
  clientTools: ClientTool[]
  toolChoice?: ToolChoice
  /** The `x-openclaw-model` header, as sent. */
  modelOverride?: string
  streamParams: StreamParams
  user?: string
  /**
   * The caller holds `operator.admin` (every shared-secret caller does): the gateway gives such
   * "owner" turns its owner-only tools; a backend that has the notion should honour it.
   */
  senderIsOwner: boolean
}

/** Token counts as an agent runtime reports them; any may be missing or non-finite. */
export interface AgentUsage {
  input?: number
  output?: number
  cacheRead?: number
  cacheWrite?: number
  total?: number
}

export type StopReason = 'stop' | 'length' | 'tool_calls'

export type AgentEvent =
  /** Assistant text, appended to what came before. */
  | { type: 'text'; delta: string }
  /** Client tool calls the agent wants the caller to run. */
  | { type: 'tool_calls'; calls: ToolCall[] }
  | { type: 'usage'; usage: AgentUsage }
  /**
   * The turn's result. `text` is the final text, used when no deltas were streamed (and for
   * non-stream answers when given). The iterator should end after it.
   */
  | { type: 'done'; text?: string; stopReason?: StopReason }
  /**
   * The turn failed with a message the client may see. `status` applies only before any output
   * (default 502).
   */
  | { type: 'error'; message: string; status?: number; code?: string }

export interface AgentBackend {
  /** Runs one agent turn. Yields events until the turn ends; stops promptly when `signal` aborts. */
  run(input: AgentRunInput, signal: AbortSignal): AsyncIterable<AgentEvent>
  /** Optional: agents this backend serves (for /v1/models and unknown-agent checks). */
  listAgents?(): Promise<AgentInfo[]>
  /** Optional: a short name for logs and the start-up line. */
  readonly name?: string
  /** Optional: releases connections and timers (called when the server shuts down). */
  close?(): Promise<void>
  /** Optional: what the backend cannot do, so the app refuses such requests up front. */
  readonly capabilities?: {
    /** False when client `tools` cannot reach the agent (the request then gets a 400). */
    clientTools?: boolean
  }
}

/** Small persistent state a backend may keep (a device identity, a device token). */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>
  set(key: string, value: string): Promise<void>
}

/** The WebSocket constructor a backend may use (the browser API; the `ws` package fits it). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket

/** What a runtime entry lends the backends: things the Web-standard core cannot assume. */
export interface BackendRuntime {
  /** Default: `globalThis.WebSocket` (Node 20 has none; the Node entry passes `ws`). */
  WebSocket?: WebSocketConstructor
  /** Where state survives restarts; absent means memory only (e.g. on Workers). */
  store?: KeyValueStore
  /** Default: `globalThis.fetch`. */
  fetch?: typeof fetch
  logger?: { info(m: string): void; warn(m: string): void; error(m: string, err?: unknown): void }
  /** Where a backend reports on its connections (metrics); absent: nobody listens. */
  events?: BackendEvents
}

export type ConnectionState = 'connecting' | 'open' | 'closed'

/** What a backend with long-lived connections (the gateway's) reports, for metrics. */
export interface BackendEvents {
  /** A connection (`connection` names which) changed state. */
  connectionState?(connection: string, state: ConnectionState): void
  /** A connection was opened again after an earlier one had been open. */
  reconnected?(connection: string): void
}
