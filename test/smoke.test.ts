import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { chat, sseChunks, sseData, startServer, userMessage, type TestServer } from './helpers.ts'

describe('a request end to end', () => {
  let server: TestServer
  before(async () => {
    server = await startServer()
  })
  after(() => server.close())

  it('answers a non-stream request with the echo of the prompt', async () => {
    const res = await chat(server, { model: 'openclaw', ...userMessage('hello') })
    assert.equal(res.status, 200)
    const body = await res.json()
    assert.equal(body.object, 'chat.completion')
    assert.equal(body.choices[0].message.content, 'hello')
  })

  it('streams the same text and ends with [DONE]', async () => {
    const res = await chat(server, { stream: true, ...userMessage('hello stream world') })
    const text = await res.text()
    assert.equal(sseData(text).at(-1), '[DONE]')
    const content = sseChunks(text)
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('')
    assert.equal(content, 'hello stream world')
  })
})
