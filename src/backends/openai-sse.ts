/**
 * A tolerant reader for an upstream's `text/event-stream`: model servers differ in the details
 * (CRLF, comment pings, `[DONE]` with no blank line after it), so this follows the SSE rules
 * rather than splitting on `\n\n`.
 */

/**
 * The `data` of each event, in order (multi-line data joined by `\n`). Stops reading (and cancels
 * the body) when the consumer stops early.
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  // One per stream: a shared global regex would share its lastIndex between concurrent streams.
  const lineBreak = /\r\n|\r|\n/g
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  let finished = false
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
        if (event !== undefined) yield event
      }
      buffer = buffer.slice(start)
    }
    // Some servers end the body without the blank line that would dispatch the last event.
    const last = feed(buffer) ?? feed('')
    if (last !== undefined) yield last
  } finally {
    if (!finished) reader.cancel().catch(() => {})
  }
}
