/**
 * The official `openai` SDK against a real listening server: every call a user would make, and
 * the error classes its status codes map to.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import OpenAI, { type ClientOptions } from 'openai'
import type { ChatCompletionTool } from 'openai/resources/chat/completions'
import { startServer, TOKEN, type TestServer } from './helpers.ts'

const client = (server: TestServer, options: ClientOptions = {}) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey: TOKEN, maxRetries: 0, ...options })

const PARAMETERS = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
}
const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'The weather in a city.', parameters: PARAMETERS },
}
const CALL_WEATHER = '/tool get_weather {"city":"Paris"}'

describe('the openai SDK', () => {
  let server: TestServer
  let openai: OpenAI
  before(async () => {
    server = await startServer()
    openai = client(server)
  })
  after(() => server.close())

  it('creates a non-stream completion with the echo, usage and the request id', async () => {
    const { data, response, request_id } = await openai.chat.completions
      .create({ model: 'openclaw', messages: [{ role: 'user', content: 'hello sdk' }] })
      .withResponse()
    assert.equal(data.object, 'chat.completion')
    assert.match(data.id, /^chatcmpl-/)
    assert.equal(data.model, 'openclaw')
    assert.equal(data.choices.length, 1)
    assert.equal(data.choices[0].message.role, 'assistant')
    assert.equal(data.choices[0].message.content, 'hello sdk')
    assert.equal(data.choices[0].finish_reason, 'stop')
    assert.equal(data.usage?.prompt_tokens, 3)
    assert.equal(data.usage?.completion_tokens, 3)
    assert.equal(data.usage?.total_tokens, 6)
    const header = response.headers.get('x-request-id')
    assert.ok(header)
    assert.equal(request_id, header)
  })

  it('gives _request_id from x-request-id, keeping the id the client sent', async () => {
    const completion = await openai.chat.completions.create(
      { model: 'openclaw', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-request-id': 'client-req-42' } }
    )
    assert.equal(completion._request_id, 'client-req-42')
  })

  it('streams chunks that rebuild the echo and end with a finish reason', async () => {
    const {
      data: stream,
      request_id,
      response,
    } = await openai.chat.completions
      .create({
        model: 'openclaw/main',
        messages: [{ role: 'user', content: 'a longer message to stream in pieces' }],
        stream: true,
      })
      .withResponse()
    assert.equal(request_id, response.headers.get('x-request-id'))
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    assert.ok(chunks.length > 3)
    assert.equal(chunks[0].choices[0].delta.role, 'assistant')
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1)
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk')
      assert.equal(chunk.model, 'openclaw/main')
    }
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    assert.equal(text, 'a longer message to stream in pieces')
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, 'stop')
    assert.ok(chunks.every((c) => !('usage' in c)))
  })

  it('builds the final completion from .stream() without complaint', async () => {
    const stream = openai.chat.completions.stream({
      model: 'openclaw',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi there' },
      ],
    })
    const deltas: string[] = []
    stream.on('content', (delta) => deltas.push(delta))
    const final = await stream.finalChatCompletion()
    assert.equal(final.choices[0].message.role, 'assistant')
    assert.equal(final.choices[0].message.content, '[System]\nBe brief.\n\nhi there')
    assert.equal(final.choices[0].finish_reason, 'stop')
    assert.equal(deltas.join(''), '[System]\nBe brief.\n\nhi there')
  })

  it('builds a tool call from .stream() with id, name and arguments', async () => {
    const stream = openai.chat.completions.stream({
      model: 'openclaw',
      messages: [{ role: 'user', content: CALL_WEATHER }],
      tools: [WEATHER],
    })
    const final = await stream.finalChatCompletion()
    const choice = final.choices[0]
    assert.equal(choice.finish_reason, 'tool_calls')
    assert.equal(choice.message.tool_calls?.length, 1)
    const call = choice.message.tool_calls![0]
    assert.equal(call.type, 'function')
    assert.match(call.id, /^call_/)
    assert.equal(call.type === 'function' && call.function.name, 'get_weather')
    assert.equal(call.type === 'function' && call.function.arguments, '{"city":"Paris"}')
  })

  it('round-trips a tool call by hand: the call, then the result echoed back', async () => {
    const first = await openai.chat.completions.create({
      model: 'openclaw',
      messages: [{ role: 'user', content: CALL_WEATHER }],
      tools: [WEATHER],
    })
    const choice = first.choices[0]
    assert.equal(choice.finish_reason, 'tool_calls')
    assert.equal(choice.message.content, null)
    const call = choice.message.tool_calls?.[0]
    assert.ok(call && call.type === 'function')
    assert.equal(call.function.name, 'get_weather')
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' })

    const second = await openai.chat.completions.create({
      model: 'openclaw',
      messages: [
        { role: 'user', content: CALL_WEATHER },
        choice.message,
        { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' },
      ],
      tools: [WEATHER],
    })
    assert.equal(second.choices[0].finish_reason, 'stop')
    assert.equal(second.choices[0].message.tool_calls, undefined)
    const content = second.choices[0].message.content ?? ''
    assert.ok(content.endsWith(`Tool:${call.id}: sunny, 21C`), content)
    assert.ok(content.includes(`tool_call id=${call.id} name=get_weather`), content)
  })

  it('runs a tool loop with runTools() until the agent answers in text', async () => {
    const calls: unknown[] = []
    const runner = openai.chat.completions.runTools({
      model: 'openclaw',
      messages: [{ role: 'user', content: CALL_WEATHER }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'The weather in a city.',
            parameters: PARAMETERS,
            parse: JSON.parse,
            function: (args: { city: string }) => {
              calls.push(args)
              return { city: args.city, sky: 'sunny' }
            },
          },
        },
      ],
    })
    const content = await runner.finalContent()
    assert.deepEqual(calls, [{ city: 'Paris' }])
    assert.match(content ?? '', /Tool:call_\w+: \{"city":"Paris","sky":"sunny"\}$/)
    const completions = runner.allChatCompletions()
    assert.equal(completions.length, 2)
    assert.equal(completions[0].choices[0].finish_reason, 'tool_calls')
    assert.equal(completions[1].choices[0].finish_reason, 'stop')
  })

  it('puts usage in one last chunk with no choices when include_usage is set', async () => {
    const stream = await openai.chat.completions.create({
      model: 'openclaw',
      messages: [{ role: 'user', content: 'count my tokens' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    const chunks = []
    for await (const chunk of stream) chunks.push(chunk)
    const last = chunks.at(-1)!
    assert.deepEqual(last.choices, [])
    assert.equal(last.usage?.prompt_tokens, 4)
    assert.equal(last.usage?.completion_tokens, 4)
    assert.equal(last.usage?.total_tokens, 8)
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop')
  })

  it('lists the agents as models and retrieves one by its slashed id', async () => {
    const page = await openai.models.list()
    const ids = page.data.map((m) => m.id)
    assert.ok(ids.includes('openclaw'))
    assert.ok(ids.includes('openclaw/main'))
    assert.ok(ids.includes('openclaw/beta'))
    assert.ok(page.data.every((m) => m.object === 'model' && m.owned_by === 'openclaw'))
    const model = await openai.models.retrieve('openclaw/main')
    assert.equal(model.id, 'openclaw/main')
    assert.equal(model.object, 'model')
  })

  it('throws BadRequestError naming the param for an invalid field', async () => {
    const err = await openai.chat.completions
      .create({ model: 'openclaw', messages: [{ role: 'user', content: 'hi' }], temperature: 7 })
      .then(
        () => assert.fail('expected a 400'),
        (e: unknown) => e
      )
    assert.ok(err instanceof OpenAI.BadRequestError)
    assert.equal(err.status, 400)
    assert.equal(err.param, 'temperature')
    assert.equal(err.type, 'invalid_request_error')
    assert.ok(err.requestID)
    assert.equal(err.requestID, err.headers?.get('x-request-id'))
  })

  it('throws BadRequestError with param model for a model that is not an agent', async () => {
    const err = await openai.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    assert.ok(err instanceof OpenAI.BadRequestError)
    assert.equal(err.param, 'model')
    assert.match(err.message, /Invalid `model`/)
  })

  it('throws AuthenticationError with code invalid_api_key for a wrong key', async () => {
    const err = await client(server, { apiKey: 'wrong' })
      .chat.completions.create({ model: 'openclaw', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    assert.ok(err instanceof OpenAI.AuthenticationError)
    assert.equal(err.status, 401)
    assert.equal(err.code, 'invalid_api_key')
    assert.equal(err.type, 'authentication_error')
  })

  it('throws NotFoundError for a model id that names no agent', async () => {
    const err = await openai.models.retrieve('openclaw/nobody').catch((e: unknown) => e)
    assert.ok(err instanceof OpenAI.NotFoundError)
    assert.equal(err.status, 404)
    assert.equal(err.code, 'model_not_found')
  })

  it('does not retry a failed turn, even with the SDK retrying by default', async () => {
    let runs = 0
    const counted = await startServer({
      backend: {
        name: 'counting',
        async *run() {
          runs++
          yield { type: 'error', message: 'the agent failed', status: 502 }
        },
      },
    })
    try {
      // The SDK's default: 2 retries of a 5xx, unless the answer says `x-should-retry: false`.
      const sdk = client(counted, { maxRetries: 2 })
      await assert.rejects(
        sdk.chat.completions.create({
          model: 'openclaw',
          messages: [{ role: 'user', content: 'x' }],
        }),
        (err) => err instanceof OpenAI.InternalServerError && err.status === 502
      )
      assert.equal(runs, 1)
    } finally {
      await counted.close()
    }
  })

  it('routes to the agent named by an x-openclaw-agent-id default header', async () => {
    const beta = client(server, { defaultHeaders: { 'x-openclaw-agent-id': 'beta' } })
    const { data, response } = await beta.chat.completions
      .create({ model: 'anything-goes', messages: [{ role: 'user', content: 'which agent?' }] })
      .withResponse()
    assert.equal(data.choices[0].message.content, 'which agent?')
    assert.equal(response.headers.get('x-openclaw-agent-id'), 'beta')
    assert.match(response.headers.get('x-openclaw-session-key') ?? '', /^agent:beta:openai:/)
  })
})

describe('the openai SDK against a server with the endpoint disabled', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({
      config: { gateway: { http: { endpoints: { chatCompletions: { enabled: false } } } } },
    })
  })
  after(() => server.close())

  it('throws NotFoundError for chat completions and models alike', async () => {
    const openai = client(server)
    const err = await openai.chat.completions
      .create({ model: 'openclaw', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)
    assert.ok(err instanceof OpenAI.NotFoundError)
    assert.equal(err.code, 'endpoint_disabled')
    assert.match(err.message, /chatCompletions\.enabled/)
    const list = await openai.models.list().catch((e: unknown) => e)
    assert.ok(list instanceof OpenAI.NotFoundError)
  })
})

describe('the openai SDK against a server that locks out after one failure', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({
      config: { gateway: { auth: { rateLimit: { maxAttempts: 1, exemptLoopback: false } } } },
    })
  })
  after(() => server.close())

  it('throws RateLimitError with Retry-After once the address is locked out', async () => {
    const wrong = client(server, { apiKey: 'wrong' })
    const request = (c: OpenAI) =>
      c.chat.completions
        .create({ model: 'openclaw', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e)
    assert.ok((await request(wrong)) instanceof OpenAI.AuthenticationError)
    const err = await request(client(server))
    assert.ok(err instanceof OpenAI.RateLimitError)
    assert.equal(err.status, 429)
    assert.equal(err.type, 'rate_limit_error')
    assert.ok(Number(err.headers?.get('retry-after')) > 0)
  })
})
