/**
 * Load: 500 concurrent streams from one process against the echo backend, half of them dropped
 * by their client at a random moment. Every stream left alone is byte for byte what the same
 * request gets alone (`id` and `created` aside); every dropped one has its run aborted; and
 * afterwards no run is counted and no session lock is held.
 *
 * The randomness is a seeded PRNG: `LOAD_SEED=<n>` replays a failure (the seed is in every
 * assertion message).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { echoBackend, type AgentBackend, type AgentEvent } from '../src/index.ts'
import { chat, startServer, TOKEN, untilAborted, userMessage, waitFor } from './helpers.ts'

const STREAMS = 500
const SEED = Number(process.env.LOAD_SEED) || 0x5eed_2026
const ECHO = { chunkChars: 8, delayMs: 1 }
// 400 characters: 50 chunks of 8.
const MESSAGE = 'The quick brown fox jumps over the lazy dog; '.repeat(9).slice(0, 400)
const REQUEST = { stream: true, stream_options: { include_usage: true }, ...userMessage(MESSAGE) }

/** mulberry32: a small, fast, seeded PRNG in [0, 1). */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The per-request fields (`id`, `created`) replaced, so two answers can be compared. */
const normalise = (text: string) =>
  text.replace(/"id":"chatcmpl-[^"]+"/g, '"id":"ID"').replace(/"created":\d+/g, '"created":0')

/**
 * The echo, wrapped to record each run's signal (by its session key). A run
 * whose client will drop it (session `drop-…`) holds its `done` until then, so the drop always
 * lands on a live run, however fast the echo went.
 */
const recordingEcho = () => {
  const echo = echoBackend(ECHO)
  const runs = new Map<string, AbortSignal>()
  const backend: AgentBackend = {
    name: 'recording-echo',
    async *run(input, signal): AsyncGenerator<AgentEvent> {
      runs.set(input.sessionKey, signal)
      for await (const event of echo.run(input, signal)) {
        if (event.type === 'done' && input.sessionKey.startsWith('drop-')) {
          await untilAborted(signal)
          return
        }
        yield event
      }
    },
  }
  return { backend, runs }
}

/** Reads a stream until at least `bytes` bytes came, then drops it. */
const readThenDrop = async (res: Response, client: AbortController, bytes: number) => {
  const reader = res.body!.getReader()
  let read = 0
  try {
    while (read < bytes) {
      const { done, value } = await reader.read()
      if (done) throw new Error(`the stream ended after ${read} bytes, before ${bytes}`)
      read += value.byteLength
    }
  } finally {
    client.abort()
    await reader.cancel().catch(() => {})
  }
}

describe('under load', () => {
  it(
    `serves ${STREAMS} concurrent streams, half dropped at random`,
    { timeout: 60_000 },
    async () => {
      const random = prng(SEED)
      const seed = `LOAD_SEED=${SEED}`
      const { backend, runs } = recordingEcho()
      const server = await startServer({ backend, config: { backend: { type: 'echo', ...ECHO } } })
      try {
        const solo = await chat(server, REQUEST, { 'x-openclaw-session-key': 'solo' })
        assert.equal(solo.status, 200)
        const soloText = await solo.text()
        const expected = normalise(soloText)
        const events = expected.split('\n\n').filter(Boolean)
        assert.ok(events.length >= 50, `${events.length} events`)
        // A dropped stream sees at most the role and text chunks: its run holds back `done`.
        const finish = soloText.lastIndexOf('data: ', soloText.indexOf('"finish_reason":"stop"'))
        const before = new TextEncoder().encode(soloText.slice(0, finish)).byteLength
        assert.ok(before > 0)

        // Exactly half dropped, in a seeded random order, each after a random number of bytes.
        const drops = Array.from({ length: STREAMS }, (_, i) => i < STREAMS / 2)
        for (let i = drops.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1))
          ;[drops[i], drops[j]] = [drops[j], drops[i]]
        }
        const plans = drops.map((drop, i) => ({
          key: `${drop ? 'drop' : 'keep'}-${i}`,
          drop,
          after: drop ? Math.floor(random() * before) : 0,
        }))

        const outcomes = await Promise.all(
          plans.map(async (plan) => {
            const client = new AbortController()
            const res = await chat(
              server,
              REQUEST,
              { 'x-openclaw-session-key': plan.key },
              { signal: client.signal }
            )
            assert.equal(res.status, 200, `${plan.key} (${seed})`)
            if (!plan.drop) return { plan, text: await res.text() }
            await readThenDrop(res, client, plan.after)
            return { plan, text: '' }
          })
        )

        for (const { plan, text } of outcomes) {
          if (plan.drop) continue
          assert.equal(normalise(text), expected, `${plan.key} differs from a solo run (${seed})`)
        }
        const dropped = plans.filter((p) => p.drop)
        await waitFor(
          () => dropped.every((p) => runs.get(p.key)?.aborted),
          `every dropped stream's run to be aborted (${seed})`,
          20_000
        )
        for (const plan of plans) {
          assert.ok(runs.has(plan.key), `${plan.key} never ran (${seed})`)
          if (!plan.drop) assert.equal(runs.get(plan.key)!.aborted, false, plan.key)
        }

        const idle = { activeRuns: 0, sessionLocks: 0 }
        await waitFor(
          () => server.app.stats().activeRuns === 0 && server.app.stats().sessionLocks === 0,
          `no runs and no session locks (${seed})`,
          20_000
        )
        assert.deepEqual(server.app.stats(), idle)
        const details = await fetch(`${server.url}/health/details`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
        assert.equal(details.status, 200)
        assert.deepEqual(await details.json(), { status: 'ok', store: 'memory', ...idle })
      } finally {
        await server.close()
      }
    }
  )
})
