/** Reads the request body within the size and time limits and parses it as JSON, whatever its type says. */
import { deadlines, type Deadline } from './deadlines.ts'
import { ApiError, badRequest } from './errors.ts'
import { readAtMost } from './read-at-most.ts'
import { utf8Length } from './utf8.ts'

const tooLarge = (max: number) =>
  new ApiError(413, `Request body is larger than the limit of ${max} bytes.`)

const timedOut = () =>
  new ApiError(408, 'Request body timeout: the body did not arrive in time.', {
    type: 'invalid_request_error',
  })

/** A promise that rejects with 408 after `timeoutMs`, and the function that disarms it. */
const deadline = (timeoutMs: number) => {
  let due: Deadline | undefined
  const expired = new Promise<never>((_, reject) => {
    due = deadlines.add(timeoutMs, () => reject(timedOut()))
  })
  expired.catch(() => {})
  return { expired, clear: () => deadlines.cancel(due) }
}

const NOT_UTF8 = 'The request body is not valid UTF-8.'

/**
 * A body of declared length (already checked against the limit), within `timeoutMs`, as
 * `parse` makes it of the text (in the same step: no second promise for it).
 * Read with `text()`: on Node that decodes the bytes where they lie, while `arrayBuffer()` copies
 * them into a new buffer first (~3 µs of a short answer's ~35 under load, bench/notes.md).
 * `text()` decodes leniently, so a body holding U+FFFD is checked: an invalid byte sequence
 * becomes a U+FFFD of more bytes than it had, so the text re-encodes longer than declared
 * (three bytes shorter means a byte order mark, which `text()` drops). Not caught: invalid
 * bytes that re-encode to the same length (a four-byte character cut after its third byte,
 * say), which read as U+FFFD.
 */
const readDeclared = <T>(
  request: Request,
  declared: string,
  timeoutMs: number,
  parse: (text: string) => T
): Promise<T> =>
  // One promise settled by whichever comes first, rather than `deadline()` and a race: this is
  // the path of nearly every request.
  new Promise((resolve, reject) => {
    const due = deadlines.add(timeoutMs, () => reject(timedOut()))
    request.text().then(
      (text) => {
        deadlines.cancel(due)
        if (text.includes('\ufffd')) {
          const extra = Number(declared) - utf8Length(text)
          if (extra !== 0 && extra !== 3) return reject(badRequest(NOT_UTF8))
        }
        try {
          resolve(parse(text))
        } catch (err) {
          reject(err)
        }
      },
      (err) => {
        deadlines.cancel(due)
        reject(err)
      }
    )
  })

/** Chunked, or HTTP/2 without a length: count as it comes. */
const readCounted = async (request: Request, max: number, timeoutMs: number) => {
  if (!request.body) return new Uint8Array()
  const { expired, clear } = deadline(timeoutMs)
  try {
    // Over the limit the rest is left unread rather than cancelled, for the lingering close.
    const bytes = await readAtMost(request.body, max, expired, true)
    if (!bytes) throw tooLarge(max)
    return bytes
  } finally {
    clear()
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })

const decode = (bytes: Uint8Array): string => {
  try {
    return decoder.decode(bytes)
  } catch {
    throw badRequest(NOT_UTF8)
  }
}

/**
 * Arrays and objects may nest this deep, no deeper: code that walks the parsed body recursively
 * (`JSON.stringify` here and in backends, a runtime's own parser) would run out of stack.
 */
export const MAX_JSON_DEPTH = 256

/** How many of `char` the text holds, at most `max + 1` (counted natively, not char by char). */
const countUpTo = (text: string, char: string, max: number) => {
  let n = 0
  for (let at = text.indexOf(char); at !== -1 && n <= max; at = text.indexOf(char, at + 1)) n++
  return n
}

/** Whether the JSON text opens more than `max` arrays or objects at once (strings skipped). */
const nestsDeeper = (text: string, max: number): boolean => {
  // Nearly every body opens fewer brackets in all than the limit: then it cannot nest deeper,
  // and the walk below (a loop over every character) is skipped.
  if (countUpTo(text, '{', max) + countUpTo(text, '[', max) <= max) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/** The body's text as JSON, within the limits the text itself can break. */
const parseJson = (text: string): unknown => {
  if (!text.trim()) throw badRequest('The request body is empty; send a JSON object.')
  if (nestsDeeper(text, MAX_JSON_DEPTH)) {
    throw badRequest(
      `The request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels.`
    )
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    throw badRequest(`The request body is not valid JSON: ${detail}`)
  }
}

/**
 * The parsed JSON body. Not an `async` function: the body's own promise is the one the caller
 * awaits, with no second one around it (this is every request's path).
 * @throws {ApiError} 413 over `max` bytes (declared or counted), 408 when it arrives too slowly,
 *   400 for empty, non-UTF-8, bad or too deeply nested JSON (all as a rejected promise)
 */
export const readJsonBody = (
  request: Request,
  max: number,
  timeoutMs: number
): Promise<unknown> => {
  const declared = request.headers.get('content-length')
  if (declared === null) {
    return readCounted(request, max, timeoutMs).then((bytes) => parseJson(decode(bytes)))
  }
  if (Number(declared) > max) return Promise.reject(tooLarge(max))
  return readDeclared(request, declared, timeoutMs, parseJson)
}
