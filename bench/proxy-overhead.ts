/**
 * What the openai backend adds: the same chat request sent to a fast mock upstream directly,
 * and through our server with the openai backend pointed at that mock, alternating rounds, at a
 * fixed 1 000 requests per second, well below saturation, so the latency difference is the
 * proxy's own. Non-stream latency (p50, p99), and a stream's first byte.
 */
import { benchConfig, runScript, startServer, tsArgs, type Server } from './lib.ts'
import { compare } from './throughput.ts'

const BODY = JSON.stringify({
  messages: [{ role: 'user', content: 'What does the gateway do with a request?' }],
  model: 'openclaw',
})
const STREAM_BODY = JSON.stringify({ ...JSON.parse(BODY), stream: true })

export interface FixedRate {
  rate: number
  p50: number
  p99: number
  firstByteP50?: number
  firstByteP99?: number
  errors: number
  loadCpu: number
}

/** bench/fixed-rate.ts in its own process on `node`. */
export const fixedRate = (node: string, args: string[]) =>
  runScript<FixedRate>('fixed-rate', args, node)

export const proxyOverhead = async (node: string, rounds: number, seconds: number) => {
  const mock = await startServer('direct', node, [...tsArgs(node), 'bench/mock-upstream.ts'])
  const ours = await startServer('proxy', node, [
    'dist/cli.js',
    'serve',
    '--config',
    benchConfig({}, { type: 'openai', baseUrl: `${mock.url}/v1`, model: 'mock', apiKey: 'k' }),
    '--port',
    '0',
  ])
  const at =
    (body: string, stream = false) =>
    (s: Server) =>
      fixedRate(node, [s.url, '1000', String(seconds), body, ...(stream ? ['stream'] : [])])
  try {
    return {
      nonStream: await compare([mock, ours], at(BODY), rounds),
      stream: await compare([mock, ours], at(STREAM_BODY, true), rounds),
    }
  } finally {
    await Promise.all([ours.stop(), mock.stop()])
  }
}
