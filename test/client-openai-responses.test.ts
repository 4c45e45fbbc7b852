/**
 * The official `openai` SDK's Responses API (`client.responses`) against a real listening server:
 * create, stream, retrieve and delete, a client tool call round-tripped both ways (history resent,
 * and `previous_response_id`), and the error classes its status codes map to.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import OpenAI, { type ClientOptions } from 'openai'
import { zodTextFormat } from 'openai/helpers/zod'
import type {
  FunctionTool,
  ResponseFunctionToolCall,
  ResponseInputItem,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses'
import { z } from 'zod'
import type { ConfigInput } from '../src/index.ts'
import { startServer, TOKEN, type TestServer } from './helpers.ts'

const HISTORY = '[Chat messages since your last reply - for context]'
const CURRENT = '[Current message - respond to this]'

const RESPONSES_ON: ConfigInput = {
  gateway: { http: { endpoints: { responses: { enabled: true } } } },
}

const client = (server: TestServer, options: ClientOptions = {}) =>
  new OpenAI({ baseURL: `${server.url}/v1`, apiKey: TOKEN, maxRetries: 0, ...options })

const WEATHER: FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
}
const CALL_WEATHER = '/tool get_weather {"city":"Paris"}'

/** The promise's rejection, failing if it resolves. */
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    (value) => assert.fail(`expected an error, got ${JSON.stringify(value)}`),
    (err: unknown) => err
  )

/** The one function call of an output, checked for the shape every client needs. */
const onlyCall = (output: { type: string }[]): ResponseFunctionToolCall => {
  const calls = output.filter((i): i is ResponseFunctionToolCall => i.type === 'function_call')
  assert.equal(calls.length, 1, JSON.stringify(output))
  const [call] = calls
  assert.equal(call.name, 'get_weather')
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' })
  assert.match(call.call_id, /^call_/)
  assert.match(call.id ?? '', /^fc_/)
  assert.equal(call.status, 'completed')
  return call
}

describe('the openai SDK on the Responses API', () => {
  let server: TestServer
  let openai: OpenAI
  before(async () => {
    server = await startServer({ config: RESPONSES_ON })
    openai = client(server)
  })
  after(() => server.close())

  it('creates a response with output_text, usage, its id and the request id', async () => {
    const { data, response, request_id } = await openai.responses
      .create({ model: 'openclaw', input: 'hello responses' })
      .withResponse()
    assert.equal(data.object, 'response')
    assert.match(data.id, /^resp_/)
    assert.equal(data.status, 'completed')
    assert.equal(data.model, 'openclaw')
    assert.equal(typeof data.created_at, 'number')
    assert.equal(data.error, null)
    assert.equal(data.output_text, 'hello responses')
    assert.equal(data.output.length, 1)
    const [message] = data.output
    assert.ok(message.type === 'message')
    assert.equal(message.role, 'assistant')
    assert.equal(message.status, 'completed')
    assert.match(message.id, /^msg_/)
    assert.deepEqual(message.content, [
      { type: 'output_text', text: 'hello responses', annotations: [], logprobs: [] },
    ])
    assert.equal(data.usage?.input_tokens, 4)
    assert.equal(data.usage?.output_tokens, 4)
    assert.equal(data.usage?.total_tokens, 8)
    const header = response.headers.get('x-request-id')
    assert.ok(header)
    assert.equal(request_id, header)
  })

  it('takes instructions and messages without a type', async () => {
    const data = await openai.responses.create({
      model: 'openclaw/beta',
      instructions: 'Be brief.',
      input: [{ role: 'user', content: 'hi there' }],
    })
    assert.equal(data.output_text, '[System]\nBe brief.\n\nhi there')
    assert.equal(data.instructions, 'Be brief.')
    assert.equal(data.model, 'openclaw/beta')
  })

  it('streams events whose text deltas join to the final response text', async () => {
    const input = 'a longer message to stream in pieces'
    const stream = openai.responses.stream({ model: 'openclaw/main', input })
    const events: ResponseStreamEvent[] = []
    for await (const event of stream) events.push(event)
    const final = await stream.finalResponse()

    assert.equal(events[0].type, 'response.created')
    assert.equal(events.at(-1)?.type, 'response.completed')
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i)
    )
    const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []))
    assert.ok(deltas.length > 1, 'the echo streams in several pieces')
    assert.equal(deltas.join(''), input)
    assert.equal(final.output_text, input)
    assert.equal(final.status, 'completed')
    assert.equal(final.model, 'openclaw/main')
    const created = events[0]
    assert.ok(created.type === 'response.created')
    assert.equal(final.id, created.response.id)
    const done = events.find((e) => e.type === 'response.output_text.done')
    assert.ok(done?.type === 'response.output_text.done')
    assert.equal(done.text, input)
    assert.equal(final.usage?.input_tokens, 9)
    assert.equal(final.usage?.output_tokens, 9)
  })

  it('calls the text and event listeners of .stream() as the text arrives', async () => {
    const stream = openai.responses.stream({ model: 'openclaw', input: 'listen to me' })
    const deltas: string[] = []
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta))
    const final = await stream.finalResponse()
    assert.equal(deltas.join(''), 'listen to me')
    assert.equal(final.output_text, 'listen to me')
  })

  it('retrieves a stored response, deletes it, and then cannot find it', async () => {
    const created = await openai.responses.create({ model: 'openclaw', input: 'keep me' })
    const retrieved = await openai.responses.retrieve(created.id)
    assert.equal(retrieved.id, created.id)
    assert.equal(retrieved.object, 'response')
    assert.equal(retrieved.status, 'completed')
    assert.equal(retrieved.output_text, 'keep me')
    assert.deepEqual(retrieved.output, created.output)
    assert.deepEqual(retrieved.usage, created.usage)

    const deleted: unknown = await openai.responses.delete(created.id)
    assert.deepEqual(deleted, { id: created.id, object: 'response', deleted: true })

    const gone = await rejection(openai.responses.retrieve(created.id))
    assert.ok(gone instanceof OpenAI.NotFoundError, String(gone))
    assert.equal(gone.status, 404)
    assert.ok(gone.message.includes(created.id), gone.message)
    const again = await rejection(openai.responses.delete(created.id))
    assert.ok(again instanceof OpenAI.NotFoundError, String(again))
    const next = await rejection(
      openai.responses.create({ model: 'openclaw', input: 'hi', previous_response_id: created.id })
    )
    assert.ok(next instanceof OpenAI.BadRequestError, String(next))
    assert.equal(next.code, 'previous_response_not_found')
  })

  it('retrieves a streamed response as the stream ended it', async () => {
    const stream = openai.responses.stream({ model: 'openclaw', input: 'streamed then kept' })
    const final = await stream.finalResponse()
    const retrieved = await openai.responses.retrieve(final.id)
    assert.equal(retrieved.status, 'completed')
    assert.equal(retrieved.output_text, 'streamed then kept')
    assert.deepEqual(retrieved.usage, final.usage)
    // finalResponse() adds `parsed: null` to each text part; the stored parts are as sent.
    const parts = (output: typeof final.output) =>
      output.map((item) =>
        item.type === 'message'
          ? { ...item, content: item.content.map(({ parsed: _, ...part }: any) => part) }
          : item
      )
    assert.deepEqual(retrieved.output, parts(final.output))
  })

  it('parses structured output with a text.format from responses.parse()', async () => {
    const response = await openai.responses.parse({
      model: 'openclaw',
      input: '{"city":"Paris"}',
      text: { format: zodTextFormat(z.object({ city: z.string() }), 'weather') },
    })
    assert.deepEqual(response.output_parsed, { city: 'Paris' })
    assert.equal(response.text?.format?.type, 'json_schema')
  })

  it('does not keep a response created with store: false', async () => {
    const created = await openai.responses.create({
      model: 'openclaw',
      input: 'forget me',
      store: false,
    })
    assert.equal(created.output_text, 'forget me')
    const err = await rejection(openai.responses.retrieve(created.id))
    assert.ok(err instanceof OpenAI.NotFoundError, String(err))
  })

  it('returns a client tool call from create, without a message', async () => {
    const response = await openai.responses.create({
      model: 'openclaw',
      input: CALL_WEATHER,
      tools: [WEATHER],
    })
    assert.equal(response.status, 'completed')
    assert.equal(response.output.length, 1)
    onlyCall(response.output)
    assert.equal(response.output_text, '')
  })

  it('streams a client tool call whose argument deltas rebuild the arguments', async () => {
    const stream = openai.responses.stream({
      model: 'openclaw',
      input: CALL_WEATHER,
      tools: [WEATHER],
    })
    const events: ResponseStreamEvent[] = []
    for await (const event of stream) events.push(event)
    const final = await stream.finalResponse()
    const call = onlyCall(final.output)
    const args = events.flatMap((e) =>
      e.type === 'response.function_call_arguments.delta' ? [e.delta] : []
    )
    assert.equal(args.join(''), call.arguments)
    const done = events.filter((e) => e.type === 'response.output_item.done')
    assert.equal(done.length, final.output.length)
    assert.equal(events.at(-1)?.type, 'response.completed')
  })

  it('round-trips a tool call with the history resent, the call item as returned', async () => {
    const first = await openai.responses.create({
      model: 'openclaw',
      input: [{ role: 'user', content: CALL_WEATHER }],
      tools: [WEATHER],
    })
    const call = onlyCall(first.output)

    const input: ResponseInputItem[] = [
      { role: 'user', content: CALL_WEATHER },
      call,
      { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' },
    ]
    const second = await openai.responses.create({ model: 'openclaw', input, tools: [WEATHER] })
    assert.equal(second.status, 'completed')
    assert.deepEqual(
      second.output.map((i) => i.type),
      ['message']
    )
    assert.equal(
      second.output_text,
      `${HISTORY}\nUser: ${CALL_WEATHER}\n` +
        `Assistant: tool_call id=${call.call_id} name=get_weather arguments={"city":"Paris"}\n\n` +
        `${CURRENT}\nTool:${call.call_id}: sunny, 21C`
    )
    assert.ok(second.output_text.endsWith(`Tool:${call.call_id}: sunny, 21C`))
  })

  it('round-trips a tool call with previous_response_id and only the output', async () => {
    const first = await openai.responses.create({
      model: 'openclaw',
      input: CALL_WEATHER,
      tools: [WEATHER],
    })
    const call = onlyCall(first.output)

    const second = await openai.responses.create({
      model: 'openclaw',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' }],
      tools: [WEATHER],
    })
    assert.equal(second.status, 'completed')
    assert.equal(second.previous_response_id, first.id)
    assert.ok(second.output_text.endsWith(`Tool:${call.call_id}: sunny, 21C`), second.output_text)
  })

  it('resolves a failed run in a stream as a failed response', async () => {
    const stream = openai.responses.stream({ model: 'openclaw', input: '/error the agent broke' })
    const final = await stream.finalResponse()
    assert.equal(final.status, 'failed')
    assert.equal(final.error?.message, 'the agent broke')
    assert.equal(final.error?.code, 'server_error')
  })

  it('throws InternalServerError for a failed run without a stream', async () => {
    const err = await rejection(
      openai.responses.create({ model: 'openclaw', input: '/error the agent broke' })
    )
    assert.ok(err instanceof OpenAI.InternalServerError, String(err))
    assert.equal(err.status, 502)
    assert.match(err.message, /the agent broke/)
  })

  it('keeps a failed response: its id in a header, retrievable, and continued', async () => {
    const err = await rejection(
      openai.responses.create({ model: 'openclaw', user: 'failing', input: '/error broke' })
    )
    assert.ok(err instanceof OpenAI.InternalServerError, String(err))
    const id = err.headers?.get('x-openclaw-response-id')
    assert.match(id ?? '', /^resp_/)
    const failed = await openai.responses.retrieve(id!)
    assert.equal(failed.status, 'failed')
    assert.equal(failed.error?.message, 'broke')
    const next = await openai.responses.create({
      model: 'openclaw',
      previous_response_id: id,
      input: 'again',
    })
    assert.equal(next.previous_response_id, id)
    assert.equal(next.output_text, 'again')
  })

  it('lists the input items of a stored response, newest first by default', async () => {
    const ok = await openai.responses.create({
      model: 'openclaw',
      input: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'input_text', text: 'first' }] },
        { role: 'user', content: 'second' },
      ],
    })
    const page = await openai.responses.inputItems.list(ok.id, { order: 'asc' })
    const items = page.data as { id: string; type: string; role?: string; content?: unknown }[]
    assert.deepEqual(
      items.map((i) => [i.type, i.role, i.content]),
      [
        ['message', 'developer', [{ type: 'input_text', text: 'Be brief.' }]],
        ['message', 'user', [{ type: 'input_text', text: 'first' }]],
        ['message', 'user', [{ type: 'input_text', text: 'second' }]],
      ]
    )
    for (const item of items) assert.match(item.id, /^msg_/)
    const newestFirst = await openai.responses.inputItems.list(ok.id, { limit: 1 })
    assert.equal(newestFirst.data[0].id, items[2].id)
    assert.equal(newestFirst.has_more, true)
  })

  it('throws BadRequestError naming the item for input it cannot read', async () => {
    const err = await rejection(
      openai.responses.create({
        model: 'openclaw',
        input: [{ role: 'user', content: [{ type: 'input_audio' }] }] as never,
      })
    )
    assert.ok(err instanceof OpenAI.BadRequestError, String(err))
    assert.equal(err.status, 400)
    assert.equal(err.type, 'invalid_request_error')
    assert.equal(err.param, 'input[0].content[0]')
    assert.match(err.message, /input_audio/)
    assert.ok(err.requestID)
  })

  it('throws BadRequestError with param temperature for one out of range', async () => {
    const err = await rejection(
      openai.responses.create({ model: 'openclaw', input: 'hi', temperature: 7 })
    )
    assert.ok(err instanceof OpenAI.BadRequestError, String(err))
    assert.equal(err.param, 'temperature')
  })

  it('throws BadRequestError previous_response_not_found for an unknown previous id', async () => {
    const err = await rejection(
      openai.responses.create({
        model: 'openclaw',
        input: 'hi',
        previous_response_id: 'resp_doesnotexist',
      })
    )
    assert.ok(err instanceof OpenAI.BadRequestError, String(err))
    assert.equal(err.status, 400)
    assert.equal(err.code, 'previous_response_not_found')
    assert.equal(err.param, 'previous_response_id')
    assert.match(err.message, /resp_doesnotexist/)
  })

  it('throws AuthenticationError for a wrong key, on create, stream and retrieve', async () => {
    const wrong = client(server, { apiKey: 'wrong' })
    const create = await rejection(wrong.responses.create({ model: 'openclaw', input: 'hi' }))
    assert.ok(create instanceof OpenAI.AuthenticationError, String(create))
    assert.equal(create.status, 401)
    assert.equal(create.code, 'invalid_api_key')
    assert.equal(create.type, 'authentication_error')
    const stream = await rejection(
      wrong.responses.stream({ model: 'openclaw', input: 'hi' }).finalResponse()
    )
    assert.ok(stream instanceof OpenAI.AuthenticationError, String(stream))
    const retrieve = await rejection(wrong.responses.retrieve('resp_x'))
    assert.ok(retrieve instanceof OpenAI.AuthenticationError, String(retrieve))
  })

  it('throws NotFoundError when retrieving an id it never made', async () => {
    const err = await rejection(openai.responses.retrieve('resp_neverexisted'))
    assert.ok(err instanceof OpenAI.NotFoundError, String(err))
    assert.equal(err.status, 404)
    assert.equal(err.type, 'invalid_request_error')
  })
})

describe('the openai SDK against a server with the Responses endpoint off', () => {
  let server: TestServer
  before(async () => {
    server = await startServer()
  })
  after(() => server.close())

  it('throws NotFoundError endpoint_disabled for create and retrieve', async () => {
    const openai = client(server)
    const err = await rejection(openai.responses.create({ model: 'openclaw', input: 'hi' }))
    assert.ok(err instanceof OpenAI.NotFoundError, String(err))
    assert.equal(err.status, 404)
    assert.equal(err.code, 'endpoint_disabled')
    assert.match(err.message, /responses\.enabled/)
    const retrieve = await rejection(openai.responses.retrieve('resp_x'))
    assert.ok(retrieve instanceof OpenAI.NotFoundError, String(retrieve))
    assert.equal(retrieve.code, 'endpoint_disabled')
  })
})

describe('the openai SDK against a Responses server that locks out after one failure', () => {
  let server: TestServer
  before(async () => {
    server = await startServer({
      config: {
        ...RESPONSES_ON,
        gateway: {
          ...RESPONSES_ON.gateway,
          auth: { rateLimit: { maxAttempts: 1, exemptLoopback: false } },
        },
      },
    })
  })
  after(() => server.close())

  it('throws RateLimitError with Retry-After once the address is locked out', async () => {
    const request = (c: OpenAI) => rejection(c.responses.create({ model: 'openclaw', input: 'hi' }))
    const first = await request(client(server, { apiKey: 'wrong' }))
    assert.ok(first instanceof OpenAI.AuthenticationError, String(first))
    const err = await request(client(server))
    assert.ok(err instanceof OpenAI.RateLimitError, String(err))
    assert.equal(err.status, 429)
    assert.equal(err.type, 'rate_limit_error')
    assert.ok(Number(err.headers?.get('retry-after')) > 0)
  })
})
