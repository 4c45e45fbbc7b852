/**
 * A fast OpenAI-compatible model server for the proxy-overhead scenario: it answers every chat
 * request at once with a short reply, as JSON or as an SSE stream (the openai backend always
 * streams upstream). Calling it directly is the baseline; calling it through our openai backend
 * shows what the proxy adds.
 *
 * Usage: node --import tsx bench/mock-upstream.ts [port]
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const REPLY = ['The gateway', ' checks the token,', ' runs the turn', ' and streams back.']
const USAGE = { prompt_tokens: 16, completion_tokens: 12, total_tokens: 28 }

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (c: Buffer) => parts.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(parts).toString('utf8'))
    const id = `chatcmpl-${crypto.randomUUID()}`
    const base = { id, created: Math.floor(Date.now() / 1000), model: body.model ?? 'mock' }
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(
        JSON.stringify({
          ...base,
          object: 'chat.completion',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: REPLY.join(''), refusal: null },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage: USAGE,
        })
      )
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    const chunk = (delta: unknown, finish: string | null, extra = {}) =>
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`
    let out = chunk({ role: 'assistant', content: '' }, null)
    for (const piece of REPLY) out += chunk({ content: piece }, null)
    out += chunk({}, 'stop')
    out += `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage: USAGE })}\n\n`
    res.end(out + 'data: [DONE]\n\n')
  })
})

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(
    `mock upstream listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`
  )
})
process.on('SIGTERM', () => process.exit(0))
