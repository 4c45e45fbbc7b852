/**
 * Client tools and `tool_choice`, the same for both APIs: `none` hides the tools, `required` and
 * a named function add an instruction to the system prompt and are checked after the run (the
 * gateway's way: the agent cannot be forced, only told, then held to it).
 */
import type { AgentEvent, ClientTool, ToolCall, ToolChoice } from '../backend.ts'
import { ApiError, badRequest } from './errors.ts'

export interface ToolChoiceResolution {
  /** The tools the agent gets (narrowed by `tool_choice`; empty for `none`). */
  clientTools: ClientTool[]
  toolChoice?: ToolChoice
  /** The system instruction `tool_choice` adds (required or a named function). */
  toolInstruction?: string
}

const TOOLS = 'Invalid tools/tool_choice: '

/**
 * Reads `tool_choice` against the offered tools. A named function may be given as chat has it
 * (`{type, function: {name}}`) or as the Responses API does (`{type, name}`).
 * @throws {ApiError} 400 for a choice that cannot be met
 */
export const resolveToolChoice = (raw: unknown, tools: ClientTool[]): ToolChoiceResolution => {
  const fail = (detail: string) => badRequest(TOOLS + detail, 'tool_choice')
  if (raw === undefined || raw === 'auto') {
    return { clientTools: tools, toolChoice: tools.length ? 'auto' : undefined }
  }
  if (raw === 'none') return { clientTools: [], toolChoice: 'none' }
  if (raw === 'required') {
    if (!tools.length) throw fail('tool_choice=required but no tools were provided')
    return {
      clientTools: tools,
      toolChoice: 'required',
      toolInstruction: 'You must call one of the available tools before responding.',
    }
  }
  if (typeof raw === 'string') throw fail('unsupported tool_choice type')
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw fail('tool_choice must be a string or object')
  }
  const choice = raw as { type?: unknown; name?: unknown; function?: { name?: unknown } }
  if (choice.type !== 'function') {
    throw fail(
      typeof choice.type === 'string'
        ? `tool_choice ${choice.type} is not supported`
        : 'unsupported tool_choice type'
    )
  }
  const given = choice.function?.name ?? choice.name
  const name = typeof given === 'string' ? given.trim() : ''
  if (!name) throw fail('tool_choice.function.name is required')
  const tool = tools.find((t) => t.function.name === name)
  if (!tool) throw fail(`tool_choice requested unknown tool: ${name}`)
  return {
    clientTools: [tool],
    toolChoice: { type: 'function', function: { name } },
    toolInstruction: `You must call the ${name} tool before responding.`,
  }
}

/** Whether prose must wait until the end: a constrained choice may still fail the answer. */
export const holdsText = (choice: ToolChoice | undefined) =>
  choice !== undefined && choice !== 'auto' && choice !== 'none'

/**
 * A failed turn is not retried by the client's SDK (the `openai` SDKs honour `x-should-retry`):
 * the agent already ran, with whatever its tools did, and another run costs as much again. Only
 * a rate limit or an unavailable upstream, which say to come back later, are left retryable.
 */
const runFailure = (status: number, message: string, code: string | null = null) =>
  new ApiError(status, message, {
    code,
    headers:
      // The turn never ran: its session lock was out of reach, as any store outage answers.
      code === 'store_unavailable'
        ? { 'retry-after': '1' }
        : status === 429 || status === 503
          ? {}
          : { 'x-should-retry': 'false' },
  })

/** A named or required `tool_choice` the agent did not honour: said after the run, as 502. */
export const unmetToolChoice = (choice: ToolChoice | undefined, toolCalls: ToolCall[]) => {
  if (!choice || choice === 'auto' || choice === 'none') return undefined
  if (choice === 'required') {
    if (toolCalls.length) return undefined
    return runFailure(502, 'tool_choice=required was not satisfied by the agent response')
  }
  // A pinned function is met only by a call to that very function.
  const { name } = choice.function
  if (toolCalls.some((c) => c.name === name)) return undefined
  return runFailure(
    502,
    `tool_choice required a ${name} tool call, but the agent did not produce one`
  )
}

/** The error a failed turn answers with (before its first byte; after, the stream says it). */
export const errorFromEvent = (e: Extract<AgentEvent, { type: 'error' }>) =>
  runFailure(e.status ?? 502, e.message, e.code ?? null)

/** How long a streamed piece of a tool call's arguments may be, in UTF-16 units. */
const ARGUMENT_PIECE = 256

/**
 * A tool call's arguments in the pieces both APIs stream them in, never splitting a surrogate
 * pair (a client could not decode half of one). Empty arguments make no pieces.
 */
export const argumentPieces = (text: string): string[] => {
  const out: string[] = []
  for (let i = 0; i < text.length;) {
    let end = Math.min(i + ARGUMENT_PIECE, text.length)
    const last = text.charCodeAt(end - 1)
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
    out.push(text.slice(i, end))
    i = end
  }
  return out
}
