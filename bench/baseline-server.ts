/**
 * The raw limit: a bare `node:http` server doing the least an honest implementation must do for
 * the same request: read and parse the JSON body, check the bearer token, and write the same
 * non-stream JSON (or the same SSE chunks and `[DONE]`) that the echo backend's answer would be.
 * No validation, no routing, no agent: whatever our server spends above this is its cost.
 *
 * Usage: node --import tsx bench/baseline-server.ts <port> <token> [chunkChars]
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const [port = '0', token = 'bench-token', chunkArg = '8'] = process.argv.slice(2)
const chunkChars = Number(chunkArg)

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (chunk: Buffer) => parts.push(chunk))
  req.on('end', () => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'content-type': 'application/json' })
      return res.end(
        '{"error":{"message":"Unauthorized","type":"authentication_error","param":null,"code":"invalid_api_key"}}'
      )
    }
    const body = JSON.parse(Buffer.concat(parts).toString('utf8'))
    const messages = body.messages as { role: string; content: string }[]
    const text = messages[messages.length - 1].content
    const id = `chatcmpl-${crypto.randomUUID()}`
    const created = Math.floor(Date.now() / 1000)
    const model = body.model ?? 'openclaw'
    const usage = {
      prompt_tokens: Math.ceil(text.length / 4),
      completion_tokens: Math.ceil(text.length / 4),
      total_tokens: 2 * Math.ceil(text.length / 4),
    }
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
      return res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: text, refusal: null },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
          usage,
        })
      )
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    })
    const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":`
    const chunk = (delta: unknown, finish: string | null) =>
      `data: ${head}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish ? `"${finish}"` : 'null'}}]}\n\n`
    res.write(chunk({ role: 'assistant', content: '' }, null))
    for (let i = 0; i < text.length; i += chunkChars)
      res.write(chunk({ content: text.slice(i, i + chunkChars) }, null))
    res.write(chunk({}, 'stop'))
    res.end('data: [DONE]\n\n')
  })
})

server.listen(Number(port), '127.0.0.1', () => {
  console.log(`baseline listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})
process.on('SIGTERM', () => process.exit(0))
