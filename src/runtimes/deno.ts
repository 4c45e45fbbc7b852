/**
 * Deno entry, for local testing:
 * `deno run --allow-net --allow-env --allow-read src/runtimes/deno.ts serve --config FILE`.
 * Run it with `deno.json` beside it: its `no-legacy-abort` keeps Deno from aborting
 * `request.signal` after every successful response (which would look like a disconnect).
 */
import type { Context } from 'hono'
import type { ChatCompletionsApp } from '../app.ts'
import { main, type Listening } from './cli.ts'
import { cancelAfterEarlyAnswer, onAnswer } from './fetch-linger.ts'
import { withUsableUrl } from './host.ts'
import { listenUrl } from './listen-url.ts'

// The few parts of Deno's API used here (the project type-checks against Node's types).
interface DenoServeInfo {
  remoteAddr: { hostname: string }
}
declare const Deno: {
  serve(
    options: { port: number; hostname: string; onListen?(addr: { port: number }): void },
    handler: (request: Request, info: DenoServeInfo) => Response | Promise<Response>
  ): { addr: { port: number }; shutdown(): Promise<void> }
  args: string[]
}

declare global {
  interface ImportMeta {
    /** True in the module the runtime was started with. */
    main: boolean
  }
}

/** The client's address: Hono hands Deno's serve info over as `c.env`. */
export const denoClientAddress = (c: Context): string | undefined =>
  (c.env as DenoServeInfo | undefined)?.remoteAddr?.hostname

/** Serves the app with `Deno.serve`. */
export const serve = async (
  app: ChatCompletionsApp,
  { port, hostname }: { port: number; hostname: string }
): Promise<Listening> => {
  let server: ReturnType<typeof Deno.serve>
  try {
    // Deno lets an early answer arrive by itself: see fetch-linger.ts for the one exception.
    server = Deno.serve({ port, hostname, onListen() {} }, (received, info) => {
      const request = withUsableUrl(received)
      return onAnswer(app.fetch(request, info), (answer) => cancelAfterEarlyAnswer(request, answer))
    })
  } catch (err) {
    // Deno names the error instead of giving it Node's code.
    if ((err as Error).name === 'AddrInUse')
      throw Object.assign(err as Error, { code: 'EADDRINUSE' })
    throw err
  }
  return { url: listenUrl(hostname, server.addr.port), close: () => server.shutdown() }
}

if (import.meta.main) main(Deno.args, { serve, clientAddress: denoClientAddress })
