/**
 * What both baselines answer, byte for byte the shape ours answers with the echo backend: the
 * echo's text pulled through an async iterator, then the same `chat.completion` JSON, or the
 * same SSE chunks and `[DONE]`. The baselines differ only in the server around it.
 */
import { echoText, pieces } from './bodies.ts'

export const TOKEN = 'bench-token'

const tokens = (text: string) => Math.ceil(text.length / 4)

/** The request's answer: its text (pulled piece by piece) and how to write it. */
export const answer = async (body: any) => {
  let text = ''
  for await (const piece of pieces(echoText(body))) text += piece
  const id = `chatcmpl-${crypto.randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  const model = body.model ?? 'openclaw'
  return {
    json: () =>
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: {
          prompt_tokens: tokens(text),
          completion_tokens: tokens(text),
          total_tokens: 2 * tokens(text),
        },
      }),
  }
}

/** The SSE chunks of a streamed answer, written as the pieces come. */
export async function* chunks(body: any): AsyncGenerator<string> {
  const id = `chatcmpl-${crypto.randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model ?? 'openclaw')},"choices":`
  const chunk = (delta: unknown, finish: string | null) =>
    `data: ${head}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish ? `"${finish}"` : 'null'}}]}\n\n`
  yield chunk({ role: 'assistant', content: '' }, null)
  for await (const piece of pieces(echoText(body))) yield chunk({ content: piece }, null)
  yield chunk({}, 'stop')
  yield 'data: [DONE]\n\n'
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
}

export const UNAUTHORIZED =
  '{"error":{"message":"Unauthorized","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
