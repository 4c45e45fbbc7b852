import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { createChatCompletionsApp } from '../src/index.ts'
import { mount, nodeClientAddress } from '../src/runtimes/node.ts'
import { sseChunks, sseData, testConfig, TOKEN } from './helpers.ts'

/** A stand-in for a gateway: its own HTTP route, its own 404 and a WebSocket echo on one port. */
const hostServer = () => {
  const server = createServer((req, res) => {
    if (req.url === '/host') return res.end('host route')
    res.writeHead(404).end('host 404')
  })
  const wss = new WebSocketServer({ noServer: true })
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo:${data}`)))
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  )
  return { server, wss }
}

const wsEcho = (url: string, text: string) =>
  new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('open', () => ws.send(text))
    ws.once('message', (data) => {
      resolve(String(data))
      ws.close()
    })
    ws.once('error', reject)
  })

describe('mounting the app into a host node:http server', () => {
  let server: Server
  let wss: WebSocketServer
  let url: string
  let unmount: () => void
  const globals = { Request: globalThis.Request, Response: globalThis.Response }

  before(async () => {
    ;({ server, wss } = hostServer())
    const app = createChatCompletionsApp({ config: testConfig(), clientAddress: nodeClientAddress })
    unmount = mount(server, app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    wss.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const chat = (body: unknown) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('serves a host route, a WebSocket echo, a JSON answer and a stream on one port at once', async () => {
    const [host, echo, json, stream] = await Promise.all([
      fetch(`${url}/host`).then((r) => r.text()),
      wsEcho(url.replace('http', 'ws') + '/ws', 'ping'),
      chat({ messages: [{ role: 'user', content: 'json please' }] }).then((r) => r.json()),
      chat({ stream: true, messages: [{ role: 'user', content: 'stream please' }] }).then((r) =>
        r.text()
      ),
    ])
    assert.equal(host, 'host route')
    assert.equal(echo, 'echo:ping')
    assert.equal(json.choices[0].message.content, 'json please')
    assert.equal(sseData(stream).at(-1), '[DONE]')
    const text = sseChunks(stream)
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('')
    assert.equal(text, 'stream please')
  })

  it('leaves every other path to the host, including its 404 and /health', async () => {
    const missing = await fetch(`${url}/nope`)
    assert.equal(missing.status, 404)
    assert.equal(await missing.text(), 'host 404')
    const health = await fetch(`${url}/health`)
    assert.equal(await health.text(), 'host 404')
  })

  it('answers the model list on the shared port', async () => {
    const res = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(res.status, 200)
    assert.equal((await res.json()).object, 'list')
  })

  it("does not replace the host's global Request and Response", async () => {
    await chat({ messages: [{ role: 'user', content: 'x' }] }).then((r) => r.text())
    assert.equal(globalThis.Request, globals.Request)
    assert.equal(globalThis.Response, globals.Response)
  })

  it('gives the host its own listener back when unmounted', async () => {
    unmount()
    const res = await fetch(`${url}/v1/models`)
    assert.equal(await res.text(), 'host 404')
    assert.equal(await (await fetch(`${url}/host`)).text(), 'host route')
  })
})
