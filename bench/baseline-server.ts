/**
 * The raw limit: a bare `node:http` server doing the least an honest implementation must do for
 * the same request: read and parse the JSON body, check the bearer token, pull the echo's
 * pieces through an async iterator, and write the same JSON (or the same SSE chunks and
 * `[DONE]`). No validation, no routing, no agent: whatever our server spends above this is its
 * cost.
 *
 * Usage: node --import tsx bench/baseline-server.ts [port]
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { answer, chunks, SSE_HEADERS, TOKEN, UNAUTHORIZED } from './answer.ts'

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (chunk: Buffer) => parts.push(chunk))
  req.on('end', async () => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' })
      return res.end(UNAUTHORIZED)
    }
    const body = JSON.parse(Buffer.concat(parts).toString('utf8'))
    if (body.stream !== true) {
      const json = (await answer(body)).json()
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
      return res.end(json)
    }
    res.writeHead(200, SSE_HEADERS)
    for await (const chunk of chunks(body)) res.write(chunk)
    res.end()
  })
})

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`baseline listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})
process.on('SIGTERM', () => process.exit(0))
