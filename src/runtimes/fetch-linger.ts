/**
 * What becomes of the unread rest of a request body after an early answer, where the runtime
 * hands us only `fetch(request) → response` (Bun, Deno, Workers; and Bun's `node:http`, which
 * closes by itself rather than through the socket that `node-linger.ts` works on). The app
 * marks such an answer `Connection: close`, and when it stops reading a body (over the limit,
 * too slow) it lets go of the stream without cancelling it: the rest is the glue's to deal with.
 *
 * - `Bun.serve` closes the connection as soon as the answer is written, unread body or not; the
 *   client's kernel then gets an RST, which throws away the answer it had not yet read. So the
 *   answer is sent in full (with its `Content-Length`, the client has all of it at once) but the
 *   response is held open while the rest of the body is read and thrown away, within the same
 *   bounds as on Node (`node-linger.ts`); only then does Bun close, with nothing left unread.
 * - `Deno.serve` reads an untouched or cancelled body to its end itself and lets the answer
 *   arrive; a body let go of but not cancelled would hold the connection (about 1.5 s a request
 *   in our runs), so it is cancelled.
 * - Workers get the same cancel: on Cloudflare the edge, not the worker, holds the client's
 *   connection, and a worker should not spend its time reading a body it refused.
 */
import { LINGER_BYTES, LINGER_MS, type LingerBounds } from './linger-bounds.ts'

type Answer = Response | Promise<Response>

/** `then` on the app's answer, at once when it is already there (no promise to wait for). */
export const onAnswer = (answer: Answer, then: (response: Response) => Answer): Answer =>
  answer instanceof Response ? then(answer) : answer.then(then)

/** An answer given before the body was read, with a rest no one reads any more. */
const unreadRest = (request: Request, response: Response) => {
  if (response.headers.get('connection') !== 'close') return undefined
  const body = request.body
  return body && !body.locked ? body : undefined
}

/** Reads and discards `reader` to its end, or until a bound is passed (then it is cancelled). */
const discard = async (
  reader: ReadableStreamDefaultReader<Uint8Array>,
  { ms = LINGER_MS, bytes = LINGER_BYTES }: LingerBounds
) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms)
  })
  let read = 0
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), expired])
      if (next === 'expired' || next.done) break
      read += next.value.byteLength
      if (read > bytes) break
    }
  } catch {
    // The client went away: nothing left to wait for.
  } finally {
    clearTimeout(timer)
    reader.cancel().catch(() => {})
  }
}

const lingering = async (
  rest: ReadableStream<Uint8Array>,
  response: Response,
  bounds: LingerBounds
) => {
  const answer = new Uint8Array(await response.arrayBuffer())
  const reader = rest.getReader()
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(answer)
      await discard(reader, bounds)
      controller.close()
    },
    cancel: () => reader.cancel().catch(() => {}),
  })
  // The whole answer is in the first chunk: with its length the client knows it has all of it.
  const headers = new Headers(response.headers)
  headers.set('content-length', String(answer.byteLength))
  return new Response(body, { status: response.status, headers })
}

/**
 * For `Bun.serve`: `response`, held open after its last byte until the unread rest of the
 * request's body is read and thrown away, when it is an early answer; any other answer as it is.
 */
export const lingerAfterEarlyAnswer = (
  request: Request,
  response: Response,
  bounds: LingerBounds = {}
): Response | Promise<Response> => {
  const rest = unreadRest(request, response)
  return rest ? lingering(rest, response, bounds) : response
}

/** `fetch`, with `lingerAfterEarlyAnswer` on its answers. */
export const lingeringFetch =
  <Env>(fetch: (request: Request, env: Env) => Answer, bounds: LingerBounds = {}) =>
  (request: Request, env: Env): Answer =>
    onAnswer(fetch(request, env), (response) => lingerAfterEarlyAnswer(request, response, bounds))

/**
 * For `Deno.serve` and Workers: `response` as it is, the rest of a body the app began and let go
 * of cancelled, so that the runtime discards it as it does an untouched one.
 */
export const cancelAfterEarlyAnswer = (request: Request, response: Response): Response => {
  const rest = request.bodyUsed ? unreadRest(request, response) : undefined
  rest?.cancel().catch(() => {})
  return response
}
