/**
 * `input_file` parts of the current user turn → text for the agent's system prompt, each inside
 * boundary markers that say it is untrusted external content (the gateway's form). The type is
 * read from the bytes, not taken on trust: a PDF's text is extracted (with `unpdf`, which runs on
 * every runtime); a PDF without a text layer is refused rather than rendered to images.
 */
import { badRequest, type ApiError } from './errors.ts'
import { decodeBase64, fetchLimited, hostAllowed, type FetchLimits } from './media.ts'

export type FileSource =
  | { kind: 'data'; base64: string; mimeType?: string; filename?: string }
  | { kind: 'url'; url: string; filename?: string }

export interface FileLimits extends FetchLimits {
  allowUrl: boolean
  urlAllowlist: string[]
  allowedMimes: string[]
  maxBytes: number
  /** Text beyond this many characters is cut off. */
  maxChars: number
  pdf: { maxPages: number }
}

const INVALID = 'Invalid input_file content in `input`.'
const fail = (detail: string, param: string): ApiError => badRequest(`${INVALID} ${detail}`, param)

const startsWith = (bytes: Uint8Array, text: string, at = 0) => {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false
  return true
}

/** Binary types recognised by their first bytes (anything else is text, or unreadable). */
const sniffBinary = (bytes: Uint8Array): string | undefined => {
  if (startsWith(bytes, '%PDF-')) return 'application/pdf'
  if (startsWith(bytes, '\x89PNG')) return 'image/png'
  if (startsWith(bytes, '\xff\xd8\xff')) return 'image/jpeg'
  if (startsWith(bytes, 'GIF8')) return 'image/gif'
  if (startsWith(bytes, 'RIFF') && startsWith(bytes, 'WEBP', 8)) return 'image/webp'
  if (startsWith(bytes, 'PK\x03\x04')) return 'application/zip'
  if (startsWith(bytes, '\x1f\x8b')) return 'application/gzip'
  return undefined
}

const BY_EXTENSION: Record<string, string> = {
  txt: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  html: 'text/html',
  htm: 'text/html',
}

/** Text in UTF-8 (or UTF-16 with a byte-order mark); undefined when the bytes are not text. */
const decodeText = (bytes: Uint8Array): string | undefined => {
  let encoding = 'utf-8'
  if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = 'utf-16le'
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = 'utf-16be'
  try {
    const text = new TextDecoder(encoding, { fatal: true }).decode(bytes)
    // NUL and other C0 controls (but tab, newline, carriage return, form feed) mean binary.
    return /[\x00-\x08\x0e-\x1f]/.test(text) ? undefined : text
  } catch {
    return undefined
  }
}

/** Cuts to `max` UTF-16 units without splitting a surrogate pair. */
const cut = (text: string, max: number) => {
  if (text.length <= max) return text
  const end = /[\ud800-\udbff]/.test(text[max - 1]) ? max - 1 : max
  return text.slice(0, end)
}

/** The text layer of a PDF's first `maxPages` pages. */
const pdfText = async (bytes: Uint8Array, maxPages: number): Promise<string> => {
  // Loaded on first use: pdf.js is large, and most requests carry no PDF.
  const { getDocumentProxy } = await import('unpdf')
  const pdf = await getDocumentProxy(bytes)
  try {
    const pages: string[] = []
    for (let n = 1; n <= Math.min(pdf.numPages, maxPages); n++) {
      const page = await pdf.getPage(n)
      const content = await page.getTextContent()
      pages.push(
        content.items
          .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
          .join('')
      )
    }
    return pages.join('\n\n')
  } finally {
    await pdf.destroy()
  }
}

const randomId = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(8))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * The block the agent's system prompt gets for one file. The id is random, so text inside the
 * file cannot close the block early by writing the end marker.
 */
export const fileBlock = (name: string, text: string) => {
  const id = randomId()
  const quoted = name.replace(/[<>"&\r\n]/g, '_')
  return (
    `<file name="${quoted}">\n\n<<<EXTERNAL_UNTRUSTED_CONTENT id="${id}">>>\n` +
    `Source: External\n---\n${text}\n<<<END_EXTERNAL_UNTRUSTED_CONTENT id="${id}">>>\n</file>`
  )
}

/** A URL's last path segment, decoded (kept as sent when its escapes are malformed). */
const lastSegment = (url: URL) => {
  const segment = url.pathname.split('/').pop() ?? ''
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

const readSource = async (
  source: FileSource,
  limits: FileLimits,
  param: string,
  fetchImpl: typeof fetch
): Promise<{ bytes: Uint8Array; declared?: string; name?: string }> => {
  if (source.kind === 'data') {
    if (Math.floor((source.base64.length * 3) / 4) > limits.maxBytes + 3) {
      throw fail(`The file is larger than ${limits.maxBytes} bytes.`, param)
    }
    const bytes = decodeBase64(source.base64)
    if (!bytes) throw fail('The file data is not valid base64.', param)
    return { bytes, declared: source.mimeType, name: source.filename }
  }
  let url: URL
  try {
    url = new URL(source.url)
  } catch {
    throw fail('The file URL is not a valid URL.', param)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw fail('Only http(s) file URLs are accepted.', param)
  }
  if (!limits.allowUrl) throw fail('File URLs are disabled; send the file as `file_data`.', param)
  if (!hostAllowed(url.hostname.toLowerCase(), limits.urlAllowlist)) {
    throw fail(`The host ${url.hostname} is not in files.urlAllowlist.`, param)
  }
  const fetched = await fetchLimited(url, limits, fetchImpl, (detail) => fail(detail, param))
  const name = source.filename ?? lastSegment(url)
  return { bytes: fetched.bytes, declared: fetched.mimeType, name: name || undefined }
}

/**
 * The system-prompt blocks for `files`.
 * @throws {ApiError} 400 naming the part: unreadable, too large, a type not allowed, a PDF
 *   without text
 */
export const decodeFiles = async (
  files: FileSource[],
  limits: FileLimits,
  paramOf: (i: number) => string,
  fetchImpl: typeof fetch = fetch
): Promise<string[]> => {
  const blocks: string[] = []
  for (const [i, source] of files.entries()) {
    const param = paramOf(i)
    const { bytes, declared: given, name } = await readSource(source, limits, param, fetchImpl)
    // A declared type may carry parameters (a `source.media_type` of `text/plain; charset=utf-8`):
    // only the type itself is compared with the allowed ones.
    const declared = given?.split(';')[0].trim().toLowerCase()
    if (bytes.byteLength > limits.maxBytes) {
      throw fail(`The file is larger than ${limits.maxBytes} bytes.`, param)
    }
    const binary = sniffBinary(bytes)
    const text = binary ? undefined : decodeText(bytes)
    const extension = name?.split('.').pop()?.toLowerCase() ?? ''
    const mimeType =
      binary ??
      (text === undefined
        ? 'application/octet-stream'
        : declared || BY_EXTENSION[extension] || 'text/plain')
    if (!limits.allowedMimes.includes(mimeType)) {
      throw fail(
        `The file type '${mimeType}' is not allowed (allowed: ${limits.allowedMimes.join(', ')}).`,
        param
      )
    }
    let content: string
    if (mimeType === 'application/pdf') {
      let extracted: string
      try {
        extracted = await pdfText(bytes, limits.pdf.maxPages)
      } catch {
        throw fail('The PDF could not be read.', param)
      }
      if (!extracted.trim()) {
        throw fail(
          'The PDF has no text layer (a scan?): send its text, or its pages as input_image parts.',
          param
        )
      }
      content = extracted
    } else if (text === undefined) {
      throw fail(`The file is not text in UTF-8 or UTF-16.`, param)
    } else content = text
    blocks.push(fileBlock(name || 'file', cut(content, limits.maxChars)))
  }
  return blocks
}
