/**
 * The client side of test/early-answer.test.ts, run by Node in a process of its own. For each
 * upload it describes, it sends a large body `attempts` times, one request after the other, and
 * it prints what every attempt got as JSON on stdout (an array per upload). In the test's own
 * process the client would read each answer in the same event-loop turn as the server closes,
 * which hides the lost answers the test is about.
 *
 * Usage: node test/early-answer-client.mjs '[{"url", "path", "method", "token", "size",
 * "chunked", "via": "fetch" | "http", "attempts"}, …]'
 */
import http from 'node:http'

const CHUNK = 1024 * 1024
const chunk = Buffer.alloc(CHUNK, 'x')
const bodies = new Map()
const bodyOfSize = (size) => {
  if (!bodies.has(size)) bodies.set(size, Buffer.alloc(size, 'x'))
  return bodies.get(size)
}

/** The body as a stream of 1 MiB chunks: sent chunked, with no `Content-Length`. */
const chunks = (size) => {
  let left = size
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close()
      const n = Math.min(CHUNK, left)
      left -= n
      controller.enqueue(n === CHUNK ? chunk : chunk.subarray(0, n))
    },
  })
}

const viaFetch = async ({ url, path, method = 'POST', headers, size, chunked }) => {
  try {
    const res = await fetch(url + path, {
      method,
      headers,
      body: chunked ? chunks(size) : bodyOfSize(size),
      ...(chunked ? { duplex: 'half' } : {}),
    })
    return {
      status: res.status,
      contentType: res.headers.get('content-type'),
      requestId: res.headers.get('x-request-id'),
      body: await res.text(),
    }
  } catch (err) {
    return { error: String(err.cause?.code ?? err.message) }
  }
}

const viaHttp = ({ url, path, method = 'POST', headers, size, chunked }) =>
  new Promise((resolve) => {
    const req = http.request(url + path, {
      method,
      agent: false,
      headers: chunked ? headers : { ...headers, 'content-length': size },
    })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          contentType: res.headers['content-type'] ?? null,
          requestId: res.headers['x-request-id'] ?? null,
          body,
        })
      )
      res.on('error', (err) => resolve({ error: `response: ${err.code ?? err.message}` }))
    })
    req.on('error', (err) => resolve({ error: String(err.code ?? err.message) }))
    if (!chunked) return void req.end(bodyOfSize(size))
    // Written as the socket takes it; a closed socket ends the loop through 'error'.
    let left = size
    const write = () => {
      while (left > 0) {
        const n = Math.min(CHUNK, left)
        left -= n
        if (!req.write(n === CHUNK ? chunk : chunk.subarray(0, n)))
          return void req.once('drain', write)
      }
      req.end()
    }
    write()
  })

const results = []
for (const upload of JSON.parse(process.argv[2])) {
  const headers = { authorization: `Bearer ${upload.token}`, 'content-type': 'application/json' }
  const send = upload.via === 'fetch' ? viaFetch : viaHttp
  const outcomes = []
  for (let i = 0; i < upload.attempts; i++) outcomes.push(await send({ ...upload, headers }))
  results.push(outcomes)
}
process.stdout.write(JSON.stringify(results))
