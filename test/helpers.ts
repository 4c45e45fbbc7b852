/**
 * One helper to start a real listening server (Node's `http` on port 0, which Bun and Deno also
 * provide), plus small readers for raw HTTP answers and SSE bytes.
 */
import {
  createChatCompletionsApp,
  type AgentBackend,
  type AgentEvent,
  type AgentRunInput,
  type ChatCompletionsApp,
  type ChatCompletionsOptions,
  type ConfigInput,
} from '../src/index.ts'
import { nodeClientAddress, serve } from '../src/runtimes/node.ts'

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
export const startServer = async (
  options: Omit<ChatCompletionsOptions, 'config'> & { config?: ConfigInput } = {}
): Promise<TestServer> => {
  const shutdown = new AbortController()
  const app = createChatCompletionsApp({
    clientAddress: nodeClientAddress,
    signal: shutdown.signal,
    logger: { info() {}, warn() {}, error() {} },
    ...options,
    config: testConfig(options.config),
  })
  const running = await serve(app, { port: 0, hostname: '127.0.0.1' })
  return { url: running.url, app, shutdown, close: () => running.close(1000) }
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
