/**
 * The Ed25519 device identity the gateway backend presents in `connect`, with Web Crypto only so
 * it works on every runtime. The gateway knows a device by the sha256 of its raw public key and
 * pairs it once; keeping the key (and the device token the gateway hands out) across restarts
 * is what keeps that pairing.
 */
import type { KeyValueStore } from '../backend.ts'

export interface DeviceIdentity {
  /** sha256 hex of the raw 32-byte public key. */
  id: string
  /** base64url of the raw 32-byte public key. */
  publicKey: string
  privateKey: CryptoKey
}

/** The identity plus where its device token lives. */
export interface DeviceState {
  identity: DeviceIdentity
  deviceToken?: string
  /** Keeps a device token the gateway issued (in the store when there is one). */
  saveDeviceToken(token: string): Promise<void>
}

/** What the store keeps under the `deviceIdentity` key. */
interface StoredDevice {
  version: 1
  deviceId: string
  publicKey: string
  privateKeyJwk: JsonWebKey
  deviceToken?: string
}

const ED25519 = { name: 'Ed25519' }

export const base64Url = (bytes: Uint8Array): string => {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export const fromBase64Url = (text: string): Uint8Array<ArrayBuffer> => {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

const sha256Hex = async (bytes: Uint8Array<ArrayBuffer>) =>
  Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) =>
    b.toString(16).padStart(2, '0')
  ).join('')

/**
 * An identity from a private Ed25519 JWK (`kty:"OKP"`, `crv:"Ed25519"`, `d` and `x`).
 * @throws {Error} when the JWK is not such a key
 */
export const identityFromJwk = async (jwk: JsonWebKey): Promise<DeviceIdentity> => {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x)
    throw new Error(
      'the device identity must be a private Ed25519 JWK (kty OKP, crv Ed25519, d, x)'
    )
  const privateKey = await crypto.subtle.importKey(
    'jwk',
    { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x },
    ED25519,
    false,
    ['sign']
  )
  const raw = fromBase64Url(jwk.x)
  return { id: await sha256Hex(raw), publicKey: base64Url(raw), privateKey }
}

/** A fresh key pair, as a private JWK (the form the store keeps). */
export const generateDeviceJwk = async (): Promise<JsonWebKey> => {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  return crypto.subtle.exportKey('jwk', pair.privateKey)
}

/** The base64url Ed25519 signature of `payload` (UTF-8). */
export const signPayload = async (identity: DeviceIdentity, payload: string): Promise<string> =>
  base64Url(
    new Uint8Array(
      await crypto.subtle.sign(ED25519, identity.privateKey, new TextEncoder().encode(payload))
    )
  )

const memoryState = (identity: DeviceIdentity): DeviceState => {
  const state: DeviceState = {
    identity,
    async saveDeviceToken(token) {
      state.deviceToken = token
    },
  }
  return state
}

/**
 * The device identity `deviceIdentity` names: a JWK given inline (starts with `{`; fixed, its
 * device token kept in memory), a store key (loaded, or created and saved on first use), or
 * nothing (a fresh identity for this process). A store key without a store (Workers) falls back
 * to memory, like nothing.
 * @throws {Error} for an inline JWK or a stored entry that cannot be used
 */
export const loadDeviceState = async (
  deviceIdentity: string | undefined,
  store: KeyValueStore | undefined
): Promise<DeviceState> => {
  const spec = deviceIdentity?.trim()
  if (spec?.startsWith('{')) {
    let jwk: JsonWebKey
    try {
      jwk = JSON.parse(spec)
    } catch {
      throw new Error('gateway.backend.deviceIdentity: not valid JSON')
    }
    return memoryState(await identityFromJwk(jwk))
  }
  if (!spec || !store) return memoryState(await identityFromJwk(await generateDeviceJwk()))

  const key = spec
  const text = await store.get(key)
  let stored: StoredDevice
  if (text) {
    try {
      stored = JSON.parse(text)
    } catch {
      throw new Error(`the device identity in ${key} is not valid JSON`)
    }
  } else {
    const jwk = await generateDeviceJwk()
    const identity = await identityFromJwk(jwk)
    stored = {
      version: 1,
      deviceId: identity.id,
      publicKey: identity.publicKey,
      privateKeyJwk: jwk,
    }
    await store.set(key, JSON.stringify(stored, null, 2) + '\n')
  }
  const identity = await identityFromJwk(stored.privateKeyJwk ?? {})
  const state: DeviceState = {
    identity,
    deviceToken: typeof stored.deviceToken === 'string' ? stored.deviceToken : undefined,
    async saveDeviceToken(token) {
      if (token === state.deviceToken) return
      state.deviceToken = token
      stored = { ...stored, deviceToken: token }
      await store.set(key, JSON.stringify(stored, null, 2) + '\n')
    },
  }
  return state
}

export interface DeviceAuthFields {
  clientId: string
  clientMode: string
  role: string
  scopes: string[]
  signedAtMs: number
  token: string
  nonce: string
  platform: string
  deviceFamily: string
}

/** The v3 text the gateway verifies the device signature over. */
export const deviceAuthPayloadV3 = (deviceId: string, f: DeviceAuthFields): string =>
  [
    'v3',
    deviceId,
    f.clientId,
    f.clientMode,
    f.role,
    f.scopes.join(','),
    String(f.signedAtMs),
    f.token,
    f.nonce,
    f.platform.toLowerCase(),
    f.deviceFamily.toLowerCase(),
  ].join('|')
