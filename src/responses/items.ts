/**
 * Input items → the normalised messages every backend gets, as the gateway reads them: a message
 * is one message, a `function_call` an assistant message with that call, a `function_call_output`
 * a tool message. Its prompt builder then flattens them exactly as for chat. OpenAI's own shapes
 * are taken beside the gateway's: a message without `type`, `input_image.image_url`,
 * `input_file.file_data`, and an output given as a list of parts.
 */
import * as v from 'valibot'
import type { NormalizedMessage } from '../backend.ts'
import { badRequest } from '../core/errors.ts'
import type { FileSource } from '../core/files.ts'
import { randomHex } from '../core/random-id.ts'

const TEXT_PARTS = ['input_text', 'output_text', 'text']

const Part = v.looseObject(
  {
    type: v.string('Each content part needs a string `type`.'),
    text: v.optional(v.unknown()),
  },
  'Each content part must be an object.'
)

const Content = v.union(
  [v.string(), v.array(Part)],
  'Message content must be a string or an array of content parts.'
)

const Item = v.looseObject(
  {
    type: v.optional(v.string('An item `type` must be a string.')),
    role: v.optional(
      v.picklist(
        ['system', 'developer', 'user', 'assistant'],
        'Invalid role: expected one of system, developer, user, assistant.'
      )
    ),
    content: v.optional(v.unknown()),
  },
  'Each input item must be an object.'
)

export const InputItems = v.array(Item, '`input` must be a string or an array of items.')

export type InputItem = v.InferOutput<typeof Item>

/** A message's images (data URIs or URLs) and files, with the part index each came from. */
export interface Media {
  imageUrls: string[]
  imageParts: number[]
  files: FileSource[]
  fileParts: number[]
}

export interface Conversation {
  messages: NormalizedMessage[]
  /** Per message: the input item it came from, and its media. */
  origins: { item: number; media: Media }[]
  /** How many media parts name a URL, in the whole input (`maxUrlParts`). */
  urlParts: number
}

/** Resolves an `item_reference` to an item this caller was given before, when it can. */
export type ItemLookup = (id: string) => InputItem | undefined

const str = (x: unknown) => (typeof x === 'string' ? x : undefined)

const partText = (part: Record<string, unknown>): string | undefined => {
  if (TEXT_PARTS.includes(part.type as string)) return str(part.text)
  if (part.type === 'refusal') return str(part.refusal)
  return undefined
}

/** An image part's URL or data URI: `image_url`, or the gateway's `source`. */
const imageOf = (part: Record<string, unknown>, param: string): string => {
  const url = part.image_url
  if (typeof url === 'string') return url.trim()
  if (url && typeof url === 'object' && typeof (url as { url?: unknown }).url === 'string')
    return (url as { url: string }).url.trim()
  const source = part.source as Record<string, unknown> | undefined
  if (source?.type === 'base64' && typeof source.data === 'string') {
    return `data:${str(source.media_type) ?? ''};base64,${source.data}`
  }
  if (source?.type === 'url' && typeof source.url === 'string') return source.url.trim()
  if (part.file_id !== undefined) {
    throw badRequest('`file_id` images are not supported here: send `image_url`.', param)
  }
  throw badRequest('An input_image part needs `image_url` or a `source`.', param)
}

/** A file part's data: `file_data` (a data URI or bare base64), `file_url`, or a `source`. */
const fileOf = (part: Record<string, unknown>, param: string): FileSource => {
  const filename = str(part.filename)
  const named = (source: FileSource): FileSource => {
    if (filename && !source.filename) source.filename = filename
    return source
  }
  if (typeof part.file_data === 'string') {
    const data = part.file_data
    const match = /^data:([^;,]*)[^,]*,/i.exec(data)
    return named(
      match
        ? {
            kind: 'data',
            mimeType: match[1].trim().toLowerCase(),
            base64: data.slice(match[0].length),
          }
        : { kind: 'data', base64: data }
    )
  }
  if (typeof part.file_url === 'string') return named({ kind: 'url', url: part.file_url.trim() })
  const source = part.source as Record<string, unknown> | undefined
  if (source?.type === 'base64' && typeof source.data === 'string') {
    return named({
      kind: 'data',
      mimeType: str(source.media_type)?.trim().toLowerCase(),
      base64: source.data,
      filename: str(source.filename),
    })
  }
  if (source?.type === 'url' && typeof source.url === 'string') {
    return named({ kind: 'url', url: source.url.trim() })
  }
  if (part.file_id !== undefined) {
    throw badRequest('`file_id` files are not supported here: send `file_data`.', param)
  }
  throw badRequest('An input_file part needs `file_data`, `file_url` or a `source`.', param)
}

const noMedia = (): Media => ({ imageUrls: [], imageParts: [], files: [], fileParts: [] })

/** The text and media of a content value (a string, or parts). */
const readContent = (content: unknown, param: string) => {
  const media = noMedia()
  const parsed = v.safeParse(Content, content ?? '')
  if (!parsed.success) throw badRequest(parsed.issues[0].message, param)
  if (typeof parsed.output === 'string') return { text: parsed.output.trim(), media }
  const texts: string[] = []
  parsed.output.forEach((part, i) => {
    const at = `${param}[${i}]`
    if (part.type === 'input_image') {
      media.imageUrls.push(imageOf(part, at))
      media.imageParts.push(i)
      return
    }
    if (part.type === 'input_file') {
      media.files.push(fileOf(part, at))
      media.fileParts.push(i)
      return
    }
    const text = partText(part)
    if (text === undefined) {
      throw badRequest(
        TEXT_PARTS.includes(part.type) || part.type === 'refusal'
          ? `The ${part.type} part needs a string \`${part.type === 'refusal' ? 'refusal' : 'text'}\`.`
          : `Unsupported content part type '${part.type}'; supported: input_text, output_text, ` +
              'input_image, input_file, refusal.',
        at
      )
    }
    texts.push(text)
  })
  return { text: texts.join('\n').trim(), media }
}

const isUrl = (s: string) => !/^data:/i.test(s)

/**
 * Converts the items.
 * @throws {ApiError} 400 naming the item (`input[2].content[0]`) for what cannot be read
 */
export const toConversation = (items: InputItem[], lookup: ItemLookup = () => undefined) => {
  const conversation: Conversation = { messages: [], origins: [], urlParts: 0 }
  const push = (message: NormalizedMessage, item: number, media = noMedia()) => {
    conversation.messages.push(message)
    conversation.origins.push({ item, media })
    conversation.urlParts +=
      media.imageUrls.filter(isUrl).length + media.files.filter((f) => f.kind === 'url').length
  }

  const read = (item: InputItem, i: number, depth: number) => {
    const at = `input[${i}]`
    const type = item.type ?? (item.role ? 'message' : undefined)
    const raw = item as Record<string, unknown>
    switch (type) {
      case 'message': {
        if (!item.role) throw badRequest('A message item needs a `role`.', `${at}.role`)
        const { text, media } = readContent(item.content, `${at}.content`)
        const message: NormalizedMessage = { role: item.role, text }
        if (media.imageUrls.length) message.imageUrls = media.imageUrls
        return push(message, i, media)
      }
      case 'function_call':
      case 'custom_tool_call': {
        const id = str(raw.call_id) ?? str(raw.id)
        const name = str(raw.name)
        if (!id || !name) {
          throw badRequest(`A ${type} item needs \`call_id\` and \`name\`.`, at)
        }
        const args = type === 'function_call' ? raw.arguments : raw.input
        const call = {
          id,
          name,
          arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
        }
        return push({ role: 'assistant', text: '', toolCalls: [call] }, i)
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        const id = str(raw.call_id)
        if (!id) throw badRequest(`A ${type} item needs a \`call_id\`.`, `${at}.call_id`)
        const { text, media } = readContent(raw.output, `${at}.output`)
        const message: NormalizedMessage = { role: 'tool', text, toolCallId: id }
        return push(message, i, media)
      }
      case 'item_reference': {
        // An earlier output item, by id (the AI SDK sends these for the assistant's own text).
        const found = depth === 0 && typeof raw.id === 'string' ? lookup(raw.id) : undefined
        if (found) read(found, i, depth + 1)
        return
      }
      case undefined:
        throw badRequest('Each input item needs a `type` (or a `role`, for a message).', at)
      default:
        // `reasoning`, and OpenAI's built-in tool calls and their outputs (web_search_call…):
        // nothing in them can reach an agent.
        return
    }
  }
  items.forEach((item, i) => read(item, i, 0))
  return conversation
}

const resourceId = (prefix: string, given: unknown) =>
  typeof given === 'string' && given ? given : `${prefix}_${randomHex()}`

/** A content part as `input_items` lists it: text as given, media without its inline bytes. */
const partResource = (part: Record<string, unknown>) => {
  if (part.type === 'input_image') {
    const url = typeof part.image_url === 'string' ? part.image_url : undefined
    const image: Record<string, unknown> = { type: 'input_image', detail: part.detail ?? 'auto' }
    if (url && !/^data:/i.test(url)) image.image_url = url
    return image
  }
  if (part.type === 'input_file') {
    const file: Record<string, unknown> = { type: 'input_file' }
    const name = str(part.filename) ?? str((part.source as Record<string, unknown>)?.filename)
    if (name) file.filename = name
    if (typeof part.file_url === 'string') file.file_url = part.file_url
    return file
  }
  return part
}

/**
 * The input items as `GET /v1/responses/{id}/input_items` lists them: each with an id, messages
 * with content parts, and no inline image or file bytes (those would make every stored response
 * as large as its uploads).
 */
export const itemResources = (items: InputItem[]): Record<string, unknown>[] =>
  items.flatMap((item): Record<string, unknown>[] => {
    const raw = item as Record<string, unknown>
    const type = item.type ?? (item.role ? 'message' : undefined)
    if (type === 'message') {
      const parts =
        typeof item.content === 'string'
          ? [{ type: item.role === 'assistant' ? 'output_text' : 'input_text', text: item.content }]
          : ((item.content as Record<string, unknown>[] | undefined) ?? []).map(partResource)
      const content =
        item.role === 'assistant'
          ? parts.map((p) => ({ annotations: [], logprobs: [], ...p }))
          : parts
      return [
        {
          id: resourceId('msg', raw.id),
          type: 'message',
          role: item.role,
          status: 'completed',
          content,
        },
      ]
    }
    if (type === 'function_call' || type === 'function_call_output') {
      return [
        {
          ...raw,
          id: resourceId(type === 'function_call' ? 'fc' : 'fco', raw.id),
          status: 'completed',
        },
      ]
    }
    // Other items are listed when they carry their own id (reasoning, OpenAI's tool items).
    return typeof raw.id === 'string' && type !== 'item_reference' ? [raw] : []
  })
