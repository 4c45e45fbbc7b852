import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { AgentRunInput } from '../src/index.ts'
import { chat, probeBackend, startServer, type TestServer } from './helpers.ts'

const HISTORY = '[Chat messages since your last reply - for context]'
const CURRENT = '[Current message - respond to this]'
const MISSING = 'Missing user message in `messages`.'
const PLACEHOLDER = 'User sent image(s) with no text.'

// A real 1x1 PNG's first bytes are enough: the app checks the magic number, not the pixels.
const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkAAIAAAoAAv' +
  '/lxKUAAAAASUVORK5CYII='
const JPEG = `data:image/jpeg;base64,${btoa('\xff\xd8\xff\xe0' + '\0'.repeat(28))}`

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
}

describe('the prompt the agent receives', () => {
  let server: TestServer
  const probe = probeBackend(async function* (input) {
    // Satisfies a constrained tool_choice so those requests end in 200 too.
    const choice = input.toolChoice
    if (choice && choice !== 'auto' && choice !== 'none') {
      const name = input.clientTools[0].function.name
      yield { type: 'tool_calls', calls: [{ id: 'call_x', name, arguments: '{}' }] }
    }
    yield { type: 'done', text: 'ok' }
  })

  before(async () => {
    server = await startServer({ backend: probe.backend })
  })
  after(() => server.close())

  /** Sends `body` and returns what the backend received; fails unless the answer is 200. */
  const run = async (body: Record<string, unknown>): Promise<AgentRunInput> => {
    const before = probe.inputs.length
    const res = await chat(server, body)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.equal(probe.inputs.length, before + 1)
    return probe.inputs.at(-1)!
  }

  /** Sends `body`, expects a 400 and that no run started; returns the error. */
  const reject = async (body: Record<string, unknown>) => {
    const before = probe.inputs.length
    const res = await chat(server, body)
    assert.equal(res.status, 400)
    assert.equal(probe.inputs.length, before)
    return (await res.json()).error
  }

  it('passes a single user message as its bare text, without markers or label', async () => {
    const input = await run({ messages: [{ role: 'user', content: 'hello there' }] })
    assert.equal(input.message, 'hello there')
    assert.equal('extraSystemPrompt' in input, false)
  })

  it('joins text and input_text parts of an array content with a newline (17)', async () => {
    const input = await run({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'hello' },
            { type: 'input_text', text: 'world' },
          ],
        },
      ],
    })
    assert.equal(input.message, 'hello\nworld')
  })

  it('renders history between the two markers and labels the current turn (27)', async () => {
    const input = await run({
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello! How can I help?' },
        { role: 'user', content: 'What is 2+2?' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: Hi\nAssistant: Hello! How can I help?\n\n${CURRENT}\nUser: What is 2+2?`
    )
    assert.equal(input.extraSystemPrompt, 'You are helpful.')
  })

  it('keeps a system message apart and sends a single user turn without markers (28)', async () => {
    const input = await run({
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Ping?' },
      ],
    })
    assert.equal(input.message, 'Ping?')
    assert.equal(input.extraSystemPrompt, 'Be terse.')
  })

  it('uses a developer message as the extra system prompt (29)', async () => {
    const input = await run({
      messages: [
        { role: 'developer', content: 'Answer in French.' },
        { role: 'user', content: 'Hello' },
      ],
    })
    assert.equal(input.extraSystemPrompt, 'Answer in French.')
    assert.equal(input.message, 'Hello')
  })

  it('joins system and developer text by a blank line, in order, wherever they stand', async () => {
    const input = await run({
      messages: [
        { role: 'system', content: 'First rule.' },
        { role: 'user', content: 'Hi' },
        { role: 'developer', content: [{ type: 'text', text: 'Second rule.' }] },
        { role: 'assistant', content: 'Hey' },
        { role: 'system', content: '   ' },
        { role: 'user', content: 'Go' },
      ],
    })
    assert.equal(input.extraSystemPrompt, 'First rule.\n\nSecond rule.')
    assert.equal(input.message, `${HISTORY}\nUser: Hi\nAssistant: Hey\n\n${CURRENT}\nUser: Go`)
  })

  it('makes a trailing tool message the current turn (30)', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Weather in Taipei?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Taipei"}' },
            },
          ],
        },
        { role: 'tool', content: 'Sunny, 70F.' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: Weather in Taipei?\n` +
        'Assistant: tool_call id=call_1 name=get_weather arguments={"city":"Taipei"}\n\n' +
        `${CURRENT}\nTool: Sunny, 70F.`
    )
  })

  it('labels a tool result with its tool_call_id (39)', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'tool', tool_call_id: 'call_1', content: 'Rainy.' },
      ],
    })
    assert.equal(input.message, `${HISTORY}\nUser: Weather?\n\n${CURRENT}\nTool:call_1: Rainy.`)
  })

  it('labels a tool result by its name when it has no tool_call_id', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'tool', name: 'get_weather', content: 'Rainy.' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: Weather?\n\n${CURRENT}\nTool:get_weather: Rainy.`
    )
  })

  it('renders assistant tool calls as tool_call lines after its text (40)', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Weather in Taipei and Paris?' },
        {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Taipei"}' },
            },
            // Arguments given as an object are sent as their JSON text.
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'get_weather', arguments: { city: 'Paris' } },
            },
            // A call without an id is not a call.
            { type: 'function', function: { name: 'get_weather', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: 'Cloudy' },
      ],
    })
    assert.equal(
      input.message,
      [
        HISTORY,
        'User: Weather in Taipei and Paris?',
        'Assistant: Checking both.',
        'tool_call id=call_1 name=get_weather arguments={"city":"Taipei"}',
        'tool_call id=call_2 name=get_weather arguments={"city":"Paris"}',
        'Tool:call_1: Sunny',
        '',
        CURRENT,
        'Tool:call_2: Cloudy',
      ].join('\n')
    )
  })

  it('treats the legacy function role as a tool result named by the function', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'function', name: 'get_weather', content: 'Windy.' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: Weather?\n\n${CURRENT}\nTool:get_weather: Windy.`
    )
    assert.equal(input.messages[1].role, 'tool')
  })

  it('discards an assistant message that comes after the last user message', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'Finish my sentence:' },
        { role: 'assistant', content: 'The quick brown' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: Hi\nAssistant: Hello\n\n${CURRENT}\nUser: Finish my sentence:`
    )
  })

  it('drops empty entries from history', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'One' },
        { role: 'assistant', content: '' },
        { role: 'user', content: '   ' },
        { role: 'assistant', content: null },
        { role: 'user', content: [] },
        { role: 'assistant', content: 'Two' },
        { role: 'user', content: 'Three' },
      ],
    })
    assert.equal(input.message, `${HISTORY}\nUser: One\nAssistant: Two\n\n${CURRENT}\nUser: Three`)
  })

  it('answers from the last user entry with text when the last user message is empty', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: 'Only question' },
        { role: 'assistant', content: 'An answer' },
        { role: 'user', content: '' },
      ],
    })
    assert.equal(input.message, 'Only question')
  })

  it('uses the last entry when no user or tool message has text', async () => {
    const input = await run({
      messages: [
        { role: 'system', content: 'Rules.' },
        { role: 'assistant', content: 'Welcome back.' },
      ],
    })
    assert.equal(input.message, 'Welcome back.')
  })

  it('sends an image-only current turn as the placeholder text with its image (21)', async () => {
    const input = await run({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: PNG } }] }],
    })
    assert.equal(input.message, PLACEHOLDER)
    assert.equal(input.images.length, 1)
    assert.equal(input.images[0].mimeType, 'image/png')
  })

  it('drops an older image-only turn and forwards no image for a text turn (22)', async () => {
    const input = await run({
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: PNG }] },
        { role: 'assistant', content: 'Nice picture.' },
        { role: 'user', content: 'Thanks!' },
      ],
    })
    assert.equal(input.message, `${HISTORY}\nAssistant: Nice picture.\n\n${CURRENT}\nUser: Thanks!`)
    assert.deepEqual(input.images, [])
  })

  it('forwards only the latest turn’s image when two turns carry images (23)', async () => {
    const input = await run({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'First' },
            { type: 'image_url', image_url: { url: PNG } },
          ],
        },
        { role: 'assistant', content: 'Seen.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Second' },
            { type: 'image_url', image_url: { url: JPEG } },
          ],
        },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: First\nAssistant: Seen.\n\n${CURRENT}\nUser: Second`
    )
    assert.deepEqual(
      input.images.map((i) => i.mimeType),
      ['image/jpeg']
    )
  })

  it('ignores a remote image in an earlier user turn on a tool follow-up (31)', async () => {
    const input = await run({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'look', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'A cat.' },
      ],
    })
    assert.equal(
      input.message,
      `${HISTORY}\nUser: What is in this picture?\n` +
        'Assistant: tool_call id=call_1 name=look arguments={}\n\n' +
        `${CURRENT}\nTool:call_1: A cat.`
    )
    assert.deepEqual(input.images, [])
  })

  it('appends the named tool_choice instruction to the system text', async () => {
    const input = await run({
      messages: [
        { role: 'system', content: 'Be helpful.' },
        { role: 'user', content: 'Weather?' },
      ],
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    })
    assert.equal(
      input.extraSystemPrompt,
      'Be helpful.\n\nYou must call the get_weather tool before responding.'
    )
    assert.equal(input.message, 'Weather?')
  })

  it('makes the required tool_choice instruction the whole system text', async () => {
    const input = await run({
      messages: [{ role: 'user', content: 'Weather?' }],
      tools: [weatherTool],
      tool_choice: 'required',
    })
    assert.equal(
      input.extraSystemPrompt,
      'You must call one of the available tools before responding.'
    )
  })

  it('adds no instruction for tool_choice auto or none', async () => {
    for (const tool_choice of ['auto', 'none']) {
      const input = await run({
        messages: [
          { role: 'system', content: 'Sys.' },
          { role: 'user', content: 'Weather?' },
        ],
        tools: [weatherTool],
        tool_choice,
      })
      assert.equal(input.extraSystemPrompt, 'Sys.')
    }
  })

  it('rejects a conversation with only a system message (49)', async () => {
    const error = await reject({ messages: [{ role: 'system', content: 'You are helpful.' }] })
    assert.deepEqual(error, {
      message: MISSING,
      type: 'invalid_request_error',
      param: 'messages',
      code: null,
    })
  })

  it('rejects a conversation whose messages are all empty', async () => {
    const error = await reject({
      messages: [
        { role: 'developer', content: 'Rules.' },
        { role: 'user', content: '  ' },
        { role: 'assistant', content: null },
        { role: 'user', content: [] },
      ],
    })
    assert.equal(error.message, MISSING)
    assert.equal(error.type, 'invalid_request_error')
  })

  it('rejects an empty messages array with the same message', async () => {
    const error = await reject({ messages: [] })
    assert.equal(error.message, MISSING)
  })
})
