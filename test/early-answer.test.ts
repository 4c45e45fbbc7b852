/**
 * An answer given before the body was read (413 on `Content-Length`, 401, 405, 404, 429, 413 on
 * a chunked body that grew over the limit) reaches the client whole, however much it was still
 * uploading: the server lingers, reading and discarding the rest of the body within bounds,
 * before it closes. Without that, the close met unread bytes, the kernel sent RST, and most
 * clients lost the answer. And a request whose `Host` does not make a URL is served.
 *
 * The uploads come from Node in a process of its own (see `upload`).
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import net, { type AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createChatCompletionsApp } from '../src/index.ts'
import { mount, nodeClientAddress, serve } from '../src/runtimes/node.ts'
import {
  assertAnswered,
  BAD_HOSTS,
  exchange,
  MiB,
  modelsWithHost,
  upload,
  type Upload,
} from './clients.ts'
import { assertError, startServer, testConfig, TOKEN, within, type TestServer } from './helpers.ts'

const BIG = 25 * MiB
const ATTEMPTS = 20

type Target = { url: string; close(): Promise<void> }

const uploads = (target: Target, list: Upload[]) => upload(target.url, TOKEN, list)

/** The early answers the Node glue must deliver, on `serve()` and on `mount()`. */
const describeEarlyAnswers = (start: () => Promise<Target>) => {
  let server: Target
  before(async () => {
    server = await start()
  })
  after(() => server.close())

  it('delivers the 413 for a declared 25 MiB to fetch and to node:http, every time of 20', async () => {
    const [byFetch, byHttp] = await uploads(server, [
      { via: 'fetch', attempts: ATTEMPTS },
      { via: 'http', attempts: ATTEMPTS },
    ])
    await assertAnswered(byFetch, 413, 'fetch')
    await assertAnswered(byHttp, 413, 'node:http')
  })

  it('delivers the 401 for a wrong token and a 25 MiB body to node:http, every time of 20', async () => {
    const [byHttp] = await uploads(server, [{ via: 'http', attempts: ATTEMPTS, token: 'wrong' }])
    await assertAnswered(byHttp, 401, 'node:http')
  })

  it('delivers the 405, the 404 and the 413 for a chunked body over the limit', async () => {
    const [put, notFound, chunked, chunkedByFetch] = await uploads(server, [
      { via: 'http', attempts: 5, method: 'PUT' },
      { via: 'http', attempts: 5, path: '/v1/nowhere' },
      { via: 'http', attempts: 5, chunked: true },
      { via: 'fetch', attempts: 5, chunked: true },
    ])
    await assertAnswered(put, 405, 'PUT')
    await assertAnswered(notFound, 404, 'a path nobody serves')
    await assertAnswered(chunked, 413, 'chunked, node:http')
    await assertAnswered(chunkedByFetch, 413, 'chunked, fetch')
  })
}

/** A host `node:http` server with the app mounted; `/v1/nowhere` too, for its 404. */
const startMounted = async (): Promise<Target> => {
  const host: Server = createServer((_req, res) => res.writeHead(404).end('host 404'))
  const app = createChatCompletionsApp({ config: testConfig(), clientAddress: nodeClientAddress })
  mount(host, app, { match: (pathname) => pathname.startsWith('/v1/') })
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(host.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        host.close(() => resolve())
        host.closeAllConnections()
      }),
  }
}

describe('early answers on serve()', () => describeEarlyAnswers(() => startServer()))

describe('early answers on mount()', () => describeEarlyAnswers(startMounted))

describe('early answers while locked out', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({
      config: { gateway: { auth: { rateLimit: { maxAttempts: 1, exemptLoopback: false } } } },
    })
  })
  after(() => server.close())

  it('delivers the 429 to node:http', async () => {
    const [first, locked] = await uploads(server, [
      { via: 'http', attempts: 1, token: 'wrong' },
      { via: 'http', attempts: 5, token: 'wrong' },
    ])
    await assertAnswered(first, 401, 'the first wrong token')
    await assertAnswered(locked, 429, 'locked out')
  })
})

describe('the bounds of the lingering close', () => {
  const quiet = { info() {}, warn() {}, error() {} }
  const startLingering = (linger: { ms?: number; bytes?: number }) =>
    serve(createChatCompletionsApp({ config: testConfig(), logger: quiet }), {
      port: 0,
      hostname: '127.0.0.1',
      linger,
    })
  const head = (length: number) =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`

  it('closes the connection of a client that stops sending, once the time bound is passed', async () => {
    const running = await startLingering({ ms: 50 })
    try {
      // The body is declared but never sent: only the time bound ends the linger.
      const answer = await within(exchange(running.url, head(BIG)), 'the close of a stalled upload')
      assert.equal(answer.status, 413)
      assert.equal(answer.headers.connection, 'close')
      assert.equal(JSON.parse(answer.body).error.type, 'invalid_request_error')
    } finally {
      await running.close(0)
    }
  })

  it('closes the connection of a client that keeps sending, once the byte bound is passed', async () => {
    const running = await startLingering({ bytes: MiB })
    try {
      const { hostname, port } = new URL(running.url)
      const socket = net.connect(Number(port), hostname)
      // Read (a paused socket would not notice the close), and expect a reset.
      socket.resume()
      socket.on('error', () => {})
      const closed = new Promise((resolve) => socket.once('close', resolve))
      socket.write(head(BIG))
      // As fast as the server takes it; the kernel's buffers hold far less than 24 MiB.
      let sent = 0
      const chunk = Buffer.alloc(MiB, 'x')
      const write = () => {
        while (sent < BIG && !socket.destroyed) {
          sent += MiB
          if (!socket.write(chunk)) return void socket.once('drain', write)
        }
      }
      write()
      await within(closed, 'the close')
      assert.ok(sent < BIG, `the server took all ${sent} bytes`)
    } finally {
      await running.close(0)
    }
  })
})

const describeBadHosts = (start: () => Promise<Target>) => {
  let server: Target
  before(async () => {
    server = await start()
  })
  after(() => server.close())

  for (const host of BAD_HOSTS) {
    it(`serves GET /v1/models with Host: ${host}`, async () => {
      const answer = await exchange(server.url, modelsWithHost(host, TOKEN))
      assert.equal(answer.status, 200, answer.body)
      assert.ok(answer.headers['x-request-id'], 'x-request-id')
      const list = JSON.parse(answer.body)
      assert.equal(list.object, 'list')
      assert.ok(list.data.some((m: { id: string }) => m.id === 'openclaw/main'))
    })
  }
}

describe('a Host header that does not make a URL, on serve()', () =>
  describeBadHosts(() => startServer()))

describe('a Host header that does not make a URL, on mount()', () => describeBadHosts(startMounted))

describe('a request target node-server cannot read', () => {
  let server: TestServer
  before(async () => {
    server = await startServer()
  })
  after(() => server.close())

  it('gets a 400 in the OpenAI error shape, with a request id', async () => {
    const answer = await exchange(
      server.url,
      'GET /v1\\models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
    )
    const headers = { 'content-type': answer.headers['content-type'] ?? '' }
    await assertError(new Response(answer.body, { status: answer.status, headers }), 400)
    assert.ok(answer.headers['x-request-id'], 'x-request-id')
  })
})
