/**
 * The Responses stream's SSE frames; the one place they are written. Each event is named and
 * numbered (`event: <type>` and `sequence_number`, as the spec has them); the stream opens with
 * `response.created` and `response.in_progress`, ends with exactly one of `response.completed`,
 * `response.incomplete` or `response.failed`, then `data: [DONE]` as the gateway ends it (every
 * client we test skips it).
 */
import type { Framer } from '../core/sse.ts'
import type { ResponseBuilder, ResponseEvent } from './response.ts'

const DONE = 'data: [DONE]\n\n'

/**
 * The framer for one response; `onFinish` runs once, when its last event is written, and the
 * last frames wait for what it returns.
 */
export const responsesFramer = (
  builder: ResponseBuilder,
  onFinish: () => Promise<void> | undefined
): Framer => {
  let sequence = 0
  let ended = false
  let finishing: Promise<void> | undefined
  const frame = ({ type, ...fields }: ResponseEvent) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`
  const frames = (events: ResponseEvent[]) => {
    let out = ''
    for (const event of events) out += frame(event)
    if (builder.finished && !ended) {
      ended = true
      finishing = onFinish()
      out += DONE
    }
    return out
  }
  return {
    get finished() {
      return builder.finished
    },
    open() {
      const response = builder.resource()
      return (
        frame({ type: 'response.created', response }) +
        frame({ type: 'response.in_progress', response })
      )
    },
    event: (event) => frames(builder.apply(event)),
    end: () => frames(builder.apply({ type: 'done' })),
    settling: () => finishing,
  }
}
