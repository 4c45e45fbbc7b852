import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { AgentRunInput, ConfigInput } from '../src/index.ts'
import { chat, probeBackend, startServer, type TestServer } from './helpers.ts'

const INVALID = 'Invalid image_url content in `messages`.'

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0))

/** Tiny "images": the real magic bytes of each format, padded with zeros to `size` bytes. */
const image = (magic: number[], size = 32) => {
  const bytes = new Uint8Array(size)
  bytes.set(magic)
  return bytes
}
const MAGIC = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  jpeg: [0xff, 0xd8, 0xff, 0xe0],
  gif: ascii('GIF89a'),
  webp: [...ascii('RIFF'), 24, 0, 0, 0, ...ascii('WEBP')],
  pdf: ascii('%PDF-1.7'),
}
const png = (size?: number) => image(MAGIC.png, size)

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
const dataUri = (mime: string, bytes: Uint8Array, params = '') =>
  `data:${mime}${params};base64,${base64(bytes)}`

const imagePart = (url: string) => ({ type: 'image_url', image_url: { url } })
const withImages = (text: string, ...urls: string[]) => ({
  messages: [{ role: 'user', content: [{ type: 'text', text }, ...urls.map(imagePart)] }],
})

/** A probe server: every run records its input and answers `ok`. */
const probeServer = async (config: ConfigInput = {}) => {
  const probe = probeBackend(async function* () {
    yield { type: 'done', text: 'ok' }
  })
  const server = await startServer({ backend: probe.backend, config })
  /** Sends `body`; fails unless 200; returns the run's input. */
  const run = async (body: unknown): Promise<AgentRunInput> => {
    const count = probe.inputs.length
    const res = await chat(server, body)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.equal(probe.inputs.length, count + 1)
    return probe.inputs.at(-1)!
  }
  /** Sends `body`; expects the 400 image error and no run; returns the error object. */
  const reject = async (body: unknown) => {
    const count = probe.inputs.length
    const res = await chat(server, body)
    const text = await res.text()
    assert.equal(res.status, 400, text)
    assert.equal(probe.inputs.length, count, 'no run may start')
    const { error } = JSON.parse(text)
    assert.equal(error.type, 'invalid_request_error')
    assert.equal(error.code, null)
    assert.ok(error.message.startsWith(INVALID), error.message)
    return error
  }
  return { server, run, reject }
}

describe('images sent as data URIs', () => {
  let s: Awaited<ReturnType<typeof probeServer>>
  before(async () => {
    s = await probeServer()
  })
  after(() => s.server.close())

  it('forwards png, jpeg, gif and webp images as base64 with their type (18)', async () => {
    const kinds = ['png', 'jpeg', 'gif', 'webp'] as const
    const bytes = kinds.map((k) => image(MAGIC[k]))
    const input = await s.run(
      withImages('look', ...kinds.map((k, i) => dataUri(`image/${k}`, bytes[i])))
    )
    assert.equal(input.message, 'look')
    assert.deepEqual(
      input.images,
      kinds.map((k, i) => ({ type: 'image', data: base64(bytes[i]), mimeType: `image/${k}` }))
    )
  })

  it('accepts extra data URI parameters and reads the type from them (19)', async () => {
    const bytes = png()
    const input = await s.run(withImages('x', dataUri('image/png', bytes, ';charset=utf-8')))
    assert.deepEqual(input.images, [{ type: 'image', data: base64(bytes), mimeType: 'image/png' }])
  })

  it('accepts the image_url part as a bare string too', async () => {
    const bytes = image(MAGIC.gif)
    const input = await s.run({
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: dataUri('image/gif', bytes) }] },
      ],
    })
    assert.deepEqual(input.images, [{ type: 'image', data: base64(bytes), mimeType: 'image/gif' }])
  })

  it('forwards an image-only message with the placeholder text (21)', async () => {
    const bytes = png()
    const input = await s.run({
      messages: [{ role: 'user', content: [imagePart(dataUri('image/png', bytes))] }],
    })
    assert.equal(input.message, 'User sent image(s) with no text.')
    assert.deepEqual(input.images, [{ type: 'image', data: base64(bytes), mimeType: 'image/png' }])
  })

  it('forwards only the current user turn’s images (23)', async () => {
    const old = png()
    const current = image(MAGIC.webp)
    const input = await s.run({
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'one' }, imagePart(dataUri('image/png', old))],
        },
        { role: 'assistant', content: 'seen' },
        {
          role: 'user',
          content: [{ type: 'text', text: 'two' }, imagePart(dataUri('image/webp', current))],
        },
      ],
    })
    assert.deepEqual(input.images, [
      { type: 'image', data: base64(current), mimeType: 'image/webp' },
    ])
  })

  it('does not look at images, even invalid ones, outside the current turn (22)', async () => {
    const input = await s.run({
      messages: [
        { role: 'user', content: [imagePart('data:application/pdf;base64,JVBERi0=')] },
        { role: 'assistant', content: 'no' },
        { role: 'user', content: 'text only' },
      ],
    })
    assert.deepEqual(input.images, [])
    assert.equal(input.message.endsWith('User: text only'), true)
  })

  it('forwards no images when the current turn is a tool result', async () => {
    const input = await s.run({
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'q' }, imagePart(dataUri('image/png', png()))],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'r' },
      ],
    })
    assert.deepEqual(input.images, [])
  })

  it('rejects a remote URL by default without starting a run (20)', async () => {
    const error = await s.reject({
      messages: [{ role: 'user', content: [imagePart('https://example.com/cat.png')] }],
    })
    assert.equal(error.param, 'messages[0].content[0]')
    assert.match(error.message, /data: URI/)
  })

  it('names the message and part of the bad image in param', async () => {
    const error = await s.reject({
      messages: [
        { role: 'system', content: 'sys' },
        {
          role: 'user',
          content: [
            imagePart(dataUri('image/png', png())),
            imagePart('https://example.com/cat.png'),
          ],
        },
      ],
    })
    assert.equal(error.param, 'messages[1].content[1]')
  })

  it('counts text parts when it names the bad image part', async () => {
    const error = await s.reject(withImages('look', 'https://example.com/cat.png'))
    assert.equal(error.param, 'messages[0].content[1]')
  })

  it('rejects a type that is not an allowed image, such as a PDF (25)', async () => {
    const error = await s.reject(withImages('x', dataUri('application/pdf', image(MAGIC.pdf))))
    assert.match(error.message, /application\/pdf/)
  })

  it('rejects bytes that are not the declared image type', async () => {
    await s.reject(withImages('x', dataUri('image/png', image(MAGIC.jpeg))))
    await s.reject(withImages('x', dataUri('image/gif', png())))
    const text = new TextEncoder().encode('this is plain text, not a picture')
    const error = await s.reject(withImages('x', dataUri('image/webp', text)))
    assert.match(error.message, /image\/webp/)
  })

  it('rejects a payload that is not base64', async () => {
    await s.reject(withImages('x', 'data:image/png;base64,!!not*base64!!'))
    // Valid characters, impossible length.
    await s.reject(withImages('x', 'data:image/png;base64,iVBORw0KG'))
  })

  it('rejects a data URI that is not base64 encoded or has no payload', async () => {
    const notBase64 = await s.reject(withImages('x', 'data:image/png,rawbytes'))
    assert.match(notBase64.message, /base64/)
    const empty = await s.reject(withImages('x', 'data:image/png;base64,'))
    assert.match(empty.message, /payload/)
  })

  it('rejects 9 image parts and accepts 8 (26)', async () => {
    const url = dataUri('image/png', png())
    const nine = await s.reject(withImages('x', ...Array<string>(9).fill(url)))
    assert.equal(nine.param, 'messages[0].content')
    const input = await s.run(withImages('x', ...Array<string>(8).fill(url)))
    assert.equal(input.images.length, 8)
  })
})

describe('image size limits from the config', () => {
  let s: Awaited<ReturnType<typeof probeServer>>
  before(async () => {
    s = await probeServer({
      gateway: {
        http: {
          endpoints: {
            chatCompletions: {
              maxImageParts: 3,
              maxTotalImageBytes: 100,
              images: { maxBytes: 64 },
            },
          },
        },
      },
    })
  })
  after(() => s.server.close())

  it('accepts an image of exactly images.maxBytes and rejects one byte more', async () => {
    const input = await s.run(withImages('x', dataUri('image/png', png(64))))
    assert.equal(input.images.length, 1)
    const error = await s.reject(withImages('x', dataUri('image/png', png(65))))
    assert.match(error.message, /64 bytes/)
  })

  it('rejects an image far over images.maxBytes before decoding it', async () => {
    await s.reject(withImages('x', dataUri('image/png', png(4096))))
  })

  it('rejects images over maxTotalImageBytes together though each is small enough', async () => {
    const input = await s.run(
      withImages('x', dataUri('image/png', png(50)), dataUri('image/png', png(50)))
    )
    assert.equal(input.images.length, 2)
    const error = await s.reject(
      withImages('x', dataUri('image/png', png(50)), dataUri('image/png', png(51)))
    )
    assert.equal(error.param, 'messages[0].content')
    assert.match(error.message, /100 bytes/)
  })

  it('honours a configured maxImageParts', async () => {
    const url = dataUri('image/png', png(8))
    await s.reject(withImages('x', url, url, url, url))
    const input = await s.run(withImages('x', url, url, url))
    assert.equal(input.images.length, 3)
  })
})

describe('remote image URLs when allowed', () => {
  let images: Server
  let base: string
  let port: number
  const served: string[] = []
  const catBytes = png(48)
  let s: Awaited<ReturnType<typeof probeServer>>

  before(async () => {
    images = createServer((req, res) => {
      const path = req.url ?? '/'
      served.push(path)
      const hop = /^\/hop\/(\d+)$/.exec(path)
      if (path === '/cat.png') {
        res.writeHead(200, { 'content-type': 'image/png' }).end(catBytes)
      } else if (path === '/fake.png') {
        res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not an image</html>')
      } else if (hop) {
        const n = Number(hop[1])
        res.writeHead(302, { location: n > 1 ? `/hop/${n - 1}` : '/cat.png' }).end()
      } else if (path === '/to-localhost') {
        res.writeHead(302, { location: `http://localhost:${port}/cat.png` }).end()
      } else {
        res.writeHead(404).end()
      }
    })
    await new Promise<void>((resolve) => images.listen(0, '127.0.0.1', resolve))
    port = (images.address() as AddressInfo).port
    base = `http://127.0.0.1:${port}`
    s = await probeServer({
      gateway: {
        http: {
          endpoints: {
            chatCompletions: {
              images: { allowUrl: true, urlAllowlist: ['127.0.0.1'], maxRedirects: 2 },
            },
          },
        },
      },
    })
  })
  after(async () => {
    await s.server.close()
    images.closeAllConnections?.()
    await new Promise<void>((resolve) => images.close(() => resolve()))
  })

  it('fetches an allow-listed image and forwards its bytes', async () => {
    const input = await s.run(withImages('what is this?', `${base}/cat.png`))
    assert.deepEqual(input.images, [
      { type: 'image', data: base64(catBytes), mimeType: 'image/png' },
    ])
    assert.ok(served.includes('/cat.png'))
  })

  it('follows as many redirects as maxRedirects allows', async () => {
    const input = await s.run(withImages('x', `${base}/hop/2`))
    assert.deepEqual(input.images, [
      { type: 'image', data: base64(catBytes), mimeType: 'image/png' },
    ])
  })

  it('rejects a redirect chain longer than maxRedirects', async () => {
    served.length = 0
    const error = await s.reject(withImages('x', `${base}/hop/3`))
    assert.match(error.message, /redirect/i)
    assert.equal(served.includes('/cat.png'), false)
  })

  it('rejects a host that is not on the allow list without fetching it', async () => {
    served.length = 0
    const error = await s.reject(withImages('x', `http://localhost:${port}/cat.png`))
    assert.match(error.message, /localhost/)
    assert.deepEqual(served, [])
  })

  it('rejects a redirect to a host that is not on the allow list', async () => {
    served.length = 0
    await s.reject(withImages('x', `${base}/to-localhost`))
    assert.deepEqual(served, ['/to-localhost'])
  })

  it('rejects a fetched body that is not the image its content type claims', async () => {
    await s.reject(withImages('x', `${base}/fake.png`))
  })

  it('rejects a URL that answers with an error status', async () => {
    const error = await s.reject(withImages('x', `${base}/missing.png`))
    assert.match(error.message, /404/)
  })
})
