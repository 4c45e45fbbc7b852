/**
 * Per-client API keys (`gateway.http.apiKeys`): a key lets its holder use some agents through
 * some endpoints, within its limits, and nothing of the operator's. Only a SHA-256 of each key is
 * configured; a presented bearer is hashed and compared with every configured hash.
 *
 * The hash is `@noble/hashes`' synchronous SHA-256: Web Crypto's `digest` is async, and its trip
 * to Node's thread pool cost a quarter of a short request's time when auth used it (bench/notes.md).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { READ, WRITE } from './scopes.ts'

/** Ids appear in logs, metric labels and store keys: short, plain, no `:`. */
export const KEY_ID_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/i
export const KEY_ID_RULE = 'must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}'
export const KEY_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/i
export const KEY_ENDPOINTS = ['chat', 'responses', 'models'] as const
export type KeyEndpoint = (typeof KEY_ENDPOINTS)[number]
/** What generated keys start with, so a leaked one is recognisable (and a secret scanner's rule). */
export const KEY_PREFIX = 'ocg_'

/** One `gateway.http.apiKeys` entry, as the config holds it. */
export interface ApiKeyConfig {
  id: string
  hash: string
  agents: string[]
  endpoints: KeyEndpoint[]
  rpm?: number
  concurrency?: number
  expiresAt?: string
}

/** A key as a request holds it once matched. */
export interface ApiKey {
  id: string
  /** The agents it may use; `undefined` for all (`'*'`). */
  agents: ReadonlySet<string> | undefined
  endpoints: ReadonlySet<KeyEndpoint>
  rpm: number | undefined
  concurrency: number | undefined
  /** Epoch ms; `undefined` when it never expires. */
  expiresAt: number | undefined
  /** As configured, for the expired key's message. */
  expiresText: string | undefined
}

/** What a key may do: run turns and read what it made; never what needs `operator.admin`. */
export const KEY_SCOPES: ReadonlySet<string> = new Set([READ, WRITE])

const encoder = new TextEncoder()

/** `sha256:` and the hex digest of `key`: what `gateway.http.apiKeys[].hash` holds. */
export const hashKey = (key: string): string => `sha256:${bytesToHex(sha256(encoder.encode(key)))}`

const base64url = (bytes: Uint8Array): string => {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** A new key: the prefix and 32 random bytes, base64url (256 bits: never guessed, never brute-forced). */
export const generateKey = (): string =>
  KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)))

/**
 * Why keys need `token` or `password`: under `none` everyone is let in anyway, and under
 * `trusted-proxy` the proxy says who calls; a key would be a second, weaker way in.
 */
export const keysNeedSecretMode = (mode: string) =>
  `API keys work with auth mode token or password, not '${mode}': under 'none' anyone is let ` +
  "in anyway, and under 'trusted-proxy' the proxy says who calls"

/** Whether `agentId` is one `key` may use. */
export const mayUseAgent = (key: ApiKey, agentId: string): boolean =>
  key.agents === undefined || key.agents.has(agentId)

const toKey = (entry: ApiKeyConfig): ApiKey => ({
  id: entry.id,
  agents: entry.agents.includes('*') ? undefined : new Set(entry.agents),
  endpoints: new Set(entry.endpoints),
  rpm: entry.rpm,
  concurrency: entry.concurrency,
  expiresAt: entry.expiresAt === undefined ? undefined : Date.parse(entry.expiresAt),
  expiresText: entry.expiresAt,
})

/**
 * The configured keys, found by a presented bearer: its SHA-256 is compared with every
 * configured hash, each byte of each, whichever matches, so the time taken says nothing about
 * which hash is near. `undefined` when none matches (or no key is configured).
 */
export const keyMatcher = (
  entries: readonly ApiKeyConfig[]
): ((presented: string) => ApiKey | undefined) | undefined => {
  if (!entries.length) return undefined
  const keys = entries.map(toKey)
  const digests = new Uint8Array(entries.length * 32)
  entries.forEach((entry, i) => digests.set(hexToBytes(entry.hash.slice(7).toLowerCase()), i * 32))
  return function matchKey(presented) {
    const digest = sha256(encoder.encode(presented))
    let found = -1
    for (let k = 0; k < keys.length; k++) {
      let diff = 0
      const base = k * 32
      for (let i = 0; i < 32; i++) diff |= digest[i] ^ digests[base + i]
      // Branch-free: `diff - 1` is negative only when diff is 0.
      const same = (diff - 1) >> 31
      found = (found & ~same) | (k & same)
    }
    return found === -1 ? undefined : keys[found]
  }
}
