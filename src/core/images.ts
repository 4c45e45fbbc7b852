/**
 * The current user turn's images → images for the agent. Data URIs are decoded and must really
 * be the image type they declare; remote URLs only when enabled and allow-listed. The same for
 * chat's `image_url` parts and the Responses API's `input_image` parts.
 */
import type { ImageInput } from '../backend.ts'
import { badRequest } from './errors.ts'
import { cleanBase64, decodeBase64, fetchLimited, toBase64, type FetchLimits } from './media.ts'

export interface ImageLimits {
  maxImageParts: number
  maxTotalImageBytes: number
  images: FetchLimits & { allowUrl: boolean; allowedMimes: string[] }
}

/** How one API words its image errors: `Invalid image_url content in \`messages\`.` */
export interface ImageErrors {
  invalid: string
  /** The `param` of the message's content (`messages[3].content`). */
  base: string
  /** The content index of each image, for its own `param`. */
  partIndexes: number[]
}

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

/**
 * The images of one message, validated and decoded.
 * @throws {ApiError} 400 with the API's invalid-image message and the reason after it
 */
export const decodeImages = async (
  urls: string[],
  cfg: ImageLimits,
  errors: ImageErrors,
  fetchImpl: typeof fetch = fetch
): Promise<ImageInput[]> => {
  const { base, partIndexes } = errors
  const fail = (detail: string, param: string) => badRequest(`${errors.invalid} ${detail}`, param)
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
    if (!url) throw fail('The image has no URL.', param)
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
        throw fail('The image URL is not a valid URL.', param)
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
        throw fail('Only data: URIs and http(s) URLs are accepted.', param)
      }
      if (!cfg.images.allowUrl) {
        throw fail('Remote image URLs are disabled; send the image as a base64 data: URI.', param)
      }
      const fetched = await fetchLimited(parsed, cfg.images, fetchImpl, (detail) =>
        fail(detail, param)
      )
      bytes = fetched.bytes
      mimeType = fetched.mimeType || sniffImageType(bytes) || ''
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
    // The payload as sent when it was one; a fetched image is encoded here.
    images.push({ type: 'image', data: data ?? toBase64(bytes), mimeType })
  }
  return images
}
