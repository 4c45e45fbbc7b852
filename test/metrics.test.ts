/**
 * `GET /metrics`: Prometheus text from prom-client, off by default, behind the API's auth unless
 * configured open; its counters and histograms after a scripted set of requests.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { AgentEvent, AgentRunInput, ConfigInput, Metrics } from '../src/index.ts'
import { createPromMetrics } from '../src/runtimes/metrics.ts'
import {
  bodyReader,
  chat,
  probeBackend,
  TOKEN,
  untilAborted,
  userMessage,
  waitFor,
  within,
  withServer,
  type TestServer,
} from './helpers.ts'

const METRICS_ON = { metrics: { enabled: true } } as ConfigInput

/**
 * The samples of a Prometheus text exposition, keyed by name and labels as written
 * (`name{a="1",b="2"}`), each checked against the format's grammar.
 */
const parse = (text: string): Map<string, number> => {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    assert.ok(match, `not a sample line: ${line}`)
    samples.set(match[1] + (match[2] ?? ''), Number(match[3]))
  }
  return samples
}

const scrape = async (server: TestServer, headers: Record<string, string> = {}) => {
  const res = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}`, ...headers },
  })
  const text = await res.text()
  assert.equal(res.status, 200, text)
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parse(text)
}

const CHAT = 'route="/v1/chat/completions",method="POST"'

describe('GET /metrics', () => {
  it('counts requests, latencies, first bytes, failures, aborts and lockouts', async () => {
    // Says `first`, then waits to be aborted, when asked to `wait`; else answers at once.
    const probe = probeBackend(async function* (input: AgentRunInput, signal: AbortSignal) {
      if (input.message.includes('/error')) {
        yield { type: 'error', message: 'it broke', status: 502 } satisfies AgentEvent
        return
      }
      yield { type: 'text', delta: 'first' } satisfies AgentEvent
      if (input.message.includes('wait')) await untilAborted(signal)
      yield { type: 'done' } satisfies AgentEvent
    })
    // Open metrics: this test locks its own address out of the API.
    const config = {
      metrics: { enabled: true, auth: false },
      gateway: { auth: { rateLimit: { maxAttempts: 2, exemptLoopback: false } } },
    } as ConfigInput
    const prom = createPromMetrics({ defaultMetrics: false })
    // Counts the streams that ended, to wait for the one the client left.
    let streamsEnded = 0
    const metrics: Metrics = {
      ...prom,
      request(entry) {
        prom.request(entry)
        if (entry.stream) streamsEnded++
      },
    }
    await withServer({ config, metrics, backend: probe.backend }, async (server) => {
      // Two JSON answers (main, beta), one stream, one backend failure, a stream the client
      // leaves, two wrong tokens (the second locks the address out), then a 429 and a 404.
      await (await chat(server, userMessage('hi'))).text()
      await (await chat(server, { model: 'openclaw/beta', ...userMessage('hi') })).text()
      await (await chat(server, { stream: true, ...userMessage('hi') })).text()
      await (await chat(server, userMessage('/error'))).text()
      const client = new AbortController()
      const left = await chat(
        server,
        { stream: true, ...userMessage('wait') },
        {},
        {
          signal: client.signal,
        }
      )
      await bodyReader(left).until((text) => text.includes('"content":"first"'))
      const during = await scrape(server)
      assert.equal(during.get('openclaw_http_open_streams'), 1)
      assert.equal(during.get('openclaw_agent_runs_active'), 1)
      client.abort()
      await within(probe.aborted, 'the run to be aborted')
      for (const token of ['wrong-1', 'wrong-2', TOKEN]) {
        await (await chat(server, userMessage('hi'), { authorization: `Bearer ${token}` })).text()
      }
      await (await fetch(`${server.url}/v1/nowhere`)).text()
      await waitFor(() => server.app.stats().activeRuns === 0, 'the runs to end')
      // A stream is counted when it ends: the one the client left, when its body is cancelled.
      await waitFor(() => streamsEnded === 2, 'the left stream to end')

      const m = await scrape(server)
      const requests = (status: number, agent: string) =>
        m.get(`openclaw_http_requests_total{${CHAT},status="${status}",agent="${agent}",key=""}`)
      assert.equal(requests(200, 'main'), 3, 'two JSON answers to main, and the left stream')
      assert.equal(requests(200, 'beta'), 1)
      assert.equal(requests(502, 'main'), 1)
      assert.equal(requests(401, ''), 2)
      assert.equal(requests(429, ''), 1)
      assert.equal(
        m.get(
          'openclaw_http_requests_total{route="other",method="GET",status="404",agent="",key=""}'
        ),
        1
      )
      // The scrape before this one was counted too.
      assert.equal(
        m.get(
          'openclaw_http_requests_total{route="/metrics",method="GET",status="200",agent="",key=""}'
        ),
        1
      )
      const count = (stream: boolean) =>
        m.get(
          `openclaw_http_request_duration_seconds_count{route="/v1/chat/completions",stream="${stream}"}`
        )
      assert.equal(count(false), 6, '2 answers, 1 failure, 2 401s, 1 429')
      assert.equal(count(true), 2)
      assert.equal(
        m.get(
          'openclaw_http_request_duration_seconds_bucket{le="+Inf",route="/v1/chat/completions",stream="false"}'
        ),
        6
      )
      assert.equal(
        m.get('openclaw_http_stream_first_byte_seconds_count{route="/v1/chat/completions"}'),
        2
      )
      assert.equal(m.get('openclaw_http_open_streams'), 0)
      assert.equal(m.get('openclaw_agent_runs_active'), 0)
      assert.equal(m.get('openclaw_agent_session_locks'), 0)
      assert.equal(m.get('openclaw_agent_runs_aborted_total{reason="client_gone"}'), 1)
      assert.equal(m.get('openclaw_agent_runs_aborted_total{reason="timed_out"}'), 0)
      assert.equal(m.get('openclaw_backend_errors_total{kind="error_event",status="502"}'), 1)
      assert.equal(m.get('openclaw_auth_lockouts_total'), 1)
    })
  })

  it('counts runs that time out, and backends that throw', async () => {
    const probe = probeBackend(async function* (input: AgentRunInput, signal: AbortSignal) {
      if (input.message.includes('throw')) throw new Error('backend bug')
      await untilAborted(signal)
    })
    const config = { ...METRICS_ON, agents: { defaults: { timeoutSeconds: 0.2 } } } as ConfigInput
    const metrics = createPromMetrics({ defaultMetrics: false })
    await withServer({ config, metrics, backend: probe.backend }, async (server) => {
      assert.equal((await chat(server, userMessage('hi'))).status, 504)
      assert.equal((await chat(server, userMessage('throw'))).status, 500)
      const m = await scrape(server)
      assert.equal(m.get('openclaw_agent_runs_aborted_total{reason="timed_out"}'), 1)
      assert.equal(m.get('openclaw_backend_errors_total{kind="exception",status="500"}'), 1)
      assert.equal(
        m.get(`openclaw_http_requests_total{${CHAT},status="504",agent="main",key=""}`),
        1
      )
    })
  })

  it("shows the gateway backend's connection state and reconnects", async () => {
    const metrics = createPromMetrics({ defaultMetrics: false })
    await withServer({ config: METRICS_ON, metrics }, async (server) => {
      const events = metrics.backend!
      events.connectionState!('owner', 'connecting')
      events.connectionState!('owner', 'open')
      events.connectionState!('owner', 'closed')
      events.connectionState!('owner', 'connecting')
      events.reconnected!('owner')
      events.connectionState!('owner', 'open')
      const m = await scrape(server)
      const state = (s: string) =>
        m.get(`openclaw_gateway_backend_connection_state{connection="owner",state="${s}"}`)
      assert.deepEqual([state('connecting'), state('open'), state('closed')], [0, 1, 0])
      assert.equal(m.get('openclaw_gateway_backend_reconnects_total{connection="owner"}'), 1)
    })
  })

  it("includes the process's own metrics unless asked not to", async () => {
    await withServer({ config: METRICS_ON, metrics: createPromMetrics() }, async (server) => {
      const m = await scrape(server)
      assert.ok(m.has('process_cpu_user_seconds_total'))
      assert.ok([...m.keys()].some((k) => k.startsWith('nodejs_heap_size_total_bytes')))
    })
  })

  it('needs the API secret (operator.read), unless metrics.auth is false', async () => {
    const metrics = createPromMetrics({ defaultMetrics: false })
    await withServer({ config: METRICS_ON, metrics }, async (server) => {
      const anonymous = await fetch(`${server.url}/metrics`)
      assert.equal(anonymous.status, 401)
      await anonymous.text()
      const wrong = await fetch(`${server.url}/metrics`, { method: 'POST' })
      assert.equal(wrong.status, 405)
      await wrong.text()
    })
    const config = { metrics: { enabled: true, auth: false } } as ConfigInput
    await withServer(
      { config, metrics: createPromMetrics({ defaultMetrics: false }) },
      async (server) => {
        const open = await fetch(`${server.url}/metrics`)
        assert.equal(open.status, 200)
        assert.match(await open.text(), /openclaw_http_requests_total/)
      }
    )
    const narrow = {
      gateway: { auth: { mode: 'none' } },
      metrics: { enabled: true },
    } as ConfigInput
    await withServer(
      { config: narrow, metrics: createPromMetrics({ defaultMetrics: false }) },
      async (server) => {
        const res = await fetch(`${server.url}/metrics`, {
          headers: { 'x-openclaw-scopes': 'operator.pairing' },
        })
        assert.equal(res.status, 403)
        await res.text()
      }
    )
  })

  it('is a 404 when off (the default), and where the runtime keeps no metrics (Workers)', async () => {
    await withServer({ metrics: createPromMetrics({ defaultMetrics: false }) }, async (server) => {
      const res = await fetch(`${server.url}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      assert.equal(res.status, 404)
      await res.text()
    })
    // A sink without an exposition, as a runtime without a registry would pass.
    const counting: Metrics = {
      request() {},
      streamOpened() {},
      backendError() {},
      authLockout() {},
    }
    await withServer({ config: METRICS_ON, metrics: counting }, async (server) => {
      const res = await fetch(`${server.url}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      assert.equal(res.status, 404)
      await res.text()
    })
  })
})
