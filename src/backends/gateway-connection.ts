/**
 * One shared WebSocket to an OpenClaw Gateway: the challenge/connect handshake, requests matched
 * to their `res` frames by id (an `agent` request gets two), `agent` events routed by runId, a
 * tick watchdog, and reconnecting with backoff. Web-standard only (WebSocket, Web Crypto,
 * timers), so it runs on Node, Bun, Deno and Workers alike.
 */
import type { BackendEvents, ConnectionState, WebSocketConstructor } from '../backend.ts'
import { deviceAuthPayloadV3, signPayload, type DeviceState } from './device-identity.ts'

export const PROTOCOL_VERSION = 4
export const ROLE = 'operator'
/**
 * The gateway makes a turn an owner turn (its owner-only tools, the `openclaw` one among them)
 * when the connection holds `operator.admin`, as its own endpoint does for shared-secret
 * callers; callers without admin take a connection without it.
 */
export const OWNER_SCOPES = ['operator.admin', 'operator.read', 'operator.write']
export const MEMBER_SCOPES = ['operator.read', 'operator.write']

/** Why talking to the gateway failed; `kind` decides retrying and the message's wording. */
export class GatewayError extends Error {
  readonly kind: 'auth' | 'unavailable' | 'lost' | 'rejected'
  readonly code?: string
  readonly retryAfterMs?: number
  constructor(
    kind: GatewayError['kind'],
    message: string,
    extra: { code?: string; retryAfterMs?: number } = {}
  ) {
    super(message)
    this.name = 'GatewayError'
    this.kind = kind
    this.code = extra.code
    this.retryAfterMs = extra.retryAfterMs
  }
}

export interface ClientInfo {
  id: string
  mode: string
  version: string
  platform: string
  deviceFamily: string
}

export interface ConnectionOptions {
  url: string
  /** The operator scopes to ask for. */
  scopes: string[]
  token?: string
  password?: string
  /** Budget for reaching a ready connection, retries included. */
  connectTimeoutMs: number
  WebSocket: WebSocketConstructor
  client: ClientInfo
  /** Loaded on the first connect, then kept. */
  device: () => Promise<DeviceState>
  /** How long an auth rejection is remembered before the next connect may try again. */
  authRetryMs?: number
  logger?: { warn(m: string): void }
  /** Told of this connection's state changes and reconnects (for metrics), as `name`. */
  events?: BackendEvents
  name?: string
}

interface WireError {
  code?: string
  message?: string
  details?: { code?: string; reason?: string } & Record<string, unknown>
  retryable?: boolean
  retryAfterMs?: number
}

type Frame =
  | { type: 'res'; id: string; ok: boolean; payload?: any; error?: WireError }
  | { type: 'event'; event: string; payload?: any }

interface Pending {
  resolve(payload: any): void
  reject(err: unknown): void
  /** For `agent`: the first `res` (status `accepted`) is an ack; the second is the result. */
  onAck?: (payload: any) => void
}

export interface RequestOptions {
  onAck?: (payload: any) => void
  /** Drops the request (its answer is then ignored). */
  signal?: AbortSignal
  /** Fails the request when no answer came in time (none: wait for the answer or the socket). */
  timeoutMs?: number
}

export interface RunWatcher {
  onEvent(payload: any): void
  onLost(err: GatewayError): void
}

type Timer = ReturnType<typeof setTimeout>
const unref = (timer: Timer) => {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}

const DEFAULT_TICK_MS = 30_000
const AUTH_CODES = /^(AUTH_|UNAUTHORIZED|NOT_PAIRED|PAIRING_|DEVICE_)/
const MAX_BACKOFF_MS = 5_000

const frameText = (data: unknown): string | undefined => {
  if (typeof data === 'string') return data
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data))
    return new TextDecoder().decode(data as ArrayBuffer)
  return undefined
}

/** The message a rejected `connect` becomes: auth failures name the setting to fix. */
const connectError = (error: WireError | undefined, usedSecret: string): GatewayError => {
  const code = error?.details?.code ?? error?.code ?? 'UNKNOWN'
  const text = error?.message ?? 'no message'
  const isAuth =
    AUTH_CODES.test(String(error?.details?.code ?? '')) ||
    AUTH_CODES.test(String(error?.code ?? '')) ||
    /^unauthorized/i.test(text)
  if (isAuth) {
    return new GatewayError(
      'auth',
      `The gateway rejected the backend's ${usedSecret}: ${code} (${text})`,
      { code }
    )
  }
  if (error?.retryable || error?.code === 'UNAVAILABLE') {
    return new GatewayError('unavailable', `The gateway is not ready: ${text}`, {
      code,
      retryAfterMs: error?.retryAfterMs,
    })
  }
  return new GatewayError('rejected', `The gateway refused the connection: ${code} (${text})`, {
    code,
  })
}

/** One socket, from its handshake to its close. */
export class GatewaySocket {
  readonly ready: Promise<void>
  /** Methods the gateway offers (from `hello-ok`); empty when it did not say. */
  methods = new Set<string>()
  closed = false
  readonly #ws: WebSocket
  readonly #opts: ConnectionOptions
  readonly #pending = new Map<string, Pending>()
  readonly #runs = new Map<string, RunWatcher>()
  readonly #onGone: (socket: GatewaySocket) => void
  readonly #socketClosed: Promise<void>
  #nextId = 1
  #lastFrameAt = Date.now()
  #watchdog?: ReturnType<typeof setInterval>
  #settleReady!: (err?: GatewayError) => void

  constructor(opts: ConnectionOptions, deadline: number, onGone: (s: GatewaySocket) => void) {
    this.#opts = opts
    this.#onGone = onGone
    let resolveReady!: () => void
    let rejectReady!: (err: unknown) => void
    this.ready = new Promise<void>((res, rej) => {
      resolveReady = res
      rejectReady = rej
    })
    // Nobody may be listening yet when the handshake fails; the caller reads `ready` itself.
    this.ready.catch(() => {})
    let handshakeTimer: Timer | undefined = unref(
      setTimeout(
        () =>
          this.fail(
            new GatewayError(
              'unavailable',
              `The gateway at ${opts.url} did not complete the handshake in time.`
            )
          ),
        Math.max(0, deadline - Date.now())
      )
    )
    let readySettled = false
    this.#settleReady = (err) => {
      if (readySettled) return
      readySettled = true
      clearTimeout(handshakeTimer)
      handshakeTimer = undefined
      if (err) rejectReady(err)
      else resolveReady()
    }

    let resolveClosed!: () => void
    this.#socketClosed = new Promise<void>((r) => (resolveClosed = r))
    try {
      this.#ws = new opts.WebSocket(opts.url)
    } catch (err) {
      resolveClosed()
      this.#ws = undefined as unknown as WebSocket
      this.fail(new GatewayError('unavailable', `Cannot open ${opts.url}: ${String(err)}`))
      return
    }
    this.#ws.addEventListener('message', (ev) => this.#onMessage((ev as MessageEvent).data))
    this.#ws.addEventListener('close', (ev) => {
      resolveClosed()
      const { code, reason } = ev as CloseEvent
      this.fail(
        new GatewayError(
          readySettled ? 'lost' : 'unavailable',
          `The connection to the gateway was lost (code ${code}${reason ? `: ${reason}` : ''}).`
        )
      )
    })
    // Errors are always followed by `close`, which carries the code; nothing to do here but
    // keep runtimes that treat an unhandled `error` event as fatal quiet.
    this.#ws.addEventListener('error', () => {})
  }

  /** Sends a request; resolves with its (final) answer's payload, rejects on `ok:false`. */
  request(method: string, params: unknown, opts: RequestOptions = {}): Promise<any> {
    if (this.closed)
      return Promise.reject(new GatewayError('lost', 'The connection to the gateway is closed.'))
    const id = `r${this.#nextId++}`
    return new Promise((resolve, reject) => {
      let timer: Timer | undefined
      const done = () => {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(id)
      }
      const onAbort = () => {
        done()
        reject(opts.signal!.reason)
      }
      if (opts.signal?.aborted) return reject(opts.signal.reason)
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (opts.timeoutMs) {
        timer = unref(
          setTimeout(() => {
            done()
            reject(new GatewayError('lost', `The gateway did not answer ${method} in time.`))
          }, opts.timeoutMs)
        )
      }
      this.#pending.set(id, {
        resolve: (p) => {
          done()
          resolve(p)
        },
        reject: (e) => {
          done()
          reject(e)
        },
        onAck: opts.onAck,
      })
      this.#send({ type: 'req', id, method, params })
    })
  }

  /** Routes this run's `agent` events to `watcher` until the returned function is called. */
  watchRun(runId: string, watcher: RunWatcher): () => void {
    this.#runs.set(runId, watcher)
    return () => {
      if (this.#runs.get(runId) === watcher) this.#runs.delete(runId)
    }
  }

  /** Asks the gateway to stop a run, with whichever abort method it offers; never throws. */
  abortRun(runId: string, sessionKey: string) {
    if (this.closed) return
    const useChat = !this.methods.has('sessions.abort') && this.methods.has('chat.abort')
    const [method, params] = useChat
      ? ['chat.abort', { sessionKey, runId }]
      : ['sessions.abort', { key: sessionKey, runId }]
    this.request(method, params, { timeoutMs: this.#opts.connectTimeoutMs }).catch(() => {})
  }

  /**
   * Ends the socket: every pending request and watched run fails with `err`. Idempotent, and
   * used for a lost socket too, so a dead peer fails its turns without waiting for TCP.
   */
  fail(err: GatewayError, code = 1000, reason = '') {
    if (this.closed) return
    this.closed = true
    if (this.#watchdog) clearInterval(this.#watchdog)
    this.#settleReady(err)
    for (const p of [...this.#pending.values()]) p.reject(err)
    this.#pending.clear()
    for (const w of [...this.#runs.values()]) w.onLost(err)
    this.#runs.clear()
    try {
      this.#ws?.close(code, reason)
    } catch {
      // Already closing, or a code the runtime refuses: the socket goes either way.
    }
    this.#onGone(this)
  }

  /** Closes and waits (briefly) for the socket to be gone, so nothing is left running. */
  async close() {
    this.fail(new GatewayError('lost', 'The gateway backend was closed.'))
    let timer: Timer | undefined
    await Promise.race([
      this.#socketClosed,
      new Promise<void>((r) => (timer = unref(setTimeout(r, 2_000)))),
    ])
    clearTimeout(timer)
  }

  #send(frame: unknown) {
    try {
      this.#ws.send(JSON.stringify(frame))
    } catch (err) {
      this.fail(new GatewayError('lost', `Cannot write to the gateway: ${String(err)}`))
    }
  }

  #onMessage(data: unknown) {
    if (this.closed) return
    this.#lastFrameAt = Date.now()
    const text = frameText(data)
    if (text === undefined) return
    let frame: Frame
    try {
      frame = JSON.parse(text)
    } catch {
      return
    }
    if (!frame || typeof frame !== 'object') return
    if (frame.type === 'event') {
      if (frame.event === 'connect.challenge') void this.#answerChallenge(frame.payload)
      else if (frame.event === 'agent') {
        const runId = frame.payload?.runId
        if (typeof runId === 'string') this.#runs.get(runId)?.onEvent(frame.payload)
      }
      return
    }
    if (frame.type === 'res') {
      const pending = this.#pending.get(frame.id)
      if (!pending) return
      if (frame.ok && pending.onAck && frame.payload?.status === 'accepted') {
        const onAck = pending.onAck
        pending.onAck = undefined
        onAck(frame.payload)
      } else if (frame.ok) pending.resolve(frame.payload)
      else
        pending.reject(
          Object.assign(new Error(frame.error?.message ?? 'request failed'), {
            wire: frame.error,
            payload: frame.payload,
          })
        )
    }
  }

  async #answerChallenge(challenge: { nonce?: string; ts?: number } | undefined) {
    const nonce = challenge?.nonce
    if (typeof nonce !== 'string') {
      this.fail(new GatewayError('rejected', 'The gateway sent a challenge without a nonce.'))
      return
    }
    const { token, password, client, scopes } = this.#opts
    try {
      const device = await this.#opts.device()
      // A device token only stands in when no shared secret is configured (a paired device).
      const authToken = token ?? (password ? undefined : device.deviceToken)
      const signedAt = typeof challenge?.ts === 'number' ? challenge.ts : Date.now()
      const signature = await signPayload(
        device.identity,
        deviceAuthPayloadV3(device.identity.id, {
          clientId: client.id,
          clientMode: client.mode,
          role: ROLE,
          scopes,
          signedAtMs: signedAt,
          token: authToken ?? '',
          nonce,
          platform: client.platform,
          deviceFamily: client.deviceFamily,
        })
      )
      if (this.closed) return
      const auth = authToken ? { token: authToken } : password ? { password } : undefined
      const usedSecret = token
        ? 'token (backend.token)'
        : password
          ? 'password (backend.password)'
          : authToken
            ? 'stored device token (backend.deviceIdentity; set backend.token)'
            : 'connection: no backend.token or backend.password is set'
      const hello = await this.request('connect', {
        minProtocol: PROTOCOL_VERSION,
        maxProtocol: PROTOCOL_VERSION,
        client: {
          id: client.id,
          version: client.version,
          platform: client.platform,
          mode: client.mode,
        },
        role: ROLE,
        scopes,
        caps: [],
        ...(auth ? { auth } : {}),
        device: {
          id: device.identity.id,
          publicKey: device.identity.publicKey,
          signature,
          signedAt,
          nonce,
        },
      }).catch((err: { wire?: WireError }) => {
        throw err instanceof GatewayError ? err : connectError(err.wire, usedSecret)
      })
      await this.#onHello(hello, device)
    } catch (err) {
      const error =
        err instanceof GatewayError
          ? err
          : new GatewayError('rejected', `The handshake with the gateway failed: ${String(err)}`)
      // The gateway closes with 1008 after an auth failure; closing first keeps our reason.
      this.fail(error, 1000, 'handshake failed')
    }
  }

  async #onHello(hello: any, device: DeviceState) {
    if (this.closed) return
    const methods = hello?.features?.methods
    if (Array.isArray(methods)) this.methods = new Set(methods.filter((m) => typeof m === 'string'))
    const issued = hello?.auth?.deviceToken
    if (typeof issued === 'string' && issued) {
      // Kept before the first turn goes out: a token the gateway issued must not be lost to a
      // crash or a shutdown right after the handshake.
      await device.saveDeviceToken(issued).catch((err) => {
        this.#opts.logger?.warn(`gateway backend: cannot save the device token: ${String(err)}`)
      })
      if (this.closed) return
    }
    const tick = Number(hello?.policy?.tickIntervalMs)
    const tickMs = Number.isFinite(tick) && tick > 0 ? tick : DEFAULT_TICK_MS
    this.#lastFrameAt = Date.now()
    // The gateway ticks every `tickMs`; twice that in silence means the peer or the path died.
    this.#watchdog = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > 2 * tickMs) {
        this.fail(
          new GatewayError(
            'lost',
            `The gateway went silent (no tick for over ${2 * tickMs} ms); closed the connection.`
          ),
          4000,
          'tick timeout'
        )
      }
    }, tickMs)
    ;(this.#watchdog as { unref?: () => void }).unref?.()
    this.#settleReady()
  }
}

/** Resolves after `ms`, or early (and false) when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<boolean>((resolve) => {
    if (signal.aborted) return resolve(false)
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = unref(
      setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve(true)
      }, ms)
    )
    signal.addEventListener('abort', onAbort, { once: true })
  })

/**
 * The lazily opened, shared connection: every caller gets the same ready socket; after one is
 * lost the next caller opens a new one, retrying with backoff and jitter (and `retryAfterMs` when
 * the gateway says it is starting) within `connectTimeoutMs`.
 */
export class GatewayConnection {
  readonly #opts: ConnectionOptions
  readonly #closing = new AbortController()
  #socket?: GatewaySocket
  #connecting?: Promise<GatewaySocket>
  /** The socket still shaking hands, so `close()` can cut it short. */
  #attempt?: GatewaySocket
  #authFailure?: { error: GatewayError; at: number }
  /** Sockets opened so far (for logs and tests). */
  opened = 0
  /** A socket was ready before: the next ready one is a reconnect. */
  #wasOpen = false

  constructor(opts: ConnectionOptions) {
    this.#opts = opts
  }

  #report(state: ConnectionState) {
    this.#opts.events?.connectionState?.(this.#opts.name ?? 'gateway', state)
  }

  readonly #opened = (socket: GatewaySocket) => {
    if (this.#wasOpen) this.#opts.events?.reconnected?.(this.#opts.name ?? 'gateway')
    this.#wasOpen = true
    this.#report('open')
    return socket
  }

  readonly #failed = (err: unknown): never => {
    this.#report('closed')
    throw err
  }

  /** A ready socket, opening one when there is none. */
  socket(): Promise<GatewaySocket> {
    if (this.#closing.signal.aborted)
      return Promise.reject(new GatewayError('lost', 'The gateway backend was closed.'))
    if (this.#socket && !this.#socket.closed) return Promise.resolve(this.#socket)
    const auth = this.#authFailure
    if (auth && Date.now() - auth.at < (this.#opts.authRetryMs ?? 10_000))
      return Promise.reject(auth.error)
    if (!this.#connecting) {
      this.#report('connecting')
      this.#connecting = this.#connect()
        .then(this.#opened, this.#failed)
        .finally(() => {
          this.#connecting = undefined
        })
    }
    return this.#connecting
  }

  async close() {
    this.#closing.abort()
    const socket = this.#socket
    this.#socket = undefined
    const attempt = this.#attempt?.close()
    await this.#connecting?.catch(() => {})
    await attempt
    await socket?.close()
    if (socket) this.#report('closed')
  }

  async #connect(): Promise<GatewaySocket> {
    const deadline = Date.now() + this.#opts.connectTimeoutMs
    for (let attempt = 0; ; attempt++) {
      const socket = new GatewaySocket(this.#opts, deadline, (s) => {
        if (this.#socket !== s) return
        this.#socket = undefined
        this.#report('closed')
      })
      this.opened++
      this.#attempt = socket
      try {
        await socket.ready
      } catch (err) {
        this.#attempt = undefined
        await socket.close()
        const error =
          err instanceof GatewayError ? err : new GatewayError('unavailable', String(err))
        if (error.kind === 'auth') this.#authFailure = { error, at: Date.now() }
        if (error.kind === 'auth' || error.kind === 'rejected') throw error
        const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.5 + Math.random() / 2)
        const wait = error.retryAfterMs ?? backoff
        if (Date.now() + wait >= deadline) {
          throw new GatewayError(
            'unavailable',
            `Cannot reach the gateway at ${this.#opts.url}: ${error.message}`,
            { code: error.code }
          )
        }
        if (!(await pause(wait, this.#closing.signal)))
          throw new GatewayError('lost', 'The gateway backend was closed.')
        continue
      }
      this.#attempt = undefined
      if (this.#closing.signal.aborted) {
        await socket.close()
        throw new GatewayError('lost', 'The gateway backend was closed.')
      }
      this.#authFailure = undefined
      this.#socket = socket
      return socket
    }
  }
}
