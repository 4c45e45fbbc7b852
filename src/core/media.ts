/**
 * What images and files share: base64 payloads and remote URLs. A URL is fetched only from an
 * allow-listed host, following a bounded number of redirects (each one checked again), within a
 * time and a size limit.
 */
import type { ApiError } from './errors.ts'
import { readAtMost } from './read-at-most.ts'

export interface FetchLimits {
  urlAllowlist: string[]
  maxBytes: number
  maxRedirects: number
  timeoutMs: number
}

/** Standard base64 without white space, from standard or URL-safe input; undefined if invalid. */
export const cleanBase64 = (data: string): string | undefined => {
  const clean = data.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/\-_]*={0,2}$/.test(clean)) return undefined
  return clean.replace(/-/g, '+').replace(/_/g, '/')
}

/** The bytes of a base64 payload (standard or URL-safe, white space allowed), or undefined. */
export const decodeBase64 = (data: string): Uint8Array | undefined => {
  const clean = cleanBase64(data)
  if (clean === undefined) return undefined
  try {
    const bin = atob(clean)
    const bytes = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
    return bytes
  } catch {
    return undefined
  }
}

export const toBase64 = (bytes: Uint8Array): string => {
  let bin = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(bin)
}

/** Whether `host` is listed: exactly, or under a `*.example.com` entry. */
export const hostAllowed = (host: string, allowlist: string[]) =>
  allowlist.some((entry) => {
    const e = entry.trim().toLowerCase()
    if (!e) return false
    return e.startsWith('*.') ? host.endsWith(e.slice(1)) && host.length > e.length - 1 : host === e
  })

/**
 * Fetches `url` within the limits. `fail` words the error for the caller's part.
 * @throws {ApiError} from `fail`: a host not allowed, too many redirects, an error status, too large
 */
export const fetchLimited = async (
  url: URL,
  limits: FetchLimits,
  fetchImpl: typeof fetch,
  fail: (detail: string) => ApiError
): Promise<{ bytes: Uint8Array; mimeType: string }> => {
  const signal = AbortSignal.timeout(limits.timeoutMs)
  let current = url
  for (let hop = 0; ; hop++) {
    if (!hostAllowed(current.hostname.toLowerCase(), limits.urlAllowlist)) {
      throw fail(`The host ${current.hostname} is not in the URL allowlist.`)
    }
    let res: Response
    try {
      res = await fetchImpl(current, { redirect: 'manual', signal })
    } catch {
      throw fail('The URL could not be fetched.')
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel()
      if (hop >= limits.maxRedirects) throw fail('Too many redirects.')
      current = new URL(res.headers.get('location')!, current)
      if (current.protocol !== 'https:' && current.protocol !== 'http:') {
        throw fail('The URL redirected to a non-HTTP URL.')
      }
      continue
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw fail(`The URL answered ${res.status}.`)
    }
    const body = res.body
      ? readAtMost(res.body, limits.maxBytes)
      : Promise.resolve(new Uint8Array())
    const bytes = await body.catch(() => {
      throw fail('The URL could not be read.')
    })
    if (!bytes) throw fail(`The content is larger than ${limits.maxBytes} bytes.`)
    const mimeType = res.headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? ''
    return { bytes, mimeType }
  }
}
