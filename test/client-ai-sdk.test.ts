/**
 * The Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`) against a real listening server: text,
 * streams with and without usage, and client tool calls, with no error parts along the way.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { generateText, jsonSchema, streamText, tool, type TextStreamPart, type ToolSet } from 'ai'
import { startServer, TOKEN, type TestServer } from './helpers.ts'

const tools = {
  get_weather: tool({
    description: 'The weather in a city.',
    inputSchema: jsonSchema<{ city: string }>({
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    }),
  }),
}
const CALL_WEATHER = '/tool get_weather {"city":"Paris"}'

/** Every part of a `fullStream`, failing on `error` parts, which `streamText` would swallow. */
const drain = async <T extends ToolSet>(stream: AsyncIterable<TextStreamPart<T>>) => {
  const parts: TextStreamPart<T>[] = []
  for await (const part of stream) parts.push(part)
  const errors = parts.filter((p) => p.type === 'error')
  assert.deepEqual(errors, [])
  return parts
}

describe('the AI SDK openai-compatible provider', () => {
  let server: TestServer
  const provider = (includeUsage?: boolean) =>
    createOpenAICompatible({
      name: 'openclaw',
      baseURL: `${server.url}/v1`,
      apiKey: TOKEN,
      ...(includeUsage === undefined ? {} : { includeUsage }),
    })
  before(async () => {
    server = await startServer()
  })
  after(() => server.close())

  it('generates text with usage', async () => {
    const result = await generateText({ model: provider()('openclaw'), prompt: 'hello ai sdk' })
    assert.equal(result.text, 'hello ai sdk')
    assert.equal(result.finishReason, 'stop')
    assert.equal(result.usage.inputTokens, 3)
    assert.equal(result.usage.outputTokens, 3)
    assert.equal(result.usage.totalTokens, 6)
  })

  it('streams text without asking for usage', async () => {
    const result = streamText({
      model: provider()('openclaw/beta'),
      system: 'Be brief.',
      prompt: 'stream me please',
    })
    const parts = await drain(result.fullStream)
    const text = parts.map((p) => (p.type === 'text-delta' ? p.text : '')).join('')
    assert.equal(text, '[System]\nBe brief.\n\nstream me please')
    assert.equal(await result.text, text)
    assert.equal(await result.finishReason, 'stop')
    assert.equal((await result.usage).inputTokens, undefined)
  })

  it('streams text with usage numbers when includeUsage is on', async () => {
    const result = streamText({ model: provider(true)('openclaw'), prompt: 'count my tokens' })
    await drain(result.fullStream)
    assert.equal(await result.text, 'count my tokens')
    const usage = await result.usage
    assert.equal(usage.inputTokens, 4)
    assert.equal(usage.outputTokens, 4)
    assert.equal(usage.totalTokens, 8)
  })

  it('returns a client tool call from generateText', async () => {
    const model = provider()('openclaw')
    const result = await generateText({ model, prompt: CALL_WEATHER, tools })
    assert.equal(result.finishReason, 'tool-calls')
    assert.equal(result.toolCalls.length, 1)
    const [call] = result.toolCalls
    assert.equal(call.toolName, 'get_weather')
    assert.deepEqual(call.input, { city: 'Paris' })
    assert.match(call.toolCallId, /^call_/)
    assert.equal(result.text, '')
  })

  it('streams a client tool call with its input', async () => {
    const result = streamText({ model: provider(true)('openclaw'), prompt: CALL_WEATHER, tools })
    const parts = await drain(result.fullStream)
    const calls = parts.filter((p) => p.type === 'tool-call')
    assert.equal(calls.length, 1)
    const [call] = calls
    assert.ok(call.type === 'tool-call')
    assert.equal(call.toolName, 'get_weather')
    assert.deepEqual(call.input, { city: 'Paris' })
    assert.equal(await result.finishReason, 'tool-calls')
    const toolCalls = await result.toolCalls
    assert.equal(toolCalls[0].toolName, 'get_weather')
    assert.deepEqual(toolCalls[0].input, { city: 'Paris' })
    assert.ok(((await result.usage).inputTokens ?? 0) > 0)
  })
})
