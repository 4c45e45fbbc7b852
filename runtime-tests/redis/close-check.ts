/**
 * Run alone, so that nothing else holds handles: uses a Redis store for everything it does
 * (a session lock with a waiter, a slot, the counters, responses), closes it, and prints the
 * handles (timers, sockets) it has then that it did not have before. Argument: Redis URL.
 */
import { createRedisStore } from '../../src/runtimes/redis-store.ts'

const url = process.argv[2]
// Timers and sockets: the store reads no files, and the TypeScript loader's reads come and go.
const handles = () => process.getActiveResourcesInfo().filter((kind) => !kind.startsWith('FSReq'))
const before = handles()
/** What is active now and was not before. */
const added = () => {
  const left = [...before]
  return handles().filter((kind) => {
    const at = left.indexOf(kind)
    if (at === -1) return true
    left.splice(at, 1)
    return false
  })
}

const options = {
  url,
  prefix: 'close-check:',
  leaseMs: 600,
  responses: { maxResponses: 5, ttlMs: 60_000 },
}
const a = createRedisStore(options)
const b = createRedisStore(options)
const never = new AbortController().signal
const release = await a.lockSession('s', never)
const waiting = Promise.resolve(b.lockSession('s', never)).then(
  () => 'acquired',
  (err: Error) => err.name
)
await a.slot('k', 1)
await a.hit('k', 10, 60_000)
await a.failed('c', { maxAttempts: 5, windowMs: 60_000, lockoutMs: 1000 })
await a.responses.put('r', {
  response: { output: [] },
  input: [],
  subject: 's',
  agentId: 'a',
  sessionKey: 'k',
})
await b.responses.get('r')
await b.close!()
const waiter = await waiting
await a.close!()
release()
// A destroyed socket's handle goes a turn or two of the event loop later.
const settled = () => added().length === 0
for (let turn = 0; turn < 10 && !settled(); turn++) {
  await new Promise((resolve) => setImmediate(resolve))
}
console.log(JSON.stringify({ added: added(), waiter }))
