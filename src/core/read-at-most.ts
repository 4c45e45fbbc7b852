/** Reading a body whose size the sender controls: never more than a limit. */

/**
 * All of `stream`, or `undefined` (the stream cancelled) once it passes `max` bytes. When `stop`
 * rejects first, the stream is cancelled and that rejection is thrown. With `leaveRest` the
 * stream is only released, not cancelled, in both cases: a request body's rest is then the
 * lingering close's to read and throw away (runtimes/fetch-linger.ts), so that closing the
 * connection does not destroy the answer on its way.
 */
export const readAtMost = async (
  stream: ReadableStream<Uint8Array>,
  max: number,
  stop?: Promise<never>,
  leaveRest = false
): Promise<Uint8Array | undefined> => {
  const reader = stream.getReader()
  const letGo = () => {
    if (leaveRest) reader.releaseLock()
    else reader.cancel().catch(() => {})
  }
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await (stop ? Promise.race([reader.read(), stop]) : reader.read())
      if (done) break
      size += value.byteLength
      if (size > max) {
        letGo()
        return undefined
      }
      chunks.push(value)
    }
  } catch (err) {
    letGo()
    throw err
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
