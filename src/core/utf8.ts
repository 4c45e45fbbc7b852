/**
 * The UTF-8 size of a string, without keeping its bytes: an answer's size for the request log,
 * and a declared-length body's check. `TextEncoder.encodeInto()` into one reused buffer counts
 * natively and is standard everywhere (Node 24: a 2 KB answer in 63 ns, against 1.1 µs for a
 * regexp that finds the first non-ASCII character and a loop from there; bench/notes.md).
 */
const encoder = new TextEncoder()

/** Reused for every count; a longer string is counted in pieces of what fits. */
const scratch = new Uint8Array(64 * 1024)

/** UTF-8 bytes of a string, as it goes out (a lone surrogate as U+FFFD, 3 bytes). */
export const utf8Length = (text: string): number => {
  let bytes = 0
  // `encodeInto` never splits a surrogate pair between two pieces: it stops before one that
  // does not fit, and `read` says where.
  for (let at = 0; at < text.length;) {
    const { read, written } = encoder.encodeInto(at === 0 ? text : text.slice(at), scratch)
    bytes += written
    at += read
  }
  return bytes
}
