/**
 * The random ids of every answer (request ids, completion and response ids, session keys):
 * version 4 UUIDs from the Web Crypto random source, as `crypto.randomUUID()` makes them, but
 * each made as one flat string. Node's own is built by a score of concatenations, which must be
 * flattened again wherever the id is used (a header, a log line, a map key); with three ids per
 * request, that was ~1 µs of a short answer (bench/notes.md).
 */

const IDS_PER_FILL = 256
const pool = new Uint8Array(16 * IDS_PER_FILL)
/** Where the next id's bytes start; at the end, the pool is refilled (first on first use: Workers
 * allow no random values at a module's top level). */
let offset = pool.length

const HEX = [...'0123456789abcdef'].map((c) => c.charCodeAt(0))
const DASH = 45
const dashed: number[] = new Array(36).fill(DASH)
const plain: number[] = new Array(32)

/** The next 16 random bytes' offset in the pool, with the version (4) and variant bits set. */
const take = (): number => {
  if (offset === pool.length) {
    crypto.getRandomValues(pool)
    offset = 0
  }
  const at = offset
  offset += 16
  pool[at + 6] = (pool[at + 6] & 0x0f) | 0x40
  pool[at + 8] = (pool[at + 8] & 0x3f) | 0x80
  return at
}

/** A random UUID (version 4): `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
export const randomUuid = (): string => {
  const at = take()
  let j = 0
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) j++
    const byte = pool[at + i]
    dashed[j++] = HEX[byte >> 4]
    dashed[j++] = HEX[byte & 15]
  }
  return String.fromCharCode.apply(null, dashed)
}

/** The same 128 bits as 32 hex digits, without dashes (`resp_…`, `msg_…` ids). */
export const randomHex = (): string => {
  const at = take()
  for (let i = 0; i < 16; i++) {
    const byte = pool[at + i]
    plain[2 * i] = HEX[byte >> 4]
    plain[2 * i + 1] = HEX[byte & 15]
  }
  return String.fromCharCode.apply(null, plain)
}

/** A tool call's id, as OpenAI's look (`call_` and 24 hex digits), for calls a backend names. */
export const randomCallId = (): string => `call_${randomHex().slice(0, 24)}`
