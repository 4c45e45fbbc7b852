/**
 * A separate instance that takes a session lock and a concurrency slot, says so on stdout, and
 * then holds them (renewing their leases) until it is killed. Arguments: Redis URL, prefix,
 * session key, slot key, lease in ms.
 */
import { createRedisStore } from '../../src/runtimes/redis-store.ts'

const [url, prefix, session, slotKey, leaseMs] = process.argv.slice(2)
const store = createRedisStore({
  url,
  prefix,
  leaseMs: Number(leaseMs),
  responses: { maxResponses: 10, ttlMs: 60_000 },
})
await store.lockSession(session, new AbortController().signal)
if (!(await store.slot(slotKey, 1))) throw new Error('no slot free')
console.log('holding')
// Held until SIGKILL: the leases are renewed on a timer that does not keep the process alive.
setInterval(() => {}, 60_000)
