/**
 * `POST /v1/chat/completions`: guard → body → validate → route → prompt → images → run →
 * a `chat.completion`, or its SSE chunks.
 */
import type { Context } from 'hono'
import { readJsonBody } from '../core/body.ts'
import type { AppContext, Endpoint } from '../core/context.ts'
import { ApiError, withHeaders } from '../core/errors.ts'
import { decodeImages } from '../core/images.ts'
import { buildPrompt } from '../core/prompt.ts'
import { randomUuid } from '../core/random-id.ts'
import { respondJson } from '../core/respond.ts'
import { runInput } from '../core/run-input.ts'
import { WRITE } from '../core/scopes.ts'
import { chatFramer } from './chunks.ts'
import { buildCompletion, type CompletionContext } from './completion.ts'
import { parseChatRequest } from './request.ts'

export const CHAT_PATH = '/v1/chat/completions'

const IMAGES_INVALID = 'Invalid image_url content in `messages`.'

export const chatHandler = (ctx: AppContext, markBodyRead: (c: Context) => void) => {
  const endpoint = ctx.config.gateway.http.endpoints.chatCompletions
  const guarded: Endpoint = {
    enabled: endpoint.enabled,
    disabled:
      'The OpenAI-compatible endpoint is disabled. Enable it with ' +
      '`gateway.http.endpoints.chatCompletions.enabled: true` in the config.',
    key: 'chat',
  }

  return async function chatCompletions(c: Context) {
    const guardedCaller = ctx.guard(c, guarded, 'POST', WRITE)
    const caller = guardedCaller instanceof Promise ? await guardedCaller : guardedCaller
    const body = await readJsonBody(c.req.raw, endpoint.maxBodyBytes, endpoint.bodyTimeoutMs)
    markBodyRead(c)
    ctx.checkModelOverride(c, caller)
    const req = parseChatRequest(body)
    const routed = ctx.route(c, caller, req, 'openai')
    const { route, headers } = routed instanceof Promise ? await routed : routed
    try {
      const prompt = buildPrompt(req.messages, { extraSystem: [req.toolInstruction ?? ''] })
      const current = req.messages[prompt.currentIndex]
      // Most turns have no image: answered without a promise.
      const images =
        current?.role === 'user' && current.imageUrls?.length
          ? await decodeImages(
              current.imageUrls,
              endpoint,
              {
                invalid: IMAGES_INVALID,
                base: `messages[${prompt.currentIndex}].content`,
                partIndexes: req.imageParts[prompt.currentIndex] ?? [],
              },
              ctx.fetch
            )
          : []

      const completion: CompletionContext = {
        id: `chatcmpl-${randomUuid()}`,
        created: Math.floor(Date.now() / 1000),
        model: req.model,
        toolChoice: req.toolChoice,
      }
      const input = runInput({
        runId: completion.id,
        route,
        prompt,
        images,
        messages: req.messages,
        request: req,
        owner: caller.owner,
      })

      const turn = ctx.run(c, input)
      if (!req.stream) {
        return respondJson(c.req.raw, await buildCompletion(turn.events, completion), 200, headers)
      }
      const framer = chatFramer({ ...completion, includeUsage: req.includeUsage })
      return ctx.stream(c, turn, framer, endpoint.heartbeatSeconds, headers)
    } catch (err) {
      // An answer that fails after routing still says where the request went.
      throw err instanceof ApiError ? withHeaders(err, headers) : err
    }
  }
}
