/**
 * Bun entry, also the source of the single binary (`npm run build:bin`):
 * `gateway-chat-completions serve [--config FILE] [--port N] [--host ADDR]`, as on Node.
 */
import type { Context } from 'hono'
import type { ChatCompletionsApp } from '../app.ts'
import { main, type Listening } from './cli.ts'
import { lingerAfterEarlyAnswer, onAnswer } from './fetch-linger.ts'
import { withUsableUrl } from './host.ts'
import { listenUrl } from './listen-url.ts'

// The few parts of Bun's API used here (the project type-checks against Node's types).
interface BunServer {
  port: number
  stop(closeActiveConnections?: boolean): Promise<void>
  requestIP(request: Request): { address: string } | null
}
declare const Bun: {
  serve(options: {
    port: number
    hostname: string
    idleTimeout: number
    fetch(request: Request, server: BunServer): Response | Promise<Response>
  }): BunServer
}

declare global {
  interface ImportMeta {
    /** True in the module the runtime was started with. */
    main: boolean
  }
}

/** The client's socket address: Hono hands Bun's server over as `c.env`. */
export const bunClientAddress = (c: Context): string | undefined =>
  (c.env as BunServer | undefined)?.requestIP?.(c.req.raw)?.address

/** Serves the app with `Bun.serve`. */
export const serve = async (
  app: ChatCompletionsApp,
  { port, hostname }: { port: number; hostname: string }
): Promise<Listening> => {
  const server = Bun.serve({
    port,
    hostname,
    // Bun's default idle timeout (10 s) cuts a stream whose agent is quiet; heartbeats are
    // optional, so the server itself must never time out a request.
    idleTimeout: 0,
    // Bun closes a `Connection: close` connection right after the answer, unread body or not,
    // which makes most clients lose an early answer: it is held open while the body drains.
    fetch(received, srv) {
      const request = withUsableUrl(received)
      // Bun knows the address of the request it made, not of a copy.
      const env = request === received ? srv : { requestIP: () => srv.requestIP(received) }
      return onAnswer(app.fetch(request, env), (answer) => lingerAfterEarlyAnswer(request, answer))
    },
  })
  return {
    url: listenUrl(hostname, server.port),
    async close() {
      await server.stop()
    },
  }
}

if (import.meta.main) main(process.argv.slice(2), { serve, clientAddress: bunClientAddress })
