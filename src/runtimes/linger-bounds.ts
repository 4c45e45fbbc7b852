/**
 * The bounds of a lingering close: after an answer given before the request body was read, the
 * rest of the body is read and thrown away until it ends, so that closing the connection does
 * not destroy the answer on its way to the client (see `node-linger.ts`), but never for longer
 * or more bytes than this.
 */

/**
 * How long a connection may stay open after its early answer: long enough for a client on a slow
 * link to read a short answer, short enough that a client that keeps sending ties up a socket
 * for seconds, not minutes (nginx waits up to 5 s between reads).
 */
export const LINGER_MS = 5_000

/**
 * How many body bytes are read and thrown away at most: room for a body a few times the default
 * 20 MiB limit (what a client that misjudged the limit sends), and little work for the server.
 */
export const LINGER_BYTES = 64 * 1024 * 1024

export interface LingerBounds {
  /** Milliseconds after the answer, at most (default `LINGER_MS`). */
  ms?: number
  /** Body bytes read and discarded, at most (default `LINGER_BYTES`). */
  bytes?: number
}
