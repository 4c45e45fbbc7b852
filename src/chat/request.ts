/**
 * The request body: a valibot schema, then a plain `ChatRequest` the rest of the app works on.
 * Every 400 names the offending field in `param` (e.g. `messages[2].content`).
 */
import * as v from 'valibot'
import type {
  ClientTool,
  NormalizedMessage,
  StreamParams,
  ToolCall,
  ToolChoice,
} from '../backend.ts'
import { badRequest } from '../core/errors.ts'
import { resolveToolChoice, type ToolChoiceResolution } from '../core/tools.ts'
import { toBadRequest } from '../core/validation.ts'

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const
const MISSING_USER_MESSAGE = 'Missing user message in `messages`.'

const finiteNumber = (name: string) =>
  v.pipe(
    v.number(`\`${name}\` must be a finite number.`),
    v.finite(`\`${name}\` must be a finite number.`)
  )

const inRange = (name: string, min: number, max: number, text: string) =>
  v.pipe(
    finiteNumber(name),
    v.minValue(min, `\`${name}\` must be between ${text}.`),
    v.maxValue(max, `\`${name}\` must be between ${text}.`)
  )

const tokenCap = (name: string) =>
  v.pipe(
    v.number(`${name} must be a positive safe integer`),
    v.safeInteger(`${name} must be a positive safe integer`),
    v.minValue(1, `${name} must be a positive safe integer`)
  )

const TOOLS = 'Invalid tools/tool_choice: '

const ContentPart = v.variant(
  'type',
  [
    v.looseObject({
      type: v.literal('text'),
      text: v.string('A text part needs a string `text`.'),
    }),
    v.looseObject({
      type: v.literal('input_text'),
      text: v.string('An input_text part needs a string `text`.'),
    }),
    v.looseObject({
      type: v.literal('image_url'),
      image_url: v.union(
        [v.string(), v.looseObject({ url: v.string() })],
        'An image_url part needs `image_url` as a URL string or an object with a string `url`.'
      ),
    }),
    v.looseObject({ type: v.literal('refusal'), refusal: v.string() }),
  ],
  (issue) =>
    `Unsupported content part type ${issue.received}; supported: text, input_text, image_url, refusal.`
)

const Message = v.looseObject(
  {
    role: v.picklist(
      ROLES,
      'Invalid role: expected one of system, developer, user, assistant, tool, function.'
    ),
    content: v.nullish(
      v.union(
        [v.string(), v.array(ContentPart)],
        'Message content must be a string, null, or an array of content parts.'
      )
    ),
    name: v.nullish(v.string('`name` must be a string.')),
    tool_call_id: v.nullish(v.string('`tool_call_id` must be a string.')),
    tool_calls: v.nullish(v.array(v.unknown(), '`tool_calls` must be an array.')),
  },
  'Each message must be an object.'
)

const Tool = v.pipe(
  v.looseObject(
    {
      type: v.literal('function', `${TOOLS}only function tools are supported`),
      function: v.optional(
        v.looseObject(
          {
            // A missing name defaults to '' so it fails with the same message as a blank one.
            name: v.optional(
              v.pipe(
                v.string(`${TOOLS}tool.function.name is required`),
                v.trim(),
                v.nonEmpty(`${TOOLS}tool.function.name is required`)
              ),
              ''
            ),
            description: v.optional(v.unknown()),
            parameters: v.optional(v.unknown()),
            strict: v.optional(v.unknown()),
          },
          `${TOOLS}tool.function is required`
        )
      ),
    },
    `${TOOLS}each tool must be an object`
  ),
  v.check((tool) => tool.function !== undefined, `${TOOLS}tool.function is required`)
)

const STOP_TYPE = 'Invalid stop: stop must be a string or array of strings'

const Body = v.looseObject(
  {
    model: v.optional(v.string('`model` must be a string.')),
    messages: v.pipe(
      v.array(Message, '`messages` must be an array of message objects.'),
      v.minLength(1, MISSING_USER_MESSAGE)
    ),
    stream: v.optional(v.boolean('`stream` must be a boolean.')),
    stream_options: v.optional(
      v.looseObject(
        {
          include_usage: v.nullish(v.boolean('`stream_options.include_usage` must be a boolean.')),
        },
        '`stream_options` must be an object.'
      )
    ),
    user: v.optional(v.string('`user` must be a string.')),
    tools: v.optional(v.array(Tool, `${TOOLS}tools must be an array`)),
    tool_choice: v.optional(v.unknown()),
    max_completion_tokens: v.optional(tokenCap('max_completion_tokens')),
    max_tokens: v.optional(tokenCap('max_tokens')),
    temperature: v.optional(inRange('temperature', 0, 2, '0 and 2')),
    top_p: v.optional(inRange('top_p', 0, 1, '0 and 1')),
    frequency_penalty: v.optional(inRange('frequency_penalty', -2, 2, '-2.0 and 2.0')),
    presence_penalty: v.optional(inRange('presence_penalty', -2, 2, '-2.0 and 2.0')),
    seed: v.optional(v.pipe(finiteNumber('seed'), v.integer('`seed` must be an integer.'))),
    stop: v.optional(
      v.union(
        [
          v.pipe(v.string(), v.nonEmpty('Invalid stop: stop entries must be non-empty strings')),
          v.pipe(
            v.array(
              v.pipe(
                v.string('Invalid stop: stop entries must be non-empty strings'),
                v.nonEmpty('Invalid stop: stop entries must be non-empty strings')
              )
            ),
            v.maxLength(4, 'Invalid stop: stop supports at most 4 sequences')
          ),
        ],
        STOP_TYPE
      )
    ),
    response_format: v.optional(
      v.looseObject(
        {
          type: v.picklist(
            ['text', 'json_object', 'json_schema'],
            'Invalid response_format: response_format.type must be text, json_object, or json_schema'
          ),
        },
        'Invalid response_format: response_format must be an object'
      )
    ),
    n: v.optional(
      v.pipe(
        v.number('`n` must be an integer.'),
        v.integer('`n` must be an integer.'),
        v.minValue(1, '`n` must be 1.'),
        v.maxValue(1, 'Only one choice is supported: `n` must be 1.')
      )
    ),
  },
  'The request body must be a JSON object.'
)

/** The request as the app uses it, after validation. */
export interface ChatRequest extends ToolChoiceResolution {
  /** The request's `model` string, echoed in answers; `openclaw` when absent. */
  model: string
  modelGiven: boolean
  messages: NormalizedMessage[]
  /** Per message, the content-part index of each of its `imageUrls`. */
  imageParts: number[][]
  stream: boolean
  includeUsage: boolean
  user?: string
  streamParams: StreamParams
}

const partsText = (parts: v.InferOutput<typeof ContentPart>[]): string =>
  parts
    .filter((p) => p.type === 'text' || p.type === 'input_text')
    .map((p) => (p as { text: string }).text)
    .join('\n')

const imageUrlsOf = (content: unknown): string[] => {
  if (!Array.isArray(content)) return []
  const urls: string[] = []
  for (const part of content as v.InferOutput<typeof ContentPart>[]) {
    if (part.type !== 'image_url') continue
    urls.push((typeof part.image_url === 'string' ? part.image_url : part.image_url.url).trim())
  }
  return urls
}

/** Where each image sits among a message's content parts, for error `param`s. */
const imagePartIndexes = (content: unknown): number[] =>
  Array.isArray(content)
    ? content.flatMap((part: { type: string }, i) => (part.type === 'image_url' ? [i] : []))
    : []

const toolCallsOf = (raw: unknown[] | null | undefined): ToolCall[] => {
  const calls: ToolCall[] = []
  for (const item of raw ?? []) {
    if (!item || typeof item !== 'object') continue
    const { id, function: fn } = item as {
      id?: unknown
      function?: { name?: unknown; arguments?: unknown }
    }
    if (
      typeof id !== 'string' ||
      !id.trim() ||
      !fn ||
      typeof fn.name !== 'string' ||
      !fn.name.trim()
    )
      continue
    const args = fn.arguments
    calls.push({
      id: id.trim(),
      name: fn.name.trim(),
      arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
    })
  }
  return calls
}

const normalizeMessage = (m: v.InferOutput<typeof Message>): NormalizedMessage => {
  const role = m.role === 'function' ? 'tool' : m.role
  const content = m.content
  const text =
    typeof content === 'string' ? content : Array.isArray(content) ? partsText(content) : ''
  const out: NormalizedMessage = { role, text: text.trim() }
  const imageUrls = imageUrlsOf(content)
  if (imageUrls.length) out.imageUrls = imageUrls
  if (m.name) out.name = m.name
  // Legacy `function` messages name the function instead of giving a call id.
  const toolCallId = m.tool_call_id ?? (m.role === 'function' ? m.name : undefined)
  if (role === 'tool' && toolCallId) out.toolCallId = toolCallId
  if (role === 'assistant') {
    const toolCalls = toolCallsOf(m.tool_calls)
    if (toolCalls.length) out.toolCalls = toolCalls
  }
  return out
}

const normalizeTool = (t: v.InferOutput<typeof Tool>): ClientTool => {
  const fn = t.function!
  const out: ClientTool = { type: 'function', function: { name: fn.name } }
  if (typeof fn.description === 'string') out.function.description = fn.description
  if (fn.parameters && typeof fn.parameters === 'object' && !Array.isArray(fn.parameters)) {
    out.function.parameters = fn.parameters as Record<string, unknown>
  }
  if (typeof fn.strict === 'boolean') out.function.strict = fn.strict
  return out
}

const validate = (body: unknown) => {
  let input = body
  if (body && typeof body === 'object') {
    // SDKs send `null` for fields they leave unset: treat it as absent.
    input = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null))
  }
  const result = v.safeParse(Body, input)
  if (!result.success) {
    throw toBadRequest(result.issues[0], { messages: MISSING_USER_MESSAGE })
  }
  return result.output
}

const ROLE_SET = new Set<string>(ROLES)

/**
 * Whether the body is plain chat: `model`, `user` and `stream` of the right types, and messages
 * with a known role, string content and maybe a string name; nothing else, no `null`. Every such
 * body passes the schema unchanged, so it skips the schema, which is most of the cost of reading
 * a short request (bench/notes.md). Anything else, valid or not, takes the schema, which also
 * words the errors.
 */
const isPlainChat = (body: Record<string, unknown>): body is v.InferOutput<typeof Body> => {
  for (const key in body) {
    const value = body[key]
    if (key === 'model' || key === 'user') {
      if (typeof value !== 'string') return false
    } else if (key === 'stream') {
      if (typeof value !== 'boolean') return false
    } else if (key !== 'messages') return false
  }
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0) return false
  for (const message of messages) {
    if (!message || typeof message !== 'object' || Array.isArray(message)) return false
    for (const key in message) {
      const value = message[key]
      if (key === 'role') {
        if (typeof value !== 'string' || !ROLE_SET.has(value)) return false
      } else if (key !== 'content' && key !== 'name') return false
      else if (typeof value !== 'string') return false
    }
    if (typeof message.role !== 'string' || typeof message.content !== 'string') return false
  }
  return true
}

/** The defined entries of `object`, in a new object (a `delete` would make a slow dictionary). */
const definedOnly = <T extends object>(object: T): T => {
  const out = {} as Record<string, unknown>
  for (const key in object) if (object[key] !== undefined) out[key] = object[key]
  return out as T
}

/**
 * Validates a parsed JSON body.
 * @throws {ApiError} 400 with `param` naming the field
 */
export const parseChatRequest = (body: unknown): ChatRequest => {
  // valibot's object schemas accept arrays; a JSON array is not a request.
  if (Array.isArray(body)) throw badRequest('The request body must be a JSON object.')
  const object = body && typeof body === 'object' ? (body as Record<string, unknown>) : undefined
  const b = object && isPlainChat(object) ? object : validate(body)
  const stop = typeof b.stop === 'string' ? [b.stop] : b.stop
  const streamParams = definedOnly<StreamParams>({
    maxTokens: b.max_completion_tokens ?? b.max_tokens,
    temperature: b.temperature,
    topP: b.top_p,
    frequencyPenalty: b.frequency_penalty,
    presencePenalty: b.presence_penalty,
    seed: b.seed,
    stop,
    responseFormat: b.response_format,
  })
  const user = b.user?.trim()
  return {
    model: b.model ?? 'openclaw',
    modelGiven: b.model !== undefined,
    messages: b.messages.map(normalizeMessage),
    imageParts: b.messages.map((m) => imagePartIndexes(m.content)),
    stream: b.stream === true,
    includeUsage: b.stream === true && b.stream_options?.include_usage === true,
    user: user || undefined,
    streamParams,
    ...resolveToolChoice(b.tool_choice, (b.tools ?? []).map(normalizeTool)),
  }
}
