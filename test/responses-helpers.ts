/**
 * What the Responses API tests share: requests to its three routes, a backend that records what
 * the agent received and answers by script (else as the echo), and a reader for the named SSE
 * events that checks the framing while it parses.
 */
import assert from 'node:assert/strict'
import {
  echoBackend,
  type AgentBackend,
  type AgentEvent,
  type AgentRunInput,
} from '../src/index.ts'
import { TOKEN } from './helpers.ts'

/** The config that turns the endpoint on (it is off by default). */
export const RESPONSES_ON = { gateway: { http: { endpoints: { responses: { enabled: true } } } } }

const AUTH = { authorization: `Bearer ${TOKEN}` }

/** `POST /v1/responses` with the test token unless `headers` says otherwise. */
export const createResponse = (
  server: { url: string },
  body: unknown,
  headers: Record<string, string> = {},
  init: RequestInit = {}
) =>
  fetch(`${server.url}/v1/responses`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })

/** `GET /v1/responses/{id}` (`query` as it goes after the path, e.g. `?stream=true`). */
export const getResponse = (
  server: { url: string },
  id: string,
  headers: Record<string, string> = {},
  query = ''
) => fetch(`${server.url}/v1/responses/${id}${query}`, { headers: { ...AUTH, ...headers } })

/** `DELETE /v1/responses/{id}`. */
export const deleteResponse = (
  server: { url: string },
  id: string,
  headers: Record<string, string> = {}
) =>
  fetch(`${server.url}/v1/responses/${id}`, { method: 'DELETE', headers: { ...AUTH, ...headers } })

export type Script = (input: AgentRunInput, signal: AbortSignal) => AsyncIterable<AgentEvent>

/** A script that yields `events` in order. */
export const events = (...list: AgentEvent[]): Script =>
  async function* () {
    yield* list
  }

/** The current message's own text: the last user or tool message's. */
export const currentText = (input: AgentRunInput) =>
  input.messages.findLast((m) => m.role === 'user' || m.role === 'tool')?.text ?? ''

/**
 * A backend that records every input, then runs the script named by the current message's text,
 * or answers as the echo backend (the prompt it got) when there is none.
 */
export const recordingBackend = (scripts: Record<string, Script> = {}) => {
  const inputs: AgentRunInput[] = []
  const echo = echoBackend()
  const backend: AgentBackend = {
    name: 'recording',
    run(input, signal) {
      inputs.push(input)
      const script = scripts[currentText(input)]
      return script ? script(input, signal) : echo.run(input, signal)
    },
  }
  return { backend, inputs, last: () => inputs.at(-1)! }
}

/** One event of a Responses stream (its JSON, `type` and `sequence_number` included). */
export type StreamEvent = { type: string; sequence_number: number } & Record<string, any>

const DONE = 'data: [DONE]\n\n'
const HEARTBEAT = ': keep-alive'

/**
 * The events of a Responses stream, checking its framing on the way: each block is
 * `event: <type>` and one `data:` line whose JSON has that very `type` (keep-alive comment lines
 * may ride in front of a block, never alone), the sequence numbers count 0, 1, 2… without a gap,
 * and `data: [DONE]` ends the stream.
 */
export const parseEvents = (raw: string) => {
  assert.ok(raw.endsWith(`\n\n${DONE}`), `the stream must end with data: [DONE]:\n${raw}`)
  const blocks = raw.slice(0, -DONE.length).split('\n\n')
  assert.equal(blocks.pop(), '', 'the last event ends with a blank line')
  const list: StreamEvent[] = []
  let heartbeats = 0
  for (const block of blocks) {
    const lines = block.split('\n')
    while (lines[0] === HEARTBEAT) {
      heartbeats++
      lines.shift()
    }
    assert.equal(lines.length, 2, `an event is an event line and a data line: ${block}`)
    assert.match(lines[0], /^event: \S+$/, block)
    assert.match(lines[1], /^data: \{/, block)
    const event = JSON.parse(lines[1].slice('data: '.length)) as StreamEvent
    assert.equal(lines[0].slice('event: '.length), event.type, 'the event name is its type')
    assert.equal(event.sequence_number, list.length, `sequence_number of ${event.type}`)
    list.push(event)
  }
  return { events: list, heartbeats }
}

/** A stream answer: status 200 and the SSE headers checked, its events parsed (`parseEvents`). */
export const readEvents = async (res: Response) => {
  const raw = await res.text()
  assert.equal(res.status, 200, raw)
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
  assert.equal(res.headers.get('cache-control'), 'no-cache')
  assert.equal(res.headers.get('x-accel-buffering'), 'no')
  return { raw, ...parseEvents(raw) }
}

/** The Response object a stream ends with (completed, incomplete or failed). */
export const finalResponse = (list: StreamEvent[]) => {
  const last = list.at(-1)!
  assert.match(last.type, /^response\.(completed|incomplete|failed)$/, last.type)
  return last.response
}

/** The stream's output text: its text deltas, joined. */
export const streamedText = (list: StreamEvent[]) =>
  list
    .filter((e) => e.type === 'response.output_text.delta')
    .map((e) => e.delta as string)
    .join('')

/**
 * A value with its generated ids (`resp_…`, `msg_…`, `fc_…`) numbered in order of appearance and
 * its timestamps left out, so two answers to the same script can be compared.
 */
export const withoutIds = (value: unknown) => {
  const ids = new Map<string, string>()
  const text = JSON.stringify(value).replace(/\b(resp|msg|fc)_[0-9a-f]{32}\b/g, (id, kind) => {
    if (!ids.has(id)) ids.set(id, `${kind}_${ids.size}`)
    return ids.get(id)!
  })
  return JSON.parse(text, (key, v) =>
    key === 'created_at' || key === 'completed_at' ? undefined : v
  )
}

/**
 * A one-page PDF whose page shows `text` (or nothing, with `text` undefined), with a correct
 * cross-reference table: each object's byte offset is counted as the file is built.
 */
export const tinyPdf = (text?: string): Uint8Array => {
  const content = text === undefined ? '' : `BT /F1 24 Tf 72 700 Td (${text}) Tj ET`
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R ' +
      '/Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]
  let pdf = '%PDF-1.4\n'
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(pdf.length)
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = pdf.length
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const offset of offsets) pdf += `${String(offset).padStart(10, '0')} 00000 n \n`
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return new TextEncoder().encode(pdf)
}

export const base64 = (bytes: Uint8Array) => {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin)
}
