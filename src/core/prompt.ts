/**
 * Messages → the single prompt a gateway agent receives, byte for byte as the reference gateway
 * builds it for both APIs: system text apart, history as `Sender: body` lines between two
 * markers.
 */
import type { NormalizedMessage } from '../backend.ts'
import { badRequest } from './errors.ts'

export const HISTORY_MARKER = '[Chat messages since your last reply - for context]'
export const CURRENT_MARKER = '[Current message - respond to this]'
export const IMAGE_ONLY_PLACEHOLDER = 'User sent image(s) with no text.'
export const FILE_ONLY_PLACEHOLDER = 'User sent file(s) with no text.'
/** What an answer says when the agent said nothing. */
export const NO_RESPONSE = 'No response from OpenClaw.'

export interface Prompt {
  message: string
  extraSystemPrompt?: string
  /** Index in `messages` of the current (last user-or-tool) message, or -1. */
  currentIndex: number
}

interface Entry {
  role: 'user' | 'assistant' | 'tool'
  sender: string
  body: string
}

/** Index of the last user-or-tool message: the turn the agent answers. */
export const currentTurnIndex = (messages: NormalizedMessage[]): number =>
  messages.findLastIndex((m) => m.role === 'user' || m.role === 'tool')

const senderOf = (m: NormalizedMessage): string => {
  if (m.role === 'user') return 'User'
  if (m.role === 'assistant') return 'Assistant'
  const id = m.toolCallId ?? m.name
  return id ? `Tool:${id}` : 'Tool'
}

const bodyOf = (m: NormalizedMessage, isCurrent: boolean): string => {
  let body = m.text
  if (m.role === 'assistant' && m.toolCalls?.length) {
    const lines = m.toolCalls.map(
      (c) => `tool_call id=${c.id} name=${c.name} arguments=${c.arguments}`
    )
    body = [body, ...lines].filter(Boolean).join('\n')
  }
  if (!body && isCurrent && m.role === 'user') {
    if (m.imageUrls?.length) return IMAGE_ONLY_PLACEHOLDER
    if (m.files) return FILE_ONLY_PLACEHOLDER
  }
  return body
}

export interface PromptOptions {
  /** System text after the messages' own (a tool_choice instruction, files' contents). */
  extraSystem?: string[]
  /** The field the conversation came in, for the 400 when nothing is left to say. */
  field?: 'messages' | 'input'
  /**
   * A tool result with no history keeps its `Tool:<id>: ` label (the gateway's Responses
   * endpoint does this; its chat endpoint sends the bare body).
   */
  labelLoneTool?: boolean
}

/**
 * Flattens the conversation.
 * @throws {ApiError} 400 ``Missing user message in `messages`.`` when nothing is left to say
 */
export const buildPrompt = (
  messages: NormalizedMessage[],
  { extraSystem = [], field = 'messages', labelLoneTool = false }: PromptOptions = {}
): Prompt => {
  const missing = () => badRequest(`Missing user message in \`${field}\`.`, field)
  const system: string[] = []
  const entries: Entry[] = []
  const currentIndex = currentTurnIndex(messages)
  messages.forEach((m, i) => {
    if (m.role === 'system' || m.role === 'developer') {
      if (m.text) system.push(m.text)
      return
    }
    const body = bodyOf(m, i === currentIndex)
    // An empty tool result still answers a call, so it stays when it names the call.
    if (!body && !(m.role === 'tool' && m.toolCallId)) return
    entries.push({ role: m.role, sender: senderOf(m), body })
  })
  for (const text of extraSystem) if (text) system.push(text)
  const extraSystemPrompt = system.length ? system.join('\n\n') : undefined

  // The last user-or-tool *entry* (an empty last message was dropped above); else the last entry.
  let currentEntry = entries.findLastIndex((e) => e.role === 'user' || e.role === 'tool')
  if (currentEntry === -1) currentEntry = entries.length - 1
  if (currentEntry === -1) throw missing()

  const current = entries[currentEntry]
  const history = entries.slice(0, currentEntry)
  const message = history.length
    ? [
        HISTORY_MARKER,
        history.map((e) => `${e.sender}: ${e.body}`).join('\n'),
        '',
        CURRENT_MARKER,
        `${current.sender}: ${current.body}`,
      ].join('\n')
    : labelLoneTool && current.role === 'tool'
      ? `${current.sender}: ${current.body}`
      : current.body
  if (!message.trim()) throw missing()
  return { message, extraSystemPrompt, currentIndex }
}
