/**
 * One set of HTTP scenarios, written once and run against every runtime: the Node CLI, the
 * Node port-sharing mount, the Bun binary, Deno and workerd. A runtime is a `start` function
 * that serves the shared config (both APIs on, or both off) and says where.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import type { ConfigInput } from '../src/index.ts'
import { assertAnswered, BAD_HOSTS, exchange, modelsWithHost, upload } from './clients.ts'
import { assertError, sseChunks, sseData } from './helpers.ts'
import {
  createResponse,
  deleteResponse,
  finalResponse,
  getResponse,
  readEvents,
  streamedText,
} from './responses-helpers.ts'

export const CONFORMANCE_TOKEN = 'conformance-token'

/**
 * Heartbeats every 200 ms: workerd learns that a client went away only when it next writes to
 * the connection, so a quiet stream needs them for its disconnect to be seen.
 */
export const CONFORMANCE_HEARTBEAT_SECONDS = 0.2

/** The config every runtime serves, as JSON (a valid JSON5 file): both APIs on or both off. */
export const conformanceConfig = (enabled: boolean): ConfigInput => ({
  gateway: {
    auth: { mode: 'token', token: CONFORMANCE_TOKEN },
    http: {
      endpoints: {
        chatCompletions: { enabled, heartbeatSeconds: CONFORMANCE_HEARTBEAT_SECONDS },
        responses: { enabled, heartbeatSeconds: CONFORMANCE_HEARTBEAT_SECONDS },
      },
    },
  },
  agents: { list: [{ id: 'main', default: true }, { id: 'beta' }] },
  backend: { type: 'echo' },
})

export interface Target {
  url: string
  close(): Promise<void>
}

export type Start = (options: { enabled: boolean }) => Promise<Target>

export interface RuntimeLimits {
  /**
   * False where the runtime cannot tell that a client left until it writes to it (workerd):
   * a non-stream run then ends on its own, and the scenario checks that it still leaves
   * nothing behind.
   */
  seesIdleDisconnect?: boolean
  /**
   * Why an answer given while the client is still uploading may be lost on this runtime (the
   * scenario is then skipped with this reason); undefined where it always arrives.
   */
  losesEarlyAnswers?: string
  /** Why a request whose `Host` does not make a URL is not served (skipped with this reason). */
  refusesBadHosts?: string
}

/** Writes the conformance config to a temp file; `cleanup` removes it. */
export const configFile = (enabled: boolean) => {
  const dir = mkdtempSync(join(tmpdir(), 'gcc-conformance-'))
  const path = join(dir, 'config.json5')
  writeFileSync(path, JSON.stringify(conformanceConfig(enabled)))
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Spawns a server process that prints `listening on <url>` and returns that URL. It fails
 * loudly (never skips) when the command cannot start. `close` sends SIGTERM and waits.
 */
export const spawnServer = async (
  command: string,
  args: string[],
  cleanup: () => void = () => {}
): Promise<Target> => {
  const env = { ...process.env }
  delete env.OPENCLAW_GATEWAY_TOKEN
  delete env.OPENCLAW_CONFIG_PATH
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code))
  )
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line)
      if (match) resolve(match[1])
    })
    child.once('error', (err) => reject(new Error(`cannot run ${command}: ${err.message}`)))
    exited.then((code) =>
      reject(
        new Error(`${command} ${args.join(' ')} exited with ${code} before listening:\n${stderr}`)
      )
    )
  })
  return {
    url,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      cleanup()
    },
  }
}

const post = (target: Target, body: unknown, init: RequestInit = {}, token = CONFORMANCE_TOKEN) =>
  fetch(`${target.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  })

/** The conformance token, for the Responses helpers (which default to the unit tests' one). */
const AUTH = { authorization: `Bearer ${CONFORMANCE_TOKEN}` }

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}

/** A non-stream Response object, its status 200 checked. */
const created = async (target: Target, body: Record<string, unknown>) => {
  const res = await createResponse(target, { model: 'openclaw', ...body }, AUTH)
  const text = await res.text()
  assert.equal(res.status, 200, text)
  return JSON.parse(text)
}

const details = async (target: Target) => {
  const res = await fetch(`${target.url}/health/details`, {
    headers: { authorization: `Bearer ${CONFORMANCE_TOKEN}` },
  })
  assert.equal(res.status, 200)
  return (await res.json()) as { activeRuns: number; sessionLocks: number }
}

/** Polls the server's counts until `check` holds; a bounded number of round trips, no timers. */
const waitForStats = async (
  target: Target,
  check: (s: { activeRuns: number; sessionLocks: number }) => boolean,
  what: string
) => {
  let last
  for (let i = 0; i < 2000; i++) {
    last = await details(target)
    if (check(last)) return
  }
  assert.fail(`${what}: last stats ${JSON.stringify(last)}`)
}

/** Registers the conformance scenarios for one runtime. */
export const describeConformance = (
  runtime: string,
  start: Start,
  { seesIdleDisconnect = true, losesEarlyAnswers, refusesBadHosts }: RuntimeLimits = {}
) =>
  describe(`conformance on ${runtime}`, () => {
    let on: Target
    let off: Target
    before(async () => {
      on = await start({ enabled: true })
      off = await start({ enabled: false })
    })
    after(async () => {
      await Promise.all([on?.close(), off?.close()])
    })

    it('answers a non-stream request with the echoed prompt', async () => {
      const res = await post(on, {
        model: 'openclaw',
        messages: [{ role: 'user', content: 'hello' }],
      })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
      assert.ok(res.headers.get('x-request-id'))
      const body = await res.json()
      assert.equal(body.object, 'chat.completion')
      assert.match(body.id, /^chatcmpl-/)
      assert.equal(body.choices[0].message.content, 'hello')
      assert.equal(body.choices[0].finish_reason, 'stop')
    })

    it('streams chunks that join to the reply and ends with [DONE]', async () => {
      const res = await post(on, {
        stream: true,
        messages: [{ role: 'user', content: 'hello stream world' }],
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8')
      const text = await res.text()
      const chunks = sseChunks(text)
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' })
      const content = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('')
      assert.equal(content, 'hello stream world')
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop')
      assert.equal(sseData(text).at(-1), '[DONE]')
      assert.ok(!chunks.some((c) => 'usage' in c), 'no usage unless asked')
    })

    it('adds a usage chunk only when include_usage is asked', async () => {
      const res = await post(on, {
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: 'count me' }],
      })
      const chunks = sseChunks(await res.text())
      const last = chunks.at(-1)
      assert.deepEqual(last.choices, [])
      assert.deepEqual(last.usage, { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 })
      assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
    })

    it('answers 401 without the token', async () => {
      const res = await post(on, { messages: [{ role: 'user', content: 'x' }] }, {}, 'wrong')
      assert.equal(res.status, 401)
      const { error } = await res.json()
      assert.equal(error.type, 'authentication_error')
      assert.equal(error.code, 'invalid_api_key')
    })

    it('answers 400 naming the bad field in param', async () => {
      const res = await post(on, { temperature: 5, messages: [{ role: 'user', content: 'x' }] })
      assert.equal(res.status, 400)
      const { error } = await res.json()
      assert.equal(error.type, 'invalid_request_error')
      assert.equal(error.param, 'temperature')
      assert.equal(error.message, '`temperature` must be between 0 and 2.')
    })

    it('answers 404 saying how to enable it when the endpoint is disabled', async () => {
      const res = await post(off, { messages: [{ role: 'user', content: 'x' }] })
      assert.equal(res.status, 404)
      const { error } = await res.json()
      assert.match(error.message, /chatCompletions\.enabled/)
    })

    it(
      'delivers the 413 and the 401 given while a 25 MiB body is still being sent',
      { skip: losesEarlyAnswers },
      async () => {
        const [tooLarge, byHttp, unauthorized] = await upload(on.url, CONFORMANCE_TOKEN, [
          { via: 'fetch', attempts: 5 },
          { via: 'http', attempts: 5 },
          { via: 'http', attempts: 5, token: 'wrong' },
        ])
        await assertAnswered(tooLarge, 413, 'fetch')
        await assertAnswered(byHttp, 413, 'node:http')
        await assertAnswered(unauthorized, 401, 'node:http, wrong token')
      }
    )

    it(
      'serves GET /v1/models whatever the Host header says',
      { skip: refusesBadHosts },
      async () => {
        for (const host of BAD_HOSTS) {
          const answer = await exchange(on.url, modelsWithHost(host, CONFORMANCE_TOKEN))
          assert.equal(answer.status, 200, `Host: ${host}: ${answer.body}`)
          assert.equal(JSON.parse(answer.body).object, 'list')
          assert.ok(answer.headers['x-request-id'], 'x-request-id')
        }
      }
    )

    it('lists the agents as models', async () => {
      const res = await fetch(`${on.url}/v1/models`, {
        headers: { authorization: `Bearer ${CONFORMANCE_TOKEN}` },
      })
      assert.equal(res.status, 200)
      const body = await res.json()
      assert.equal(body.object, 'list')
      assert.deepEqual(
        body.data.map((m: { id: string }) => m.id),
        ['openclaw', 'openclaw/default', 'openclaw/main', 'openclaw/beta']
      )
    })

    it('aborts the run when a streaming client disconnects', async () => {
      const controller = new AbortController()
      const res = await post(
        on,
        { stream: true, messages: [{ role: 'user', content: '/stall 60000' }] },
        { signal: controller.signal }
      )
      const reader = res.body!.getReader()
      const first = await reader.read()
      assert.match(new TextDecoder().decode(first.value), /"role":"assistant"/)
      await waitForStats(on, (s) => s.activeRuns === 1, 'the run should be running')
      controller.abort()
      await reader.cancel().catch(() => {})
      await waitForStats(
        on,
        (s) => s.activeRuns === 0 && s.sessionLocks === 0,
        'the run should end'
      )
    })

    // Where a quiet client's leaving cannot be seen, the run ends on its own (a short stall)
    // and must still leave nothing behind.
    it(
      seesIdleDisconnect
        ? 'aborts the run when a non-stream client disconnects'
        : 'holds nothing after a non-stream client disconnects (the run ends on its own)',
      async () => {
        const controller = new AbortController()
        const stall = seesIdleDisconnect ? '/stall 60000' : '/stall 500'
        const pending = post(
          on,
          { messages: [{ role: 'user', content: stall }] },
          { signal: controller.signal }
        ).catch((err) => err)
        await waitForStats(on, (s) => s.activeRuns === 1, 'the run should be running')
        controller.abort()
        assert.equal(((await pending) as Error).name, 'AbortError')
        await waitForStats(
          on,
          (s) => s.activeRuns === 0 && s.sessionLocks === 0,
          'the run should end'
        )
      }
    )

    describe('the Responses API', () => {
      it('answers a non-stream request with a completed Response', async () => {
        const res = await createResponse(on, { model: 'openclaw', input: 'hello' }, AUTH)
        assert.equal(res.status, 200)
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
        assert.ok(res.headers.get('x-request-id'))
        const body = await res.json()
        assert.equal(body.object, 'response')
        assert.match(body.id, /^resp_/)
        assert.equal(body.status, 'completed')
        assert.equal(body.output.length, 1)
        assert.equal(body.output[0].type, 'message')
        assert.equal(body.output[0].content[0].text, 'hello')
        assert.deepEqual(body.usage, {
          input_tokens: 2,
          input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
          output_tokens: 2,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 4,
        })
      })

      it('streams named, numbered events in order, then [DONE]', async () => {
        const res = await createResponse(
          on,
          { model: 'openclaw', stream: true, input: 'hello stream world' },
          AUTH
        )
        // Checks the SSE headers, each event's name against its type, the sequence numbers
        // counting from 0 and `data: [DONE]` last.
        const { events } = await readEvents(res)
        const types = events.map((e) => e.type)
        const delta = 'response.output_text.delta'
        assert.deepEqual(
          // One or more deltas, as the agent's chunks came.
          types.filter((t, i) => t !== delta || types[i - 1] !== delta),
          [
            'response.created',
            'response.in_progress',
            'response.output_item.added',
            'response.content_part.added',
            delta,
            'response.output_text.done',
            'response.content_part.done',
            'response.output_item.done',
            'response.completed',
          ]
        )
        assert.equal(streamedText(events), 'hello stream world')
        assert.equal(
          events.find((e) => e.type === 'response.output_text.done')!.text,
          streamedText(events)
        )
        const response = finalResponse(events)
        assert.equal(response.status, 'completed')
        assert.equal(response.output[0].content[0].text, 'hello stream world')
        assert.equal(response.usage.total_tokens, 10)
      })

      it('returns a tool call; previous_response_id and its output continue', async () => {
        const call = await created(on, {
          tools: [WEATHER],
          input: '/tool get_weather {"city":"Paris"}',
        })
        assert.equal(call.status, 'completed')
        assert.equal(call.output.length, 1)
        const [item] = call.output
        assert.equal(item.type, 'function_call')
        assert.equal(item.name, 'get_weather')
        assert.equal(item.arguments, '{"city":"Paris"}')
        assert.match(item.call_id, /^call_/)
        const next = await created(on, {
          previous_response_id: call.id,
          input: [{ type: 'function_call_output', call_id: item.call_id, output: 'sunny 21C' }],
        })
        assert.equal(next.previous_response_id, call.id)
        const text: string = next.output[0].content[0].text
        assert.ok(text.endsWith(`Tool:${item.call_id}: sunny 21C`), text)
      })

      it('keeps a response for GET until DELETE, then answers 404', async () => {
        const body = await created(on, { input: 'keep me' })
        const got = await getResponse(on, body.id, AUTH)
        assert.equal(got.status, 200)
        assert.deepEqual(await got.json(), body)
        const deleted = await deleteResponse(on, body.id, AUTH)
        assert.equal(deleted.status, 200)
        assert.deepEqual(await deleted.json(), { id: body.id, object: 'response', deleted: true })
        await assertError(await getResponse(on, body.id, AUTH), 404, {
          message: `Response with id '${body.id}' not found.`,
          param: null,
        })
      })

      // As for chat: workerd learns of the disconnect at the next heartbeat. A client that left
      // gets nothing, so its response must not be kept either, failed or not.
      it('aborts the run when a streaming client disconnects, and keeps nothing', async () => {
        const controller = new AbortController()
        const res = await createResponse(
          on,
          { model: 'openclaw', stream: true, input: '/stall 60000' },
          AUTH,
          { signal: controller.signal }
        )
        const id = res.headers.get('x-openclaw-response-id')
        assert.match(id ?? '', /^resp_/)
        const reader = res.body!.getReader()
        const first = await reader.read()
        assert.match(new TextDecoder().decode(first.value), /^event: response\.created\n/)
        await waitForStats(on, (s) => s.activeRuns === 1, 'the run should be running')
        controller.abort()
        await reader.cancel().catch(() => {})
        await waitForStats(
          on,
          (s) => s.activeRuns === 0 && s.sessionLocks === 0,
          'the run should end'
        )
        await assertError(await getResponse(on, id!, AUTH), 404)
      })

      it('answers 404 saying how to enable it when the endpoint is disabled', async () => {
        await assertError(await createResponse(off, { input: 'x' }, AUTH), 404, {
          message: /`gateway\.http\.endpoints\.responses\.enabled: true`/,
          code: 'endpoint_disabled',
        })
      })
    })
  })
