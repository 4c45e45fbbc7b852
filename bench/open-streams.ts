/**
 * Scenario 3: 2 000 concurrent open streams whose agent is silent (`/stall`): resident memory
 * per open stream, against the baseline of the same server idle. A separate process holds the
 * streams open; the server's RSS is read from /proc (Linux).
 *
 * Usage: node --import tsx bench/open-streams.ts [--streams N]
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { benchConfig, chatBody, ours, rss, TOKEN } from './lib.ts'

/** The client side, run as a child: opens N streams, reports when all sent their first bytes. */
const holdStreams = async (url: string, n: number) => {
  const { Agent, request } = await import('node:http')
  const agent = new Agent({ keepAlive: false, maxSockets: n })
  const body = chatBody('/stall 600000', true)
  let open = 0
  const reqs = Array.from({ length: n }, () =>
    request(new URL('/v1/chat/completions', url), {
      method: 'POST',
      agent,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) },
    })
  )
  for (const req of reqs) {
    req.on('response', (res) => {
      res.once('data', () => {
        if (++open === n) console.log('open')
      })
    })
    req.on('error', () => {})
    req.end(body)
  }
  // Holds them until the parent says so (or dies), then lets them all go at once.
  process.stdin.once('data', () => {
    for (const req of reqs) req.destroy()
    setTimeout(() => process.exit(0), 100)
  })
}

export const openStreams = async (n = 2000, node = 'node') => {
  const server = await ours.node(benchConfig(), node)
  try {
    const pid = server.child.pid!
    // Warm the request path once so the first stream doesn't pay for code loading.
    for (let i = 0; i < 200; i++) {
      await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: chatBody('warm up', true),
      }).then((r) => r.text())
    }
    const before = rss(pid)
    const client = spawn(
      'node',
      ['--import', 'tsx', 'bench/open-streams.ts', '--client', server.url, '--streams', String(n)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      }
    )
    await new Promise<void>((resolve) =>
      createInterface({ input: client.stdout! }).on('line', (l) => l === 'open' && resolve())
    )
    const during = rss(pid)
    const details = await (
      await fetch(`${server.url}/health/details`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()
    client.stdin!.write('go\n')
    await new Promise((resolve) => client.once('exit', resolve))
    let after = details
    for (let i = 0; i < 500 && after.activeRuns > 0; i++) {
      after = await (
        await fetch(`${server.url}/health/details`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()
    }
    return {
      streams: n,
      rssBeforeMiB: before / 2 ** 20,
      rssOpenMiB: during / 2 ** 20,
      perStreamKiB: (during - before) / n / 1024,
      activeRunsOpen: details.activeRuns,
      activeRunsAfter: after.activeRuns,
    }
  } finally {
    await server.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { client: { type: 'string' }, streams: { type: 'string', default: '2000' } },
  })
  if (values.client) await holdStreams(values.client, Number(values.streams))
  else console.log(JSON.stringify(await openStreams(Number(values.streams)), null, 2))
}
