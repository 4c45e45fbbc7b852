/**
 * Client addresses: which proxies are trusted (exact IPs or CIDR ranges, IPv4-mapped IPv6 read as
 * IPv4), and who the client is behind them. `X-Forwarded-For` is believed only when the
 * connection comes from a trusted proxy; then the client is the rightmost hop that is not itself
 * a trusted proxy (anything left of it could be forged by the client).
 */
import ipaddr from 'ipaddr.js'
import type { Context } from 'hono'

type Address = ipaddr.IPv4 | ipaddr.IPv6

/** `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`; anything else as it is. */
const stripPort = (raw: string) => {
  const s = raw.trim()
  if (s.startsWith('[')) {
    const end = s.indexOf(']')
    return s.slice(1, end === -1 ? undefined : end)
  }
  const colon = s.indexOf(':')
  return colon !== -1 && colon === s.lastIndexOf(':') ? s.slice(0, colon) : s
}

/** The address in canonical form (IPv4-mapped IPv6 as IPv4), or undefined when it is not an IP. */
export const parseAddress = (raw: string | undefined): Address | undefined => {
  if (!raw) return undefined
  try {
    return ipaddr.process(stripPort(raw))
  } catch {
    return undefined
  }
}

/** The forms a socket reports for loopback, answered without parsing (every request asks). */
const PLAIN_LOOPBACK =
  /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/

export const isLoopback = (raw: string | undefined): boolean => {
  if (raw === undefined) return false
  if (PLAIN_LOOPBACK.test(raw)) return true
  return raw.trim().toLowerCase() === 'localhost' || parseAddress(raw)?.range() === 'loopback'
}

type Range = [Address, number]

/** An entry of `gateway.trustedProxies`: an IP or a CIDR range; undefined when it is neither. */
export const parseProxyEntry = (entry: string): Range | undefined => {
  try {
    if (!entry.includes('/')) {
      const ip = ipaddr.process(entry.trim())
      return [ip, ip.kind() === 'ipv4' ? 32 : 128]
    }
    const [ip, bits] = ipaddr.parseCIDR(entry.trim())
    // `::ffff:10.0.0.0/104` is the IPv4 range 10.0.0.0/8.
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
      return [(ip as ipaddr.IPv6).toIPv4Address(), bits - 96]
    return [ip, bits]
  } catch {
    return undefined
  }
}

/** Whether an address is one of `proxies` (entries that do not parse match nothing). */
export const proxyMatcher = (proxies: string[]) => {
  const ranges = proxies.map(parseProxyEntry).filter((r): r is Range => r !== undefined)
  return (raw: string | undefined): boolean => {
    const ip = parseAddress(raw)
    return !!ip && ranges.some(([net, bits]) => ip.kind() === net.kind() && ip.match(net, bits))
  }
}

/**
 * The rightmost `X-Forwarded-For` hop that is neither a trusted proxy nor loopback: the client a
 * trusted proxy speaks for, or undefined when the header names none.
 */
export const forwardedClient = (
  forwardedFor: string | null | undefined,
  trusted: (address: string) => boolean
): string | undefined => {
  const hops = (forwardedFor ?? '').split(',')
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = parseAddress(hops[i])
    if (!ip) continue
    const hop = ip.toString()
    if (!trusted(hop) && ip.range() !== 'loopback') return hop
  }
  return undefined
}

/** The client's address for the lockout and logs: the socket's, or the one a trusted proxy forwards. */
export const trustedClientAddress = (
  socketAddress: (c: Context) => string | undefined,
  trustedProxies: string[]
): ((c: Context) => string | undefined) => {
  if (!trustedProxies.length) return socketAddress
  const trusted = proxyMatcher(trustedProxies)
  return function clientAddress(c) {
    const direct = socketAddress(c)
    if (!trusted(direct)) return direct
    return forwardedClient(c.req.header('x-forwarded-for'), trusted) ?? direct
  }
}
