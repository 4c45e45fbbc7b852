/**
 * The Durable Object that keeps one record until it expires: a stored response (one object per
 * response id), or the id of the response that holds an output item (one per item id, the index
 * `item_reference` looks things up by). One object per record rather than a few shared ones: the
 * store puts, reads and deletes by an id it cannot route any other way, no object sees every
 * response of the deployment, and expiry is one alarm that empties the object.
 *
 * A record outlives its time only until that alarm runs, and a read past its expiry finds
 * nothing even before then.
 */
import { answer, operationOf, unknownOperation, type DurableState } from './durable-protocol.ts'

interface Meta {
  expires: number
  /** How many `part:<n>` entries hold the value's JSON text. */
  parts: number
}

/**
 * Characters per storage entry: a value may be at most 128 KiB, and a string takes at most two
 * bytes a character; a stored response (its input items with it) can be larger than one entry.
 */
const PART_CHARS = 60_000

/** At most 128 entries go into one `put`. */
const MAX_PARTS = 127

export class RecordObject {
  readonly #state: DurableState

  constructor(state: DurableState) {
    this.#state = state
  }

  async fetch(request: Request): Promise<Response> {
    const op = operationOf(request)
    const args = (await request.json()) as { value?: unknown; ttlMs?: number }
    switch (op) {
      case 'get':
        return answer({ value: await this.#get() })
      case 'put':
        return this.#put(args.value, args.ttlMs!)
      case 'delete': {
        const found = (await this.#get()) !== undefined
        if (found) await this.#clear()
        return answer({ deleted: found })
      }
      default:
        return unknownOperation(op)
    }
  }

  async alarm(): Promise<void> {
    const meta = await this.#state.storage.get<Meta>('meta')
    if (!meta) return
    if (meta.expires <= Date.now()) await this.#clear()
    else await this.#state.storage.setAlarm(meta.expires)
  }

  async #get(): Promise<unknown> {
    const meta = await this.#state.storage.get<Meta>('meta')
    if (!meta) return undefined
    if (meta.expires <= Date.now()) {
      await this.#clear()
      return undefined
    }
    const keys = Array.from({ length: meta.parts }, (_, i) => `part:${i}`)
    const parts = await this.#state.storage.get<string>(keys)
    return JSON.parse(keys.map((key) => parts.get(key)).join(''))
  }

  async #put(value: unknown, ttlMs: number): Promise<Response> {
    const text = JSON.stringify(value)
    const parts = Math.max(1, Math.ceil(text.length / PART_CHARS))
    if (parts > MAX_PARTS) {
      return new Response(JSON.stringify({ error: `a record of ${text.length} characters` }), {
        status: 413,
        headers: { 'content-type': 'application/json' },
      })
    }
    const expires = Date.now() + ttlMs
    // A put replaces: the parts of a longer earlier value must not linger.
    await this.#state.storage.deleteAll()
    const entries: Record<string, unknown> = { meta: { expires, parts } satisfies Meta }
    for (let i = 0; i < parts; i++) {
      entries[`part:${i}`] = text.slice(i * PART_CHARS, (i + 1) * PART_CHARS)
    }
    await this.#state.storage.put(entries)
    await this.#state.storage.setAlarm(expires)
    return answer({})
  }

  async #clear(): Promise<void> {
    await this.#state.storage.deleteAll()
    await this.#state.storage.deleteAlarm()
  }
}
