/**
 * The gateway backend: each turn goes to an OpenClaw Gateway over its WebSocket protocol, on one
 * shared connection. Text streams from the run's `agent` events; the turn's result (payloads,
 * stop reason, pending client tool calls, usage) comes from the `agent` request's second `res`.
 */
import type {
  AgentBackend,
  AgentEvent,
  AgentInfo,
  AgentRunInput,
  AgentUsage,
  BackendRuntime,
  StopReason,
  ToolCall,
} from '../backend.ts'
import { AGENT_ID_PATTERN, type GatewayBackendConfig } from '../config.ts'
import { ApiError } from '../core/errors.ts'
import { VERSION } from '../version.ts'
import { loadDeviceState, type DeviceState } from './device-identity.ts'
import {
  GatewayConnection,
  GatewayError,
  MEMBER_SCOPES,
  OWNER_SCOPES,
  type ConnectionOptions,
  type GatewaySocket,
  type RunWatcher,
} from './gateway-connection.ts'

export type GatewayBackendOptions = Omit<
  GatewayBackendConfig,
  'type' | 'url' | 'connectTimeoutMs' | 'clientTools'
> &
  Partial<Pick<GatewayBackendConfig, 'url' | 'connectTimeoutMs' | 'clientTools'>> &
  BackendRuntime & {
    /**
     * `client.id` / `client.mode` sent in `connect` (default `gateway-client` / `backend`, the
     * gateway's own id for backend clients, which it also trusts on loopback without pairing).
     */
    client?: { id: string; mode: string }
    /** How long an auth rejection is reported without reconnecting (default 10 000 ms). */
    authRetryMs?: number
    /** How long the agent list is reused before asking the gateway again (default 5 000 ms). */
    agentsCacheMs?: number
  }

type ErrorEvent = Extract<AgentEvent, { type: 'error' }>

const errorEvent = (err: unknown): ErrorEvent => {
  if (err instanceof GatewayError) return { type: 'error', message: err.message, status: 502 }
  return { type: 'error', message: `The gateway failed: ${String(err)}`, status: 502 }
}

/** The message a failed `agent` request carries, from its `error` or its payload's summary. */
const turnFailure = (err: unknown): ErrorEvent => {
  if (err instanceof GatewayError) return errorEvent(err)
  const e = err as { wire?: { message?: string }; payload?: { summary?: string }; message?: string }
  const message = e?.wire?.message ?? e?.payload?.summary ?? e?.message ?? 'the agent run failed'
  return { type: 'error', message, status: 502 }
}

const num = (...values: unknown[]) => {
  for (const v of values) if (typeof v === 'number' && Number.isFinite(v)) return v
  return undefined
}

/** Usage as the gateway reports it (result meta or a `usage` event), in our shape. */
const toUsage = (raw: unknown): AgentUsage | undefined => {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, unknown>
  const usage: AgentUsage = {
    input: num(u.input, u.inputTokens, u.promptTokens),
    output: num(u.output, u.outputTokens, u.completionTokens),
    cacheRead: num(u.cacheRead, u.cacheReadTokens),
    cacheWrite: num(u.cacheWrite, u.cacheWriteTokens),
    total: num(u.total, u.totalTokens),
  }
  for (const k of Object.keys(usage) as (keyof AgentUsage)[])
    if (usage[k] === undefined) delete usage[k]
  return Object.keys(usage).length ? usage : undefined
}

const toStopReason = (raw: unknown, hasToolCalls: boolean): StopReason => {
  if (hasToolCalls) return 'tool_calls'
  const r = String(raw ?? '').toLowerCase()
  if (r === 'length' || r === 'max_tokens' || r === 'maxtokens') return 'length'
  return 'stop'
}

const toToolCalls = (raw: unknown): ToolCall[] => {
  if (!Array.isArray(raw)) return []
  const calls: ToolCall[] = []
  for (const c of raw) {
    const id = c?.id ?? c?.toolCallId
    const name = c?.name ?? c?.function?.name
    const args = c?.arguments ?? c?.function?.arguments ?? c?.args ?? {}
    if (typeof id !== 'string' || !id || typeof name !== 'string' || !name) continue
    calls.push({ id, name, arguments: typeof args === 'string' ? args : JSON.stringify(args) })
  }
  return calls
}

/** Our events for the turn's final `res` payload. */
const resultEvents = (payload: any, eventUsage: AgentUsage | undefined): AgentEvent[] => {
  const result = payload?.result ?? {}
  const meta = result.meta ?? {}
  const texts: string[] = (Array.isArray(result.payloads) ? result.payloads : [])
    .map((p: { text?: unknown }) => p?.text)
    .filter((t: unknown): t is string => typeof t === 'string' && t !== '')
  const calls = toToolCalls(meta.pendingToolCalls ?? result.pendingToolCalls)
  const stopReason = toStopReason(
    meta.stopReason ?? result.stopReason ?? result.completion?.stopReason,
    calls.length > 0
  )
  const usage = toUsage(meta.agentMeta?.usage) ?? eventUsage
  const events: AgentEvent[] = []
  if (calls.length) events.push({ type: 'tool_calls', calls })
  if (usage) events.push({ type: 'usage', usage })
  events.push({ type: 'done', text: texts.length ? texts.join('\n\n') : undefined, stopReason })
  return events
}

/**
 * The `agent` params: only keys the gateway's schema (additionalProperties:false) accepts, and
 * what its own HTTP endpoint sets for a turn: the message channel (without it the agent gets no
 * channel and a shorter prompt) and the model override.
 */
const agentParams = (input: AgentRunInput) => ({
  message: input.message,
  idempotencyKey: input.runId,
  agentId: input.agentId,
  sessionKey: input.sessionKey,
  channel: input.messageChannel,
  ...(input.modelOverride !== undefined && { model: input.modelOverride }),
  ...(input.extraSystemPrompt !== undefined && { extraSystemPrompt: input.extraSystemPrompt }),
  ...(input.images.length > 0 && {
    attachments: input.images.map((img) => ({
      type: 'image',
      mimeType: img.mimeType,
      content: img.data,
    })),
  }),
  deliver: false,
})

type Item =
  | { kind: 'event'; payload: any }
  | { kind: 'final'; payload: any }
  | { kind: 'fail'; err: unknown }
  | { kind: 'abort' }

/** A small unbounded queue the socket pushes into and the turn's generator pulls from. */
const itemQueue = () => {
  const items: Item[] = []
  let wake: (() => void) | undefined
  return {
    push(item: Item) {
      items.push(item)
      wake?.()
      wake = undefined
    },
    async next(): Promise<Item> {
      while (!items.length) await new Promise<void>((r) => (wake = r))
      return items.shift()!
    },
  }
}

const platform = () => {
  const p = (globalThis as { process?: { platform?: unknown } }).process?.platform
  return typeof p === 'string' && p ? p : 'web'
}

const agentsFrom = (payload: any): AgentInfo[] => {
  const list: unknown[] = Array.isArray(payload?.agents)
    ? payload.agents
    : Array.isArray(payload)
      ? payload
      : []
  const defaultId = typeof payload?.defaultId === 'string' ? payload.defaultId.toLowerCase() : ''
  const agents: AgentInfo[] = []
  for (const raw of list) {
    const a = raw as { id?: unknown; agentId?: unknown; name?: unknown; identity?: any }
    const id = String(a?.id ?? a?.agentId ?? '').toLowerCase()
    if (!AGENT_ID_PATTERN.test(id) || agents.some((x) => x.id === id)) continue
    const name = typeof a.name === 'string' ? a.name : a.identity?.name
    agents.push({
      id,
      ...(typeof name === 'string' && name && { name }),
      ...((id === defaultId || (raw as { isDefault?: unknown }).isDefault === true) && {
        default: true,
      }),
    })
  }
  return agents
}

/** Creates the gateway backend. Nothing connects until the first turn or agent listing. */
export const gatewayBackend = (options: GatewayBackendOptions): AgentBackend => {
  const url = options.url ?? 'ws://127.0.0.1:18789'
  const connectTimeoutMs = options.connectTimeoutMs ?? 15_000
  const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket
  let device: Promise<DeviceState> | undefined
  const connectionOptions: Omit<ConnectionOptions, 'scopes'> = {
    url,
    token: options.token,
    password: options.password,
    connectTimeoutMs,
    WebSocket: WebSocketImpl,
    client: {
      id: options.client?.id ?? 'gateway-client',
      mode: options.client?.mode ?? 'backend',
      version: VERSION,
      platform: platform(),
      deviceFamily: '',
    },
    device: () => {
      device ??= loadDeviceState(options.deviceIdentity, options.store)
      // A failed load (a bad JWK, an unreadable file) is retried on the next connect.
      device.catch(() => (device = undefined))
      return device
    },
    authRetryMs: options.authRetryMs,
    logger: options.logger,
    events: options.events,
  }
  // Owner turns and the rest go over connections with and without `operator.admin`: the gateway
  // reads a turn's owner from its connection. Each opens on its first use.
  const connection = new GatewayConnection({
    ...connectionOptions,
    scopes: OWNER_SCOPES,
    name: 'owner',
  })
  const memberConnection = new GatewayConnection({
    ...connectionOptions,
    scopes: MEMBER_SCOPES,
    name: 'member',
  })

  let agentsCache: { socket: GatewaySocket; at: number; agents: Promise<AgentInfo[]> } | undefined
  const agentsCacheMs = options.agentsCacheMs ?? 5_000

  return {
    name: 'gateway',
    // The gateway's `agent` method has no field for client tools (its schema is closed), so
    // they could never reach the agent: better a clear 400 than an agent calling unknown tools,
    // unless the config says to leave them out (`agentParams` never sends them).
    capabilities: { clientTools: options.clientTools === 'ignore' },

    async listAgents() {
      let socket: GatewaySocket
      try {
        socket = await connection.socket()
      } catch (err) {
        throw new ApiError(502, errorEvent(err).message)
      }
      // Without `agents.list` the gateway's default agent is all we can name.
      if (socket.methods.size && !socket.methods.has('agents.list'))
        return [{ id: 'main', default: true }]
      const cached = agentsCache
      if (cached && cached.socket === socket && Date.now() - cached.at < agentsCacheMs)
        return cached.agents
      const agents = socket
        .request('agents.list', {}, { timeoutMs: connectTimeoutMs })
        .then(agentsFrom)
      agentsCache = { socket, at: Date.now(), agents }
      try {
        const list = await agents
        return list.length ? list : [{ id: 'main', default: true }]
      } catch (err) {
        if (agentsCache?.agents === agents) agentsCache = undefined
        throw new ApiError(
          502,
          `The gateway could not list its agents: ${turnFailure(err).message}`
        )
      }
    },

    async *run(input, signal) {
      if (signal.aborted) return
      const queue = itemQueue()
      const onAbort = () => queue.push({ kind: 'abort' })
      signal.addEventListener('abort', onAbort, { once: true })
      let socket: GatewaySocket | undefined
      let unwatch: (() => void) | undefined
      const dropRequest = new AbortController()
      // Until the final `res` (or the socket's loss) the run is live on the gateway.
      let live = false
      try {
        ;(input.senderIsOwner ? connection : memberConnection).socket().then(
          (s) => queue.push({ kind: 'final', payload: s }),
          (err) => queue.push({ kind: 'fail', err })
        )
        const first = await queue.next()
        if (first.kind === 'abort') return
        if (first.kind === 'fail') {
          yield errorEvent(first.err)
          return
        }
        socket = first.payload as GatewaySocket
        const watcher: RunWatcher = {
          onEvent: (payload) => queue.push({ kind: 'event', payload }),
          onLost: (err) => queue.push({ kind: 'fail', err }),
        }
        unwatch = socket.watchRun(input.runId, watcher)
        live = true
        socket
          .request('agent', agentParams(input), { onAck: () => {}, signal: dropRequest.signal })
          .then(
            (payload) => queue.push({ kind: 'final', payload }),
            (err) => queue.push({ kind: 'fail', err })
          )

        let streamed = ''
        let itemId: unknown
        let eventUsage: AgentUsage | undefined
        for (;;) {
          const item = await queue.next()
          if (item.kind === 'abort') return
          if (item.kind === 'fail') {
            live = false
            yield turnFailure(item.err)
            return
          }
          if (item.kind === 'final') {
            live = false
            const status = item.payload?.status
            if (status === 'error' || status === 'timeout') {
              yield {
                type: 'error',
                message: item.payload?.summary || `the agent run ended with ${status}`,
                status: 502,
              }
              return
            }
            yield* resultEvents(item.payload, eventUsage)
            return
          }
          const { stream, data } = item.payload ?? {}
          if (stream === 'assistant' && data) {
            let delta: string | undefined
            if (typeof data.delta === 'string') delta = data.delta
            else if (typeof data.text === 'string' && data.text.startsWith(streamed))
              delta = data.text.slice(streamed.length)
            if (!delta) continue
            // A new assistant message: the final text joins payloads with a blank line, so
            // the stream does too.
            if (data.itemId !== undefined && itemId !== undefined && data.itemId !== itemId)
              delta = `\n\n${delta}`
            if (data.itemId !== undefined) itemId = data.itemId
            streamed += delta
            yield { type: 'text', delta }
          } else if (stream === 'usage') {
            eventUsage = toUsage(data) ?? eventUsage
          }
        }
      } finally {
        signal.removeEventListener('abort', onAbort)
        unwatch?.()
        dropRequest.abort()
        // The client went away (or the consumer stopped): stop the run on the gateway too.
        if (live && socket) socket.abortRun(input.runId, input.sessionKey)
      }
    },

    async close() {
      await Promise.all([connection.close(), memberConnection.close()])
    },
  }
}
