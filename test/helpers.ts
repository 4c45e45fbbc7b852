/**
 * One helper to start a real listening server (Node's `http` on port 0, which Bun and Deno also
 * provide), plus small readers for raw HTTP answers and SSE bytes.
 */
import assert from 'node:assert/strict'
import {
  createChatCompletionsApp,
  type AgentBackend,
  type AgentEvent,
  type AgentRunInput,
  type ChatCompletionsApp,
  type ChatCompletionsOptions,
  type ConfigInput,
} from '../src/index.ts'
import { nodeClientAddress, nodeWatchClient, serve } from '../src/runtimes/node.ts'

export const TOKEN = 'test-token'

/** A config with the endpoint on, token auth and agents `main` and `beta`; `overrides` merge in. */
export const testConfig = (overrides: ConfigInput = {}): ConfigInput => {
  const base = {
    gateway: {
      auth: { mode: 'token', token: TOKEN },
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
    agents: { list: [{ id: 'main', default: true }, { id: 'beta' }] },
    backend: { type: 'echo' },
  }
  return deepMerge(base, overrides) as ConfigInput
}

const deepMerge = (a: unknown, b: unknown): unknown => {
  if (!isPlain(a) || !isPlain(b)) return b === undefined ? a : b
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v)
  return out
}
const isPlain = (x: unknown): x is Record<string, unknown> =>
  !!x && typeof x === 'object' && !Array.isArray(x)

export interface TestServer {
  url: string
  app: ChatCompletionsApp
  /** Aborts to simulate server shutdown. */
  shutdown: AbortController
  close(): Promise<void>
}

/** Starts the app on 127.0.0.1 with a free port. `config` merges into `testConfig()`. */
export const startServer = (
  options: Omit<ChatCompletionsOptions, 'config'> & { config?: ConfigInput } = {}
): Promise<TestServer> => startBareServer({ ...options, config: testConfig(options.config) })

/** Runs `body` against a fresh server (`startServer(options)`), closing it whatever happens. */
export const withServer = async (
  options: Parameters<typeof startServer>[0],
  body: (server: TestServer) => Promise<void>
) => {
  const server = await startServer(options)
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

/** POSTs JSON to the chat route with the test token unless `headers` says otherwise. */
export const chat = (
  server: { url: string },
  body: unknown,
  headers: Record<string, string> = {},
  init: RequestInit = {}
) =>
  fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })

export const userMessage = (content: unknown) => ({ messages: [{ role: 'user', content }] })

/** The `data:` payloads of an SSE body, in order (`[DONE]` included as the string). */
export const sseData = (text: string): string[] =>
  text
    .split('\n\n')
    .filter((block) => block.trim())
    .flatMap((block) =>
      block
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
    )

/** The JSON chunks of an SSE body (everything but `[DONE]`). */
export const sseChunks = (text: string): any[] =>
  sseData(text)
    .filter((d) => d !== '[DONE]')
    .map((d) => JSON.parse(d))

/** A deferred promise, for waiting on events without sleeping. */
export const deferred = <T = void>() => {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * A backend under the test's control: records every input, resolves `started` when a run begins,
 * and `aborted` when a run's signal fires. `script` decides the events.
 */
export const probeBackend = (
  script: (input: AgentRunInput, signal: AbortSignal) => AsyncIterable<AgentEvent>
) => {
  const inputs: AgentRunInput[] = []
  const started = deferred<AgentRunInput>()
  const aborted = deferred<unknown>()
  const backend: AgentBackend = {
    name: 'probe',
    async *run(input, signal) {
      inputs.push(input)
      signal.addEventListener('abort', () => aborted.resolve(signal.reason), { once: true })
      started.resolve(input)
      yield* script(input, signal)
    },
  }
  return { backend, inputs, started: started.promise, aborted: aborted.promise }
}

/** Waits until `signal` aborts; for backends that never answer on their own. */
export const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    signal.addEventListener('abort', () => resolve(), { once: true })
  })

/**
 * Polls `check` once per event-loop turn (`setImmediate`, so I/O keeps flowing) until it holds.
 * The wall-clock bound only turns a hang into a failure; it never decides an outcome.
 */
export const waitFor = async (check: () => boolean, what = 'a condition', boundMs = 5_000) => {
  const giveUp = Date.now() + boundMs
  while (!check()) {
    if (Date.now() > giveUp) throw new Error(`timed out waiting for ${what}`)
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** Reads a response body incrementally: `until` reads until the raw text so far satisfies it. */
export const bodyReader = (res: Response) => {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let done = false
  const step = async () => {
    const next = await reader.read()
    if (next.done) done = true
    else text += decoder.decode(next.value, { stream: true })
  }
  return {
    get text() {
      return text
    },
    /**
     * Reads until `check(text)` holds; throws if the body ends first. The wall-clock bound only
     * turns a hang into a failure.
     */
    async until(check: (text: string) => boolean, boundMs = 5_000) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out; the body so far:\n${text}`)), boundMs)
      })
      try {
        while (!check(text)) {
          if (done) throw new Error(`the body ended before the expected bytes:\n${text}`)
          await Promise.race([step(), hang])
        }
        return text
      } finally {
        clearTimeout(timer)
      }
    },
    /** Reads to the end and returns the whole text. */
    async rest() {
      while (!done) await step()
      return text
    },
    cancel: () => reader.cancel(),
  }
}

/** Like `startServer`, but `config` is used as given (no test defaults), for start-up rules. */
export const startBareServer = async (
  options: ChatCompletionsOptions = {}
): Promise<TestServer> => {
  const shutdown = new AbortController()
  const app = createChatCompletionsApp({
    clientAddress: nodeClientAddress,
    watchClient: nodeWatchClient,
    signal: shutdown.signal,
    logger: { info() {}, warn() {}, error() {} },
    ...options,
  })
  const running = await serve(app, { port: 0, hostname: '127.0.0.1' })
  return { url: running.url, app, shutdown, close: () => running.close(1000) }
}

const TYPE_FOR_STATUS: Record<number, string> = {
  401: 'authentication_error',
  403: 'permission_error',
  429: 'rate_limit_error',
}

/**
 * Asserts an error answer: its status, a JSON body that is exactly the OpenAI envelope
 * `{error:{message,type,param,code}}`, the type the status implies (unless `type` says), and
 * whichever of `message` (string or pattern), `param` and `code` are given. Returns the `error`.
 */
export const assertError = async (
  res: Response,
  status: number,
  expected: {
    message?: string | RegExp
    type?: string
    param?: string | null
    code?: string | null
  } = {}
) => {
  const text = await res.text()
  assert.equal(res.status, status, text)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  const body = JSON.parse(text)
  assert.deepEqual(Object.keys(body), ['error'])
  const { error } = body
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'])
  assert.equal(typeof error.message, 'string')
  assert.ok(error.param === null || typeof error.param === 'string', `param: ${error.param}`)
  assert.ok(error.code === null || typeof error.code === 'string', `code: ${error.code}`)
  const type =
    expected.type ??
    TYPE_FOR_STATUS[status] ??
    (status >= 500 ? 'api_error' : 'invalid_request_error')
  assert.equal(error.type, type)
  if (expected.message instanceof RegExp) assert.match(error.message, expected.message)
  else if (expected.message !== undefined) assert.equal(error.message, expected.message)
  if (expected.param !== undefined) assert.equal(error.param, expected.param)
  if (expected.code !== undefined) assert.equal(error.code, expected.code)
  return error as { message: string; type: string; param: string | null; code: string | null }
}

/** Waits until the app has no run and no session lock left, then asserts exactly that. */
export const settled = async (server: TestServer) => {
  const idle = () => server.app.stats().activeRuns === 0 && server.app.stats().sessionLocks === 0
  await waitFor(idle, 'no runs and no session locks').catch(() => {})
  assert.deepEqual(server.app.stats(), { activeRuns: 0, sessionLocks: 0 })
}

/** Awaits `promise`, but turns a hang into a failure naming `what` (see `waitFor`). */
export const within = async <T>(promise: Promise<T>, what: string): Promise<T> => {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true)
  )
  await waitFor(() => done, what)
  return promise
}
