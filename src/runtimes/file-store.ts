/**
 * A `KeyValueStore` whose keys are file paths: small state (a device identity, a device token)
 * that should survive restarts. Uses `node:fs`, which Node, Bun and Deno all provide.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { KeyValueStore } from '../backend.ts'

export const fileStore: KeyValueStore = {
  async get(path) {
    try {
      return await readFile(path, 'utf8')
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined
      throw err
    }
  },
  async set(path, value) {
    await mkdir(dirname(path), { recursive: true })
    // Write then rename, so a crash never leaves half a key behind; owner-only, it is a secret.
    const tmp = `${path}.${crypto.randomUUID()}.tmp`
    await writeFile(tmp, value, { mode: 0o600 })
    await rename(tmp, path)
  },
}
