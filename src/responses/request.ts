/**
 * The `POST /v1/responses` body: a valibot schema, then a plain `ResponsesRequest`. Every field
 * of OpenAI's `CreateResponse` is accepted; what cannot be honoured is ignored (README), and
 * unknown fields are ignored as in chat. Every 400 names its field in `param`.
 */
import * as v from 'valibot'
import type { ClientTool, StreamParams } from '../backend.ts'
import { badRequest } from '../core/errors.ts'
import { resolveToolChoice, type ToolChoiceResolution } from '../core/tools.ts'
import { toBadRequest } from '../core/validation.ts'
import { InputItems, type InputItem } from './items.ts'

const finite = (name: string) =>
  v.pipe(
    v.number(`\`${name}\` must be a finite number.`),
    v.finite(`\`${name}\` must be a finite number.`)
  )

const between = (name: string, min: number, max: number) =>
  v.pipe(
    finite(name),
    v.minValue(min, `\`${name}\` must be between ${min} and ${max}.`),
    v.maxValue(max, `\`${name}\` must be between ${min} and ${max}.`)
  )

/**
 * A function tool, flat as the Responses API has it; the chat shape (`function: {…}`) is taken
 * too. Other tool types (web_search, file_search, Codex's namespace tools…) are built-ins of
 * OpenAI's or a client's own: they cannot reach an agent, so they are left out, not refused.
 */
const Tool = v.looseObject(
  {
    type: v.string('Each tool needs a string `type`.'),
    name: v.optional(v.unknown()),
    description: v.optional(v.unknown()),
    parameters: v.optional(v.unknown()),
    strict: v.optional(v.unknown()),
    function: v.optional(v.unknown()),
  },
  'Each tool must be an object.'
)

const TextFormat = v.looseObject(
  {
    type: v.picklist(
      ['text', 'json_object', 'json_schema'],
      '`text.format.type` must be text, json_object or json_schema.'
    ),
    name: v.optional(v.string()),
    schema: v.optional(v.unknown()),
    strict: v.optional(v.unknown()),
  },
  '`text.format` must be an object.'
)

const Body = v.looseObject(
  {
    model: v.optional(v.string('`model` must be a string.')),
    input: v.union([v.string(), InputItems], '`input` must be a string or an array of items.'),
    instructions: v.optional(v.string('`instructions` must be a string.')),
    tools: v.optional(v.array(Tool, '`tools` must be an array.')),
    tool_choice: v.optional(v.unknown()),
    parallel_tool_calls: v.optional(v.boolean('`parallel_tool_calls` must be a boolean.')),
    stream: v.optional(v.boolean('`stream` must be a boolean.')),
    max_output_tokens: v.optional(
      v.pipe(
        v.number('`max_output_tokens` must be a positive integer.'),
        v.safeInteger('`max_output_tokens` must be a positive integer.'),
        v.minValue(1, '`max_output_tokens` must be a positive integer.')
      )
    ),
    temperature: v.optional(between('temperature', 0, 2)),
    top_p: v.optional(between('top_p', 0, 1)),
    user: v.optional(v.string('`user` must be a string.')),
    previous_response_id: v.optional(
      v.pipe(
        v.string('`previous_response_id` must be a string.'),
        v.nonEmpty('`previous_response_id` must not be empty.')
      )
    ),
    store: v.optional(v.boolean('`store` must be a boolean.')),
    metadata: v.optional(
      v.record(
        v.string(),
        v.string('`metadata` values must be strings.'),
        '`metadata` must be an object.'
      )
    ),
    text: v.optional(
      v.looseObject({ format: v.optional(TextFormat) }, '`text` must be an object.')
    ),
  },
  'The request body must be a JSON object.'
)

/** The request as the endpoint uses it, after validation. */
export interface ResponsesRequest extends ToolChoiceResolution {
  /** The request's `model` string, echoed; `openclaw` when absent. */
  model: string
  /** The input as items (a string `input` is one user message). */
  items: InputItem[]
  instructions?: string
  stream: boolean
  user?: string
  previousResponseId?: string
  /** Whether the response is kept for `previous_response_id` and `GET` (default true). */
  store: boolean
  streamParams: StreamParams
  /** What the Response object echoes back. */
  echo: {
    tools: Record<string, unknown>[]
    toolChoice: unknown
    parallelToolCalls: boolean
    metadata: Record<string, string>
    temperature: number | null
    topP: number | null
    maxOutputTokens: number | null
    text: Record<string, unknown>
  }
}

const TOOLS = 'Invalid tools/tool_choice: '

/** A function tool in our shape, or undefined for a tool of another type. */
const functionTool = (tool: v.InferOutput<typeof Tool>, i: number): ClientTool | undefined => {
  if (tool.type !== 'function') return undefined
  // The chat shape nests the same fields under `function`.
  const fn = (tool.function && typeof tool.function === 'object' ? tool.function : tool) as Record<
    string,
    unknown
  >
  const name = typeof fn.name === 'string' ? fn.name.trim() : ''
  if (!name) throw badRequest(`${TOOLS}tools[${i}].name is required`, `tools[${i}].name`)
  const out: ClientTool = { type: 'function', function: { name } }
  if (typeof fn.description === 'string') out.function.description = fn.description
  const params = fn.parameters
  if (params && typeof params === 'object' && !Array.isArray(params)) {
    out.function.parameters = params as Record<string, unknown>
  }
  if (typeof fn.strict === 'boolean') out.function.strict = fn.strict
  return out
}

/** A function tool as the Response object lists it (the spec wants `strict` and `parameters`). */
const echoTool = (t: ClientTool) => ({
  type: 'function',
  name: t.function.name,
  description: t.function.description ?? null,
  parameters: t.function.parameters ?? null,
  strict: t.function.strict ?? null,
})

/** `text.format` → the chat-style `response_format` a backend understands. */
const responseFormatOf = (format: v.InferOutput<typeof TextFormat> | undefined) => {
  if (!format || format.type === 'text') return undefined
  if (format.type === 'json_object') return { type: 'json_object' }
  const schema: Record<string, unknown> = { name: format.name ?? 'response', schema: format.schema }
  if (typeof format.strict === 'boolean') schema.strict = format.strict
  return { type: 'json_schema', json_schema: schema }
}

/**
 * Validates a parsed JSON body.
 * @throws {ApiError} 400 with `param` naming the field
 */
export const parseResponsesRequest = (body: unknown): ResponsesRequest => {
  if (Array.isArray(body) || !body || typeof body !== 'object') {
    throw badRequest('The request body must be a JSON object.')
  }
  // SDKs send `null` for fields they leave unset: treat it as absent.
  const input: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body)) if (value !== null) input[key] = value
  if (input.input === undefined) throw badRequest('Missing required field `input`.', 'input')
  const result = v.safeParse(Body, input)
  if (!result.success) throw toBadRequest(result.issues[0])
  const b = result.output

  const tools = (b.tools ?? []).flatMap((t, i) => functionTool(t, i) ?? [])
  const streamParams: StreamParams = {}
  if (b.max_output_tokens !== undefined) streamParams.maxTokens = b.max_output_tokens
  if (b.temperature !== undefined) streamParams.temperature = b.temperature
  if (b.top_p !== undefined) streamParams.topP = b.top_p
  const responseFormat = responseFormatOf(b.text?.format)
  if (responseFormat) streamParams.responseFormat = responseFormat

  const user = b.user?.trim()
  const choice = resolveToolChoice(b.tool_choice, tools)
  const items: InputItem[] =
    typeof b.input === 'string' ? [{ type: 'message', role: 'user', content: b.input }] : b.input
  const request: ResponsesRequest = {
    model: b.model ?? 'openclaw',
    items,
    stream: b.stream === true,
    store: b.store !== false,
    streamParams,
    ...choice,
    echo: {
      tools: tools.map(echoTool),
      // A named function in the Responses shape, also when it came in chat's: the spec's
      // ToolChoiceParam has no `function: {name}`, and clients read the echo with it.
      toolChoice:
        typeof choice.toolChoice === 'object'
          ? { type: 'function', name: choice.toolChoice.function.name }
          : (b.tool_choice ?? 'auto'),
      parallelToolCalls: b.parallel_tool_calls ?? true,
      metadata: b.metadata ?? {},
      temperature: b.temperature ?? null,
      topP: b.top_p ?? null,
      maxOutputTokens: b.max_output_tokens ?? null,
      text: { format: b.text?.format ?? { type: 'text' } },
    },
  }
  if (b.instructions) request.instructions = b.instructions
  if (user) request.user = user
  if (b.previous_response_id) request.previousResponseId = b.previous_response_id
  return request
}
