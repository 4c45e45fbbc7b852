/**
 * Cold start: from spawning the process to its first answered chat request, for ours (the CLI,
 * echo backend) and for the bare Hono server, alternating; the median of each is reported.
 */
import { SHORT } from './bodies.ts'
import { TOKEN } from './answer.ts'
import { benchConfig, median, startServer, tsArgs } from './lib.ts'

const firstAnswer = async (name: string, node: string, args: string[]) => {
  const started = performance.now()
  const server = await startServer(name, node, args)
  try {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: SHORT,
    })
    await res.text()
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}`)
    return performance.now() - started
  } finally {
    await server.stop()
  }
}

export const coldStart = async (node: string, rounds: number) => {
  const config = benchConfig()
  const times = { ours: [] as number[], hono: [] as number[] }
  for (let r = 0; r < rounds; r++) {
    times.ours.push(
      await firstAnswer('ours', node, ['dist/cli.js', 'serve', '--config', config, '--port', '0'])
    )
    times.hono.push(await firstAnswer('hono', node, [...tsArgs(node), 'bench/hono-server.ts']))
  }
  return { ours: median(times.ours), hono: median(times.hono) }
}
