/**
 * Lingering close on `node:http`, as nginx (`lingering_close`) and Apache do it. An answer given
 * before the body was read (413 on `Content-Length`, 401, 405, 429, …) says `Connection: close`,
 * and Node then closes the socket as soon as the answer is written. The client is still
 * uploading, so the kernel meets unread bytes at close and sends RST instead of FIN, and an RST
 * makes the client's kernel throw away the answer it had received but not yet read: most
 * clients (`fetch`, `node:http`) then report EPIPE or ECONNRESET instead of the 413.
 *
 * So for such a connection the close is replaced: the answer is flushed, FIN goes out (the
 * client can read the answer to its end and stop sending), and the rest of the body is read and
 * thrown away until it ends, or until a bound in time or bytes is reached; only then is the
 * socket closed. The connection is never kept alive afterwards: the answer said it would close.
 */
import type { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { LINGER_BYTES, LINGER_MS, type LingerBounds } from './linger-bounds.ts'

const kRequest = Symbol('lingerRequest')
const kLingering = Symbol('lingering')

type LingeringSocket = Socket & { [kRequest]?: IncomingMessage; [kLingering]?: true }

/** Node's own close: end, and destroy once the answer is flushed. */
const closeWhenFlushed = Socket.prototype.destroySoon

/**
 * Returns what to call with each request before the app sees it. It notes the request as the
 * one being read on its connection and puts the lingering close on that socket: `node:http`
 * closes a `Connection: close` connection through `socket.destroySoon()`, and does so before
 * any `finish` listener of ours could run. With nothing unread it closes as Node would, so a
 * host's own answers on a connection the app once used (`mount()`) close as they always did.
 * (Deno's `node:http` closes the same way; Bun's does not, see fetch-linger.ts.)
 */
export const lingeringClose = ({ ms = LINGER_MS, bytes = LINGER_BYTES }: LingerBounds = {}) => {
  function destroySoon(this: LingeringSocket) {
    if (this[kLingering]) return
    const req = this[kRequest]
    if (!req || req.complete || this.destroyed) return closeWhenFlushed.call(this)
    this[kLingering] = true
    this.end()
    let read = 0
    const cleanup = () => {
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      this.off('close', cleanup)
    }
    const onData = (chunk: Buffer) => {
      read += chunk.length
      if (read <= bytes) return
      cleanup()
      this.destroy()
    }
    // All of the body is in: nothing unread is left to turn the close into an RST.
    const onEnd = () => {
      cleanup()
      closeWhenFlushed.call(this)
    }
    // Past the time bound the client may lose the answer, but it has had its chance to read it.
    const timer = setTimeout(() => {
      cleanup()
      this.destroy()
    }, ms)
    timer.unref()
    // Whatever still waited for the body (a read the app gave up on) would hold on to it or
    // pause the stream; the answer is out, so the bytes only need to be taken off the wire.
    req.removeAllListeners('data')
    req.on('data', onData)
    req.once('end', onEnd)
    this.once('close', cleanup)
    req.resume()
  }
  return (req: IncomingMessage) => {
    const socket = req.socket as LingeringSocket | null
    if (!socket) return
    socket[kRequest] = req
    if (socket.destroySoon !== destroySoon) socket.destroySoon = destroySoon
  }
}
