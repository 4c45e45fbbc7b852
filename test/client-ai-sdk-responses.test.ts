/**
 * The Vercel AI SDK's OpenAI provider on the Responses API (`ai` + `@ai-sdk/openai`,
 * `openai.responses(…)`) against a real listening server: text and streams with usage, a tool
 * loop whose result reaches the agent, `item_reference`s to earlier answers, and errors.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createOpenAI } from '@ai-sdk/openai'
import {
  APICallError,
  generateText,
  jsonSchema,
  stepCountIs,
  streamText,
  tool,
  type TextStreamPart,
  type ToolSet,
} from 'ai'
import type { ConfigInput } from '../src/index.ts'
import { startServer, TOKEN, type TestServer } from './helpers.ts'

const HISTORY = '[Chat messages since your last reply - for context]'
const CURRENT = '[Current message - respond to this]'

const RESPONSES_ON: ConfigInput = {
  gateway: { http: { endpoints: { responses: { enabled: true } } } },
}

const CALL_WEATHER = '/tool get_weather {"city":"Paris"}'
const WEATHER_INPUT = jsonSchema<{ city: string }>({
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
})

/** A tool the SDK runs itself, recording what it was called with. */
const weatherTools = (calls: unknown[]) => ({
  get_weather: tool({
    description: 'The weather in a city.',
    inputSchema: WEATHER_INPUT,
    execute: async ({ city }) => {
      calls.push({ city })
      return { city, sky: 'sunny' }
    },
  }),
})

/** The prompt the echo answers after the tool result came back with the call in the history. */
const afterTool = (callId: string, result: string) =>
  `${HISTORY}\nUser: ${CALL_WEATHER}\n` +
  `Assistant: tool_call id=${callId} name=get_weather arguments={"city":"Paris"}\n\n` +
  `${CURRENT}\nTool:${callId}: ${result}`

/** Every part of a `fullStream`, failing on `error` parts, which `streamText` would swallow. */
const drain = async <T extends ToolSet>(stream: AsyncIterable<TextStreamPart<T>>) => {
  const parts: TextStreamPart<T>[] = []
  for await (const part of stream) parts.push(part)
  const errors = parts.filter((p) => p.type === 'error')
  assert.deepEqual(errors, [])
  return parts
}

describe('the AI SDK openai provider on the Responses API', () => {
  let server: TestServer
  /** The JSON body of every request the provider sent, in order. */
  const bodies: any[] = []
  const provider = (apiKey = TOKEN) =>
    createOpenAI({
      baseURL: `${server.url}/v1`,
      apiKey,
      fetch: async (url, init) => {
        if (typeof init?.body === 'string') bodies.push(JSON.parse(init.body))
        return fetch(url, init)
      },
    })
  const model = (id = 'openclaw') => provider().responses(id)
  before(async () => {
    server = await startServer({ config: RESPONSES_ON })
  })
  after(() => server.close())

  it('generates text with usage, finish reason and the response id', async () => {
    const result = await generateText({ model: model(), prompt: 'hello ai sdk' })
    assert.equal(result.text, 'hello ai sdk')
    assert.equal(result.finishReason, 'stop')
    assert.equal(result.usage.inputTokens, 3)
    assert.equal(result.usage.outputTokens, 3)
    assert.equal(result.usage.totalTokens, 6)
    assert.match(result.response.id, /^resp_/)
    assert.equal(result.response.modelId, 'openclaw')
    assert.equal(result.providerMetadata?.openai?.responseId, result.response.id)
    assert.deepEqual(result.warnings, [])
  })

  it('streams text with a system prompt, usage and finish reason', async () => {
    const result = streamText({
      model: model('openclaw/beta'),
      system: 'Be brief.',
      prompt: 'stream me please',
    })
    const parts = await drain(result.fullStream)
    const text = parts.map((p) => (p.type === 'text-delta' ? p.text : '')).join('')
    assert.equal(text, '[System]\nBe brief.\n\nstream me please')
    assert.ok(parts.filter((p) => p.type === 'text-delta').length > 1)
    assert.equal(await result.text, text)
    assert.equal(await result.finishReason, 'stop')
    const usage = await result.usage
    assert.equal(usage.inputTokens, 7)
    assert.equal(usage.outputTokens, 9)
    assert.equal(usage.totalTokens, 16)
    assert.match((await result.response).id, /^resp_/)
    const last = bodies.at(-1)
    assert.equal(last.stream, true)
    assert.deepEqual(last.input[0], { role: 'system', content: 'Be brief.' })
  })

  it('returns a client tool call from generateText when the tool has no execute', async () => {
    const tools = { get_weather: tool({ inputSchema: WEATHER_INPUT }) }
    const result = await generateText({ model: model(), prompt: CALL_WEATHER, tools })
    assert.equal(result.finishReason, 'tool-calls')
    assert.equal(result.toolCalls.length, 1)
    const [call] = result.toolCalls
    assert.equal(call.toolName, 'get_weather')
    assert.deepEqual(call.input, { city: 'Paris' })
    assert.match(call.toolCallId, /^call_/)
    assert.equal(result.text, '')
  })

  it('runs a tool in generateText and sends its result back: the agent gets it', async () => {
    const calls: unknown[] = []
    const result = await generateText({
      model: model(),
      prompt: CALL_WEATHER,
      tools: weatherTools(calls),
      stopWhen: stepCountIs(2),
    })
    assert.deepEqual(calls, [{ city: 'Paris' }])
    assert.equal(result.steps.length, 2)
    assert.equal(result.steps[0].finishReason, 'tool-calls')
    const [call] = result.steps[0].toolCalls
    assert.match(call.toolCallId, /^call_/)
    assert.deepEqual(result.steps[0].toolResults[0].output, { city: 'Paris', sky: 'sunny' })
    assert.equal(result.finishReason, 'stop')
    assert.equal(result.text, afterTool(call.toolCallId, '{"city":"Paris","sky":"sunny"}'))

    // Step 2 sent the call and its output as items.
    const step2 = bodies.at(-1)
    assert.deepEqual(step2.input.slice(1), [
      {
        type: 'function_call',
        call_id: call.toolCallId,
        name: 'get_weather',
        arguments: '{"city":"Paris"}',
      },
      {
        type: 'function_call_output',
        call_id: call.toolCallId,
        output: '{"city":"Paris","sky":"sunny"}',
      },
    ])
  })

  it('runs a tool in streamText and streams the answer to its result', async () => {
    const calls: unknown[] = []
    const result = streamText({
      model: model(),
      prompt: CALL_WEATHER,
      tools: weatherTools(calls),
      stopWhen: stepCountIs(2),
    })
    const parts = await drain(result.fullStream)
    assert.deepEqual(calls, [{ city: 'Paris' }])
    const toolCalls = parts.filter((p) => p.type === 'tool-call')
    assert.equal(toolCalls.length, 1)
    const [call] = toolCalls
    assert.ok(call.type === 'tool-call')
    assert.equal(call.toolName, 'get_weather')
    assert.deepEqual(call.input, { city: 'Paris' })
    const results = parts.filter((p) => p.type === 'tool-result')
    assert.equal(results.length, 1)
    const steps = await result.steps
    assert.equal(steps.length, 2)
    assert.equal(steps[0].finishReason, 'tool-calls')
    assert.equal(await result.finishReason, 'stop')
    assert.equal(await result.text, afterTool(call.toolCallId, '{"city":"Paris","sky":"sunny"}'))
    const usage = await result.totalUsage
    assert.ok((usage.inputTokens ?? 0) > 0)
    assert.ok((usage.outputTokens ?? 0) > 0)
  })

  it('resolves the item_reference it sends for an earlier answer from the stored response', async () => {
    const first = await generateText({ model: model(), prompt: 'hello there' })
    assert.equal(first.text, 'hello there')
    const second = await generateText({
      model: model(),
      messages: [
        { role: 'user', content: 'hello there' },
        ...first.response.messages,
        { role: 'user', content: 'and again' },
      ],
    })
    const sent = bodies.at(-1)
    const ref = sent.input.find((i: { type?: string }) => i.type === 'item_reference')
    assert.ok(ref, `an item_reference in ${JSON.stringify(sent.input)}`)
    assert.match(ref.id, /^msg_/)
    assert.equal(
      second.text,
      `${HISTORY}\nUser: hello there\nAssistant: hello there\n\n${CURRENT}\nUser: and again`
    )
  })

  it('takes an earlier answer sent back whole, with store: false', async () => {
    const store = { openai: { store: false } }
    const first = await generateText({
      model: model(),
      prompt: 'hello there',
      providerOptions: store,
    })
    const second = await generateText({
      model: model(),
      messages: [
        { role: 'user', content: 'hello there' },
        ...first.response.messages,
        { role: 'user', content: 'and again' },
      ],
      providerOptions: store,
    })
    const sent = bodies.at(-1)
    assert.equal(sent.store, false)
    assert.equal(sent.input[1].role, 'assistant')
    assert.deepEqual(sent.input[1].content, [{ type: 'output_text', text: 'hello there' }])
    assert.equal(
      second.text,
      `${HISTORY}\nUser: hello there\nAssistant: hello there\n\n${CURRENT}\nUser: and again`
    )
  })

  it('continues from previousResponseId given in providerOptions', async () => {
    const first = await generateText({
      model: model(),
      prompt: CALL_WEATHER,
      tools: weatherTools([]),
    })
    const [call] = first.toolCalls
    const previousResponseId = first.providerMetadata?.openai?.responseId
    assert.equal(typeof previousResponseId, 'string')
    const second = await generateText({
      model: model(),
      messages: [
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: call.toolCallId,
              toolName: 'get_weather',
              output: { type: 'text', value: 'rainy, 12C' },
            },
          ],
        },
      ],
      providerOptions: { openai: { previousResponseId: previousResponseId as string } },
    })
    assert.equal(second.text, `Tool:${call.toolCallId}: rainy, 12C`)
  })

  it('throws APICallError with the message and status of an error envelope', async () => {
    const err = await generateText({
      model: provider('wrong').responses('openclaw'),
      prompt: 'hi',
      maxRetries: 0,
    }).catch((e: unknown) => e)
    assert.ok(APICallError.isInstance(err), String(err))
    assert.equal(err.statusCode, 401)
    assert.equal(err.isRetryable, false)
    assert.match(err.message, /token/i)
  })

  it('throws APICallError 400 previous_response_not_found for an unknown previous id', async () => {
    const err = await generateText({
      model: model(),
      prompt: 'hi',
      providerOptions: { openai: { previousResponseId: 'resp_doesnotexist' } },
    }).catch((e: unknown) => e)
    assert.ok(APICallError.isInstance(err), String(err))
    assert.equal(err.statusCode, 400)
    assert.equal(err.isRetryable, false)
    assert.match(err.message, /resp_doesnotexist/)
    assert.equal(
      (err.data as { error: { code: string } }).error.code,
      'previous_response_not_found'
    )
  })

  it('throws APICallError for a failed run without a stream', async () => {
    const err = await generateText({
      model: model(),
      prompt: '/error the agent broke',
      maxRetries: 0,
    }).catch((e: unknown) => e)
    assert.ok(APICallError.isInstance(err), String(err))
    assert.equal(err.statusCode, 502)
    assert.equal(err.message, 'the agent broke')
  })

  it('gives an error part with the message of a run that fails in a stream', async () => {
    const errors: unknown[] = []
    const result = streamText({
      model: model(),
      prompt: '/error the agent broke',
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error)
      },
    })
    const parts = []
    for await (const part of result.fullStream) parts.push(part)
    const errorParts = parts.filter((p) => p.type === 'error')
    assert.equal(errorParts.length, 1)
    assert.equal(errors.length, 1)
    const [err] = errors
    assert.ok(APICallError.isInstance(err), String(err))
    assert.equal(err.message, 'the agent broke')
  })
})
