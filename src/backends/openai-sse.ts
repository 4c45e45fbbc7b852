/**
 * A tolerant reader for an upstream's `text/event-stream`: model servers differ in the details
 * (CRLF, comment pings, `[DONE]` with no blank line after it), so this follows the SSE rules
 * rather than splitting on `\n\n`.
 */

/** How long the end of a body may take to arrive once the upstream said `[DONE]`. */
const END_AFTER_DONE_MS = 1_000

/**
 * Reads what is left of a body that is about to end, so its connection can be reused: a body
 * cancelled before its end makes the HTTP client throw the connection away, and every turn would
 * then open a new one. Gives up (and cancels) after a moment.
 */
const readToEnd = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(resolve, END_AFTER_DONE_MS, 'late')
  })
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late])
      if (next === 'late') break
      if (next.done) return
    }
  } catch {
    return
  } finally {
    clearTimeout(timer)
  }
  reader.cancel().catch(() => {})
}

/**
 * The `data` of each event, in order (multi-line data joined by `\n`). When the consumer stops
 * right after `[DONE]`, the rest of the body is read to its end; when it stops anywhere else,
 * the body is cancelled.
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  // One per stream: a shared global regex would share its lastIndex between concurrent streams.
  const lineBreak = /\r\n|\r|\n/g
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  let finished = false
  let last: string | undefined
  // Returns the event a line completes, if any.
  const feed = (line: string): string | undefined => {
    if (line === '') {
      if (!data.length) return undefined
      const event = data.join('\n')
      data = []
      return event
    }
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    if (field !== 'data') return undefined
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    data.push(value)
    return undefined
  }
  try {
    while (!finished) {
      const next = await reader.read()
      finished = next.done
      buffer += finished ? decoder.decode() : decoder.decode(next.value, { stream: true })
      let start = 0
      lineBreak.lastIndex = 0
      for (let m = lineBreak.exec(buffer); m; m = lineBreak.exec(buffer)) {
        // A lone CR at the end may be the first half of a CRLF split across reads.
        if (m[0] === '\r' && m.index === buffer.length - 1 && !finished) break
        const event = feed(buffer.slice(start, m.index))
        start = lineBreak.lastIndex
        if (event !== undefined) yield (last = event)
      }
      buffer = buffer.slice(start)
    }
    // Some servers end the body without the blank line that would dispatch the last event.
    const rest = feed(buffer) ?? feed('')
    if (rest !== undefined) yield rest
  } finally {
    if (!finished) {
      if (last === '[DONE]') await readToEnd(reader)
      else reader.cancel().catch(() => {})
    }
  }
}
