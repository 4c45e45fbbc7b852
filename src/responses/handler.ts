/**
 * `POST /v1/responses`: guard → body → validate → the previous response → route → items →
 * media → prompt → run → a Response object, or its SSE events; and `GET` / `DELETE
 * /v1/responses/{id}` for what was stored.
 */
import type { Context } from 'hono'
import type { ImageInput, NormalizedMessage } from '../backend.ts'
import type { Caller } from '../core/auth.ts'
import { readJsonBody } from '../core/body.ts'
import type { AppContext, Endpoint } from '../core/context.ts'
import { ApiError, badRequest, withHeaders } from '../core/errors.ts'
import { decodeFiles } from '../core/files.ts'
import { decodeImages } from '../core/images.ts'
import { buildPrompt } from '../core/prompt.ts'
import { randomHex } from '../core/random-id.ts'
import { headerValue, respondJson } from '../core/respond.ts'
import { eachEvent } from '../core/run.ts'
import { runInput } from '../core/run-input.ts'
import { READ, WRITE } from '../core/scopes.ts'
import { StoreUnavailableError } from '../core/store.ts'
import { responsesFramer } from './events.ts'
import { itemResources, toConversation, type InputItem, type Media } from './items.ts'
import { parseResponsesRequest } from './request.ts'
import { ResponseBuilder } from './response.ts'
import type { ResponseStore, StoredResponse } from './store.ts'

export const RESPONSES_PATH = '/v1/responses'

const notFound = (id: string) =>
  new ApiError(404, `Response with id '${id.slice(0, 100)}' not found.`)

/** What OpenAI answers for an unknown, expired or foreign `previous_response_id`. */
const previousNotFound = (id: string) =>
  badRequest(
    `Previous response with id '${id.slice(0, 100)}' not found.`,
    'previous_response_id',
    'previous_response_not_found'
  )

/** A stored output item as an input item again (`item_reference`). */
const asInput = (item: Record<string, unknown>): InputItem =>
  (item.type === 'message' ? { ...item, role: 'assistant' } : item) as InputItem

export const responsesHandlers = (
  ctx: AppContext,
  markBodyRead: (c: Context) => void,
  store: ResponseStore = ctx.store.responses
) => {
  const endpoint = ctx.config.gateway.http.endpoints.responses
  const guarded: Endpoint = {
    enabled: endpoint.enabled,
    disabled:
      'The Responses endpoint is disabled. Enable it with ' +
      '`gateway.http.endpoints.responses.enabled: true` in the config.',
    key: 'responses',
  }

  /** A stored response, if it is the caller's. */
  const own = async (id: string, caller: Caller) => {
    const stored = await store.get(id)
    return stored && stored.subject === caller.subject ? stored : undefined
  }

  /** The items `item_reference`s point at, among the caller's stored responses. */
  const referenced = async (items: InputItem[], caller: Caller) => {
    const found = new Map<string, InputItem>()
    for (const item of items) {
      const id = (item as { id?: unknown }).id
      if (item.type !== 'item_reference' || typeof id !== 'string') continue
      const hit = await store.item(id)
      if (hit && hit.owner.subject === caller.subject) found.set(id, asInput(hit.item))
    }
    return found
  }

  /** The current user turn's images and files, decoded; files become system-prompt blocks. */
  const media = async (item: number, m: Media) => {
    const base = `input[${item}].content`
    const images: ImageInput[] = m.imageUrls.length
      ? await decodeImages(
          m.imageUrls,
          endpoint,
          {
            invalid: 'Invalid input_image content in `input`.',
            base,
            partIndexes: m.imageParts,
          },
          ctx.fetch
        )
      : []
    const files = m.files.length
      ? await decodeFiles(m.files, endpoint.files, (i) => `${base}[${m.fileParts[i]}]`, ctx.fetch)
      : []
    return { images, files }
  }

  const create = async function createResponse(c: Context) {
    const guardedCaller = ctx.guard(c, guarded, 'POST', WRITE)
    const caller = guardedCaller instanceof Promise ? await guardedCaller : guardedCaller
    const body = await readJsonBody(c.req.raw, endpoint.maxBodyBytes, endpoint.bodyTimeoutMs)
    markBodyRead(c)
    ctx.checkModelOverride(c, caller)
    const req = parseResponsesRequest(body)

    let previous: StoredResponse | undefined
    if (req.previousResponseId) {
      previous = await own(req.previousResponseId, caller)
      if (!previous) throw previousNotFound(req.previousResponseId)
    }
    const { route, headers } = await ctx.route(c, caller, req, 'openresponses', previous?.agentId)
    try {
      if (previous) {
        if (previous.agentId !== route.agentId) {
          throw badRequest(
            `Previous response '${req.previousResponseId}' was made by agent ` +
              `'${previous.agentId}', not '${route.agentId}'.`,
            'previous_response_id'
          )
        }
        // The key routing made of the header (under an API key, within the key's sessions).
        const explicit = c.req.header('x-openclaw-session-key')?.trim()
        if (explicit && route.sessionKey !== previous.sessionKey) {
          throw badRequest(
            `Previous response '${req.previousResponseId}' belongs to another session than ` +
              '`x-openclaw-session-key` names.',
            'previous_response_id'
          )
        }
        // The earlier response's session goes on, whatever `user` says.
        route.sessionKey = previous.sessionKey
        headers['x-openclaw-session-key'] = headerValue(previous.sessionKey)
      }
      const refs = await referenced(req.items, caller)
      const conversation = toConversation(req.items, (id) => refs.get(id))
      if (conversation.urlParts > endpoint.maxUrlParts) {
        throw badRequest(
          `At most ${endpoint.maxUrlParts} images and files may be given by URL per request.`,
          'input'
        )
      }
      const messages: NormalizedMessage[] = req.instructions
        ? [{ role: 'system', text: req.instructions }, ...conversation.messages]
        : conversation.messages
      const offset = messages.length - conversation.messages.length
      // The current turn: the last user message or tool output. Only a user message's media count.
      const current = messages.findLastIndex((m) => m.role === 'user' || m.role === 'tool')
      const origin = current === -1 ? undefined : conversation.origins[current - offset]
      const decoded =
        origin && messages[current].role === 'user'
          ? await media(origin.item, origin.media)
          : { images: [], files: [] }
      if (decoded.files.length)
        messages[current] = { ...messages[current], files: decoded.files.length }
      const prompt = buildPrompt(messages, {
        extraSystem: [req.toolInstruction ?? '', ...decoded.files],
        field: 'input',
        labelLoneTool: true,
      })

      const id = `resp_${randomHex()}`
      // Also on a failed answer, whose error envelope has no room for it: the response is kept
      // (as OpenAI keeps failed ones), and `previous_response_id` may continue its session.
      headers['x-openclaw-response-id'] = id
      const input = runInput({
        runId: id,
        route,
        prompt,
        images: decoded.images,
        // Backends that keep roles get the files' text as a system message before the turn.
        messages: decoded.files.length
          ? [
              ...messages.slice(0, current),
              { role: 'system', text: decoded.files.join('\n\n') },
              ...messages.slice(current),
            ]
          : messages,
        request: req,
        owner: caller.owner,
      })

      const builder = new ResponseBuilder({
        id,
        createdAt: Math.floor(Date.now() / 1000),
        request: req,
        previousResponseId: req.previousResponseId ?? null,
      })
      // Awaited before the answer ends (a stream: before its last event), so that a client that
      // continues at once, through any instance sharing the store, finds the response.
      const keep = (): Promise<void> | undefined => {
        // A client that left gets nothing, and nothing is kept for it: also in a stream, which
        // may still end with the 499 (workerd aborts the turn before it cancels the body).
        if (!req.store || builder.failure?.status === 499) return undefined
        const value = {
          response: builder.resource(),
          input: itemResources(req.items),
          subject: caller.subject,
          agentId: route.agentId,
          sessionKey: route.sessionKey,
        }
        // The answer still goes out: only continuing from it will not work.
        return store.put(id, value).catch((err) => {
          if (err instanceof StoreUnavailableError) {
            ctx.logger.warn(`could not store ${id}: ${err.message}`)
          } else ctx.logger.error(`could not store ${id}`, err)
        })
      }

      const turn = ctx.run(c, input)
      if (!req.stream) {
        await eachEvent(turn.events, (event) => builder.apply(event))
        if (!builder.finished) builder.apply({ type: 'done' })
        await keep()
        if (builder.failure) throw builder.failure
        return respondJson(c.req.raw, builder.resource(), 200, headers)
      }
      return ctx.stream(c, turn, responsesFramer(builder, keep), endpoint.heartbeatSeconds, headers)
    } catch (err) {
      // An answer that fails after routing still says where the request went.
      throw err instanceof ApiError ? withHeaders(err, headers) : err
    }
  }

  const byId = async function responseById(c: Context) {
    const scope = c.req.method === 'GET' ? READ : WRITE
    const caller = await ctx.guard(c, guarded, ['GET', 'DELETE'], scope)
    const id = c.req.param('id') ?? ''
    if (c.req.method === 'DELETE') {
      if (!(await own(id, caller)) || !(await store.delete(id))) throw notFound(id)
      return respondJson(c.req.raw, { id, object: 'response', deleted: true })
    }
    if (c.req.query('stream') === 'true') {
      throw badRequest('Streaming a stored response again is not supported.', 'stream')
    }
    const stored = await own(id, caller)
    if (!stored) throw notFound(id)
    return respondJson(c.req.raw, stored.response)
  }

  const inputItems = async function responseInputItems(c: Context) {
    const caller = await ctx.guard(c, guarded, 'GET', READ)
    const id = c.req.param('id') ?? ''
    const stored = await own(id, caller)
    if (!stored) throw notFound(id)
    const limit = Number(c.req.query('limit') ?? 20)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw badRequest('`limit` must be an integer from 1 to 100.', 'limit')
    }
    const order = c.req.query('order') ?? 'desc'
    if (order !== 'asc' && order !== 'desc')
      throw badRequest('`order` must be asc or desc.', 'order')
    let items = order === 'desc' ? [...stored.input].reverse() : stored.input
    const after = c.req.query('after')
    if (after !== undefined) items = items.slice(items.findIndex((i) => i.id === after) + 1)
    const data = items.slice(0, limit)
    return respondJson(c.req.raw, {
      object: 'list',
      data,
      has_more: items.length > data.length,
      first_id: (data[0]?.id as string | undefined) ?? null,
      last_id: (data.at(-1)?.id as string | undefined) ?? null,
    })
  }

  return { create, byId, inputItems }
}
