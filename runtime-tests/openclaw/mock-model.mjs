/**
 * A deterministic OpenAI-compatible model provider for the real OpenClaw gateway, on loopback.
 * The gateway always streams upstream (`stream: true` with `include_usage`) and wraps the user's
 * text (a `[Tue 2026-11-24 00:07 UTC] ` prefix, a `\n\nRuntime: …` suffix on the first turn, and
 * an extra `<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>` user message); the mock strips those.
 *
 * Replies:
 * - `echo: <user text> [turn=N]`, N = assistant messages in the upstream history + 1, so a
 *   session's turns count up;
 * - the text holds `MOCK_TOOL`: a call of the client tool `get_weather` `{"city":"Paris"}`, made
 *   through OpenClaw's deferred wrapper tool `tool_call {id, args}` (client tools are not in the
 *   upstream tool list), or directly if `get_weather` is offered;
 * - a client tool result (flattened by the gateway into `…[Current message - respond to this]\n
 *   Tool:<id>: <content>`): `tool result was: Tool:<id>: <content> [turn=N]`;
 * - a `tool` message after the user's (a tool the gateway ran, e.g. `tool_call` failing with
 *   `Unknown tool id: get_weather` when the run was not given the client's tools):
 *   `tool result was: <content> [turn=N]`, never a second call;
 * - `MOCK_400`: HTTP 400 `mock upstream rejected request` (the gateway does not retry a 400).
 *
 * `startMockModel()` serves it in-process; run the file to serve it standalone on `MOCK_PORT`
 * (default: a free port), printing `mock-model listening on <url>`.
 */
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { resolve } from 'node:path'

export const MOCK_MODEL = 'mock-echo'
const INTERNAL_CONTEXT = '<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>'
const CURRENT = '[Current message - respond to this]\n'
const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
const CREATED = 1700000000

const text = (content) =>
  typeof content === 'string'
    ? content
    : Array.isArray(content)
      ? content.map((part) => (typeof part === 'string' ? part : (part?.text ?? ''))).join('')
      : ''

/** The user's own words: without OpenClaw's timestamp prefix and runtime suffix. */
const userWords = (raw) => {
  let s = raw.replace(/^\[[A-Z][a-z]{2} \d{4}-\d{2}-\d{2} \d{2}:\d{2}[^\]]*\] /, '')
  const runtime = s.indexOf('\n\nRuntime: ')
  if (runtime >= 0) s = s.slice(0, runtime)
  return s.trim()
}

/** What to answer to one upstream request: `{ text }`, `{ tool }` or `{ status, message }`. */
export const decide = (body) => {
  const messages = Array.isArray(body?.messages) ? body.messages : []
  const turn = messages.filter((m) => m.role === 'assistant').length + 1
  const userAt = messages.findLastIndex(
    (m) => m.role === 'user' && !text(m.content).startsWith(INTERNAL_CONTEXT)
  )
  const user = messages[userAt]
  // A tool ran since the user spoke (OpenClaw puts its internal-context message after it): say
  // what it returned, so a failed tool cannot make the model call it again and again.
  const result = messages.slice(userAt + 1).findLast((m) => m.role === 'tool')
  if (result) return { text: `tool result was: ${text(result.content)} [turn=${turn}]` }
  const words = userWords(text(user?.content))
  const current = words.lastIndexOf(CURRENT)
  const currentText = current >= 0 ? words.slice(current + CURRENT.length) : words
  if (currentText.startsWith('Tool:')) {
    return { text: `tool result was: ${currentText.split('\n')[0]} [turn=${turn}]` }
  }
  if (words.includes('MOCK_400')) return { status: 400, message: 'mock upstream rejected request' }
  if (words.includes('MOCK_TOOL')) {
    const names = (body?.tools ?? []).map((t) => t?.function?.name)
    const args = { city: 'Paris' }
    if (names.includes('get_weather')) return { tool: { name: 'get_weather', arguments: args } }
    if (names.includes('tool_call')) {
      return { tool: { name: 'tool_call', arguments: { id: 'get_weather', args } } }
    }
  }
  return { text: `echo: ${words} [turn=${turn}]` }
}

const chunk = (body, choice) => ({
  id: 'chatcmpl-mock',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: body?.model ?? MOCK_MODEL,
  choices: choice ? [{ index: 0, logprobs: null, ...choice }] : [],
})

const answer = (body, res) => {
  const decision = decide(body)
  if (decision.status) {
    res.writeHead(decision.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: { message: decision.message, type: 'invalid_request_error' } }))
    return
  }
  const call = decision.tool && {
    id: 'call_mock_1',
    type: 'function',
    function: { name: decision.tool.name, arguments: JSON.stringify(decision.tool.arguments) },
  }
  if (!body?.stream) {
    const message = call
      ? { role: 'assistant', content: null, tool_calls: [call] }
      : { role: 'assistant', content: decision.text }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(
      JSON.stringify({
        ...chunk(body, { message, finish_reason: call ? 'tool_calls' : 'stop' }),
        object: 'chat.completion',
        usage: USAGE,
      })
    )
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  const send = (data) => res.write(`data: ${JSON.stringify(data)}\n\n`)
  if (call) {
    const head = { ...call, index: 0, function: { name: call.function.name, arguments: '' } }
    send(chunk(body, { delta: { role: 'assistant', content: null, tool_calls: [head] } }))
    const rest = { index: 0, function: { arguments: call.function.arguments } }
    send(chunk(body, { delta: { tool_calls: [rest] }, finish_reason: null }))
    send(chunk(body, { delta: {}, finish_reason: 'tool_calls' }))
  } else {
    send(chunk(body, { delta: { role: 'assistant', content: '' }, finish_reason: null }))
    for (const piece of decision.text.match(/\S+\s*/g) ?? [decision.text]) {
      send(chunk(body, { delta: { content: piece }, finish_reason: null }))
    }
    send(chunk(body, { delta: {}, finish_reason: 'stop' }))
  }
  if (body?.stream_options?.include_usage) send({ ...chunk(body), usage: USAGE })
  res.end('data: [DONE]\n\n')
}

/**
 * Serves the mock on 127.0.0.1 (`port` 0: a free one). `requests` collects every request as
 * `{ method, url, body }`. `close()` stops it.
 */
export const startMockModel = ({ port = 0 } = {}) =>
  new Promise((resolvePromise, reject) => {
    const requests = []
    const server = createServer((req, res) => {
      const parts = []
      req.on('data', (part) => parts.push(part))
      req.on('end', () => {
        const raw = Buffer.concat(parts).toString('utf8')
        let body = null
        try {
          body = raw ? JSON.parse(raw) : null
        } catch {}
        const path = (req.url ?? '').replace(/\?.*$/, '')
        requests.push({ method: req.method, url: path, body })
        if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
          res.writeHead(200, { 'content-type': 'application/json' })
          const model = { id: MOCK_MODEL, object: 'model', created: 0, owned_by: 'mock' }
          res.end(JSON.stringify({ object: 'list', data: [model] }))
        } else if (
          req.method === 'POST' &&
          (path === '/v1/chat/completions' || path === '/chat/completions')
        ) {
          answer(body, res)
        } else {
          res.writeHead(404, { 'content-type': 'application/json' })
          res.end(
            JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } })
          )
        }
      })
    })
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address()
      resolvePromise({
        url: `http://127.0.0.1:${bound}`,
        port: bound,
        requests,
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mock = await startMockModel({ port: Number(process.env.MOCK_PORT ?? 0) })
  console.log(`mock-model listening on ${mock.url}`)
  process.once('SIGTERM', () => mock.close().then(() => process.exit(0)))
  process.once('SIGINT', () => mock.close().then(() => process.exit(0)))
}
