/**
 * Scenario 4: a client reads a 50 MB streamed reply at 1 KiB/s for 30 s, then disconnects.
 * Backpressure must hold the agent back, so the server's memory grows by little; the run must be
 * aborted on disconnect. Reports the peak RSS growth over the server's idle RSS.
 *
 * Usage: node --import tsx bench/slow-reader.ts [--seconds 30]
 */
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { chatBody, rss, startServer, TOKEN, tsArgs } from './lib.ts'

export const slowReader = async (seconds = 30, node = 'node') => {
  const server = await startServer('slow-reader', node, [
    ...tsArgs(node),
    'bench/slow-reader-server.ts',
  ])
  const aborted = new Promise<string>((resolve) =>
    server.child.stdout!.on('data', (d) => {
      const m = /aborted after (\d+)/.exec(String(d))
      if (m) resolve(m[1])
    })
  )
  try {
    const pid = server.child.pid!
    const idle = rss(pid)
    let peak = idle
    const { hostname, port } = new URL(server.url)
    const socket = connect(Number(port), hostname)
    const body = chatBody('stream me 50 MB', true)
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${TOKEN}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    )
    // Paused: bytes stay in the kernel until read, 1 KiB every second, so TCP windows fill up
    // and the server has to stop writing.
    socket.pause()
    let read = 0
    const end = Date.now() + seconds * 1000
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 1000))
      const chunk = socket.read(1024) as Buffer | null
      if (chunk) read += chunk.length
      peak = Math.max(peak, rss(pid))
    }
    socket.destroy()
    const sentBeforeAbort = Number(await aborted)
    return {
      seconds,
      clientReadKiB: read / 1024,
      idleRssMiB: idle / 2 ** 20,
      peakGrowthMiB: (peak - idle) / 2 ** 20,
      agentProducedMiB: sentBeforeAbort / 2 ** 20,
      abortedOnDisconnect: true,
    }
  } finally {
    await server.stop()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' } } })
  console.log(JSON.stringify(await slowReader(Number(values.seconds)), null, 2))
}
