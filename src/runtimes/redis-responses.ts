/**
 * Stored responses in Redis, as the memory store keeps them: each for `ttlMs` after it was
 * stored (a read does not extend it), at most `maxResponses` (the oldest go first), and each
 * output item findable by its id. A response is one JSON string under its id; each output item's
 * key names the response that holds it, with the same lifetime.
 */
import type { ResponseStore, StoredResponse } from '../responses/store.ts'
import type { RedisConnection } from './redis-connection.ts'
import { RESPONSE_DELETE, RESPONSE_OF_ITEM, RESPONSE_PUT } from './redis-scripts.ts'

export interface RedisResponsesOptions {
  prefix: string
  maxResponses: number
  ttlMs: number
}

const itemIds = (value: StoredResponse) =>
  ((value.response.output as { id?: unknown }[] | undefined) ?? [])
    .map((item) => item.id)
    .filter((id): id is string => typeof id === 'string')

export const redisResponses = (
  redis: RedisConnection,
  { prefix, maxResponses, ttlMs }: RedisResponsesOptions
): ResponseStore => {
  const responsePrefix = `${prefix}response:`
  const itemPrefix = `${prefix}response-item:`
  const index = `${prefix}responses`

  const parse = (json: unknown) =>
    typeof json === 'string' ? (JSON.parse(json) as StoredResponse) : undefined

  return {
    async get(id) {
      return parse(await redis.run((client) => client.get(responsePrefix + id)))
    },
    async put(id, value) {
      const items = itemIds(value).map((itemId) => itemPrefix + itemId)
      await redis.eval(
        RESPONSE_PUT,
        [responsePrefix + id, index, ...items],
        [id, JSON.stringify(value), ttlMs, maxResponses, responsePrefix]
      )
    },
    async delete(id) {
      return Number(await redis.eval(RESPONSE_DELETE, [responsePrefix + id, index], [id])) === 1
    },
    async item(itemId) {
      const owner = parse(
        await redis.eval(RESPONSE_OF_ITEM, [itemPrefix + itemId], [responsePrefix])
      )
      // The item's key may outlive a response deleted or replaced since: it must still hold it.
      const item = (owner?.response.output as Record<string, unknown>[] | undefined)?.find(
        (i) => i.id === itemId
      )
      return item && owner && { item, owner }
    },
  }
}
