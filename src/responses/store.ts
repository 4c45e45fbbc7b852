/**
 * Where responses are kept for `previous_response_id`, `GET` and `DELETE`, behind one small
 * interface (so a shared store can replace the memory one). Each is kept with whom it belongs
 * to and the session it ran in; the memory store is bounded in count and age.
 */

export interface StoredResponse {
  /** The Response object as it was answered. */
  response: Record<string, unknown>
  /** Its input items, as `input_items` lists them. */
  input: Record<string, unknown>[]
  /** Who made it (`Caller.subject`): only they may read, continue or delete it. */
  subject: string
  agentId: string
  sessionKey: string
}

export interface ResponseStore {
  get(id: string): Promise<StoredResponse | undefined>
  put(id: string, value: StoredResponse): Promise<void>
  /** Whether there was one to delete. */
  delete(id: string): Promise<boolean>
  /** An output item by its own id, with the response that holds it (for `item_reference`). */
  item(
    itemId: string
  ): Promise<{ item: Record<string, unknown>; owner: StoredResponse } | undefined>
}

export interface MemoryStoreOptions {
  maxResponses: number
  ttlMs: number
  now?: () => number
}

/**
 * The memory store: at most `maxResponses`, each for `ttlMs` after it was stored (a read does not
 * extend it); the oldest go first. Per process (per isolate on Workers).
 */
export const memoryResponseStore = ({
  maxResponses,
  ttlMs,
  now = Date.now,
}: MemoryStoreOptions): ResponseStore => {
  // Insertion order is expiry order, since every entry lives equally long.
  const entries = new Map<string, { value: StoredResponse; expires: number }>()
  const items = new Map<string, string>()

  const itemIds = (value: StoredResponse) =>
    ((value.response.output as { id?: unknown }[] | undefined) ?? [])
      .map((item) => item.id)
      .filter((id): id is string => typeof id === 'string')

  const remove = (id: string) => {
    const entry = entries.get(id)
    if (!entry) return false
    entries.delete(id)
    for (const itemId of itemIds(entry.value)) if (items.get(itemId) === id) items.delete(itemId)
    return true
  }

  const prune = () => {
    const t = now()
    for (const [id, entry] of entries) {
      if (entry.expires > t && entries.size <= maxResponses) break
      remove(id)
    }
  }

  const live = (id: string) => {
    const entry = entries.get(id)
    if (entry && entry.expires <= now()) {
      remove(id)
      return undefined
    }
    return entry?.value
  }

  return {
    async get(id) {
      return live(id)
    },
    async put(id, value) {
      remove(id)
      entries.set(id, { value, expires: now() + ttlMs })
      for (const itemId of itemIds(value)) items.set(itemId, id)
      prune()
    },
    async delete(id) {
      return live(id) !== undefined && remove(id)
    },
    async item(itemId) {
      const id = items.get(itemId)
      const owner = id === undefined ? undefined : live(id)
      if (!owner) return undefined
      const item = (owner.response.output as Record<string, unknown>[]).find((i) => i.id === itemId)
      return item && { item, owner }
    },
  }
}
