/** Reads the request body within the size limit and parses it as JSON, whatever its type says. */
import { ApiError, badRequest } from './errors.ts'

const tooLarge = (max: number) =>
  new ApiError(413, `Request body is larger than the limit of ${max} bytes.`)

const readCapped = async (body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> => {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      reader.cancel().catch(() => {})
      throw tooLarge(max)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * The parsed JSON body.
 * @throws {ApiError} 413 over `max` bytes (declared or counted), 400 for empty, non-UTF-8 or bad JSON
 */
export const readJsonBody = async (request: Request, max: number): Promise<unknown> => {
  const declared = request.headers.get('content-length')
  if (declared !== null && Number(declared) > max) throw tooLarge(max)
  let bytes: Uint8Array
  if (!request.body) bytes = new Uint8Array()
  else if (declared !== null) bytes = new Uint8Array(await request.arrayBuffer())
  else bytes = await readCapped(request.body, max)
  if (bytes.byteLength > max) throw tooLarge(max)
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    throw badRequest('The request body is not valid UTF-8.')
  }
  if (!text.trim()) throw badRequest('The request body is empty; send a JSON object.')
  try {
    return JSON.parse(text)
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    throw badRequest(`The request body is not valid JSON: ${detail}`)
  }
}
