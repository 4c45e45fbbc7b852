/**
 * The client's address for the failed-auth lockout. `X-Forwarded-For` is believed only when the
 * connection comes from a configured proxy; then the client is the rightmost address that is
 * not itself a trusted proxy (anything left of it could be forged by the client).
 */
import type { Context } from 'hono'

const normalize = (address: string) =>
  address
    .trim()
    .replace(/^::ffff:/i, '')
    .toLowerCase()

export const trustedClientAddress = (
  socketAddress: (c: Context) => string | undefined,
  trustedProxies: string[]
): ((c: Context) => string | undefined) => {
  if (!trustedProxies.length) return socketAddress
  const trusted = new Set(trustedProxies.map(normalize))
  return function clientAddress(c) {
    const direct = socketAddress(c)
    if (direct === undefined || !trusted.has(normalize(direct))) return direct
    const hops = (c.req.header('x-forwarded-for') ?? '').split(',').map(normalize).filter(Boolean)
    for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i])) return hops[i]
    return direct
  }
}
