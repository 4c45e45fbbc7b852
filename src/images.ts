/**
 * `image_url` parts of the current user turn → images for the agent. Data URIs are decoded and
 * must really be the image type they declare; remote URLs only when enabled and allow-listed.
 */
import type { ImageInput, NormalizedMessage } from './backend.ts'
import type { ChatCompletionsConfig } from './config.ts'
import { badRequest } from './errors.ts'
import { readAtMost } from './read-at-most.ts'

const INVALID = 'Invalid image_url content in `messages`.'

const fail = (detail: string, param: string) => badRequest(`${INVALID} ${detail}`, param)

const startsWith = (bytes: Uint8Array, sig: number[], at = 0) =>
  sig.every((b, i) => bytes[at + i] === b)
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0))
const HEIF_BRANDS = ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1', 'avif']

/** The image type the bytes really are, from their magic numbers. */
export const sniffImageType = (bytes: Uint8Array): string | undefined => {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'image/gif'
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp'
  if (startsWith(bytes, ascii('ftyp'), 4)) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12))
    if (HEIF_BRANDS.includes(brand)) return 'image/heif'
  }
  return undefined
}

const sameType = (declared: string, actual: string | undefined) =>
  declared === actual ||
  (declared === 'image/jpg' && actual === 'image/jpeg') ||
  (actual === 'image/heif' && declared === 'image/heic')

/** Standard base64 without white space, from standard or URL-safe input; undefined if invalid. */
const cleanBase64 = (data: string): string | undefined => {
  const clean = data.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/\-_]*={0,2}$/.test(clean)) return undefined
  return clean.replace(/-/g, '+').replace(/_/g, '/')
}

const decodeBase64 = (clean: string): Uint8Array | undefined => {
  try {
    const bin = atob(clean)
    const bytes = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
    return bytes
  } catch {
    return undefined
  }
}

const toBase64 = (bytes: Uint8Array): string => {
  let bin = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(bin)
}

const hostAllowed = (host: string, allowlist: string[]) =>
  allowlist.some((entry) => {
    const e = entry.trim().toLowerCase()
    if (!e) return false
    return e.startsWith('*.') ? host.endsWith(e.slice(1)) && host.length > e.length - 1 : host === e
  })

const fetchImage = async (
  url: URL,
  cfg: ChatCompletionsConfig['images'],
  param: string,
  fetchImpl: typeof fetch
): Promise<{ bytes: Uint8Array; mimeType: string }> => {
  const signal = AbortSignal.timeout(cfg.timeoutMs)
  let current = url
  for (let hop = 0; ; hop++) {
    if (!hostAllowed(current.hostname.toLowerCase(), cfg.urlAllowlist)) {
      throw fail(`The host ${current.hostname} is not in images.urlAllowlist.`, param)
    }
    let res: Response
    try {
      res = await fetchImpl(current, { redirect: 'manual', signal })
    } catch {
      throw fail('The image URL could not be fetched.', param)
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel()
      if (hop >= cfg.maxRedirects) throw fail('Too many redirects.', param)
      current = new URL(res.headers.get('location')!, current)
      if (current.protocol !== 'https:' && current.protocol !== 'http:') {
        throw fail('The image URL redirected to a non-HTTP URL.', param)
      }
      continue
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw fail(`The image URL answered ${res.status}.`, param)
    }
    const body = res.body ? readAtMost(res.body, cfg.maxBytes) : Promise.resolve(new Uint8Array())
    const bytes = await body.catch(() => {
      throw fail('The image could not be read.', param)
    })
    if (!bytes) throw fail(`The image is larger than ${cfg.maxBytes} bytes.`, param)
    const declared = res.headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? ''
    return { bytes, mimeType: declared || sniffImageType(bytes) || '' }
  }
}

/**
 * The images of the current turn, validated and decoded.
 * @throws {ApiError} 400 ``Invalid image_url content in `messages`.`` with the reason after it
 */
export const extractImages = (
  messages: NormalizedMessage[],
  currentIndex: number,
  cfg: ChatCompletionsConfig,
  fetchImpl: typeof fetch = fetch,
  partIndexes: number[] = []
): ImageInput[] | Promise<ImageInput[]> => {
  const current = messages[currentIndex]
  // Most turns have no image: answered without a promise.
  if (!current || current.role !== 'user' || !current.imageUrls?.length) return []
  return decodeImages(current.imageUrls, currentIndex, cfg, fetchImpl, partIndexes)
}

const decodeImages = async (
  urls: string[],
  currentIndex: number,
  cfg: ChatCompletionsConfig,
  fetchImpl: typeof fetch,
  partIndexes: number[]
): Promise<ImageInput[]> => {
  const base = `messages[${currentIndex}].content`
  if (urls.length > cfg.maxImageParts) {
    throw fail(`At most ${cfg.maxImageParts} images are accepted per message.`, base)
  }
  const images: ImageInput[] = []
  let total = 0
  for (const [i, url] of urls.entries()) {
    const param = `${base}[${partIndexes[i] ?? i}]`
    let bytes: Uint8Array
    let mimeType: string
    let data: string | undefined
    if (!url) throw fail('The image_url has no URL.', param)
    if (url.slice(0, 5).toLowerCase() === 'data:') {
      const comma = url.indexOf(',')
      if (comma === -1) throw fail('The data URI has no payload.', param)
      const meta = url
        .slice(5, comma)
        .split(';')
        .map((s) => s.trim().toLowerCase())
      if (!meta.includes('base64')) throw fail('image_url data URI must be base64 encoded.', param)
      const payload = url.slice(comma + 1)
      if (!payload.trim()) throw fail('image_url data URI is missing payload data.', param)
      // Check the size before decoding: base64 is 4 characters for 3 bytes.
      if (Math.floor((payload.length * 3) / 4) > cfg.images.maxBytes + 3) {
        throw fail(`The image is larger than ${cfg.images.maxBytes} bytes.`, param)
      }
      mimeType = meta.find((part) => part.includes('/')) ?? ''
      data = cleanBase64(payload)
      const decoded = data === undefined ? undefined : decodeBase64(data)
      if (!decoded) throw fail('The data URI payload is not valid base64.', param)
      bytes = decoded
    } else {
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        throw fail('The image_url is not a valid URL.', param)
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
        throw fail('Only data: URIs and http(s) URLs are accepted.', param)
      }
      if (!cfg.images.allowUrl) {
        throw fail('Remote image URLs are disabled; send the image as a base64 data: URI.', param)
      }
      ;({ bytes, mimeType } = await fetchImage(parsed, cfg.images, param, fetchImpl))
    }
    if (!cfg.images.allowedMimes.includes(mimeType)) {
      throw fail(`The image type '${mimeType || 'unknown'}' is not allowed.`, param)
    }
    if (bytes.byteLength > cfg.images.maxBytes) {
      throw fail(`The image is larger than ${cfg.images.maxBytes} bytes.`, param)
    }
    if (!sameType(mimeType, sniffImageType(bytes))) {
      throw fail(`The image bytes are not ${mimeType}.`, param)
    }
    total += bytes.byteLength
    if (total > cfg.maxTotalImageBytes) {
      throw fail(`The images are larger than ${cfg.maxTotalImageBytes} bytes in total.`, base)
    }
    images.push({ type: 'image', data: data ?? toBase64(bytes), mimeType })
  }
  return images
}
