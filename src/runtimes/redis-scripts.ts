/**
 * The Lua scripts of the Redis store. Each runs atomically in Redis, so that a read and the write
 * it decides on cannot interleave with another instance's. Times come from Redis's own clock
 * (`TIME`), not each instance's, so instances whose clocks differ still agree on every window
 * and lease.
 */
import { createHash } from 'node:crypto'

export interface Script {
  source: string
  sha: string
}

// Milliseconds (and microseconds, for the order of arrival) by the Redis server's clock.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

const script = (body: string, clock = false): Script => {
  const source = clock ? NOW + body : body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/**
 * A failed login. KEYS: failures (a sorted set of times), lock. ARGV: windowMs, maxAttempts,
 * lockoutMs, a unique member. Returns 1 when this failure locked the client out.
 */
export const AUTH_FAILED = script(
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], now, ARGV[4])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return 1`,
  true
)

/**
 * One request against a fixed window that starts with its first request. KEYS: counter.
 * ARGV: limit, windowMs. Returns { allowed (0/1), count, ms until the window ends }.
 */
export const RATE_HIT = script(`local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if n >= tonumber(ARGV[1]) and ttl > 0 then return {0, n, ttl} end
if ttl <= 0 then
  n = 0
  redis.call('SET', KEYS[1], 0, 'PX', ARGV[2])
  ttl = tonumber(ARGV[2])
end
n = redis.call('INCR', KEYS[1])
return {1, n, ttl}`)

/**
 * Takes a concurrency slot. KEYS: slots (a sorted set of token → lease end). ARGV: token, max,
 * leaseMs. Returns 1 when taken.
 */
export const SLOT_TAKE = script(
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  true
)

/**
 * Extends a held slot's lease. A slot whose lease ran out while Redis was away is taken back if
 * there is room. KEYS: slots. ARGV: token, max, leaseMs. Returns 0 when it is lost.
 */
export const SLOT_RENEW = script(
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and
    redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
  true
)

/**
 * Takes a session lock, or keeps a place in its line. KEYS: lock (holds the holder's token),
 * line (token → order of arrival), alive (token → when a waiter that stops asking loses its
 * place). ARGV: token, leaseMs, aliveMs. Returns -1 when taken, else the ms left on the holder's
 * lease (0 when the lock is free but an earlier waiter is first in line).
 */
export const LOCK_TAKE = script(
  `local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, token in ipairs(dead) do redis.call('ZREM', KEYS[2], token) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
if not redis.call('GET', KEYS[1]) then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not first or first == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    if first then
      redis.call('ZREM', KEYS[2], ARGV[1])
      redis.call('ZREM', KEYS[3], ARGV[1])
    end
    return -1
  end
end
redis.call('ZADD', KEYS[2], 'NX', tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return math.max(redis.call('PTTL', KEYS[1]), 0)`,
  true
)

/**
 * Extends a held lock's lease. A lease that ran out (Redis restarted empty, or was away longer
 * than the lease) is taken again when nobody else took it: the turn is still running. KEYS: lock.
 * ARGV: token, leaseMs. Returns 0 when another holder has it.
 */
export const LOCK_RENEW = script(`local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

/**
 * Releases a lock if it is still ours, and tells the waiters, if any (every instance hears the
 * channel). KEYS: lock, line. ARGV: token, channel, session key.
 */
export const LOCK_RELEASE = script(`if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1`)

/**
 * A waiter gives up its place; the next one is told when the lock is free, in case the place
 * given up was first. KEYS: lock, line, alive. ARGV: token, channel, session key.
 */
export const LOCK_LEAVE = script(`redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not redis.call('GET', KEYS[1]) and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return 1`)

/**
 * Stores a response and points its output items at it; the oldest beyond the bound go.
 * KEYS: response, index (id → when stored), then one key per output item. ARGV: id, JSON, ttlMs,
 * maxResponses, the prefix of response keys.
 */
export const RESPONSE_PUT = script(
  `local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
for i = 3, #KEYS do redis.call('SET', KEYS[i], ARGV[1], 'PX', ttl) end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  for _, id in ipairs(oldest) do redis.call('DEL', ARGV[5] .. id) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`,
  true
)

/** KEYS: response, index. ARGV: id. Returns 1 when there was one. */
export const RESPONSE_DELETE = script(`if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`)

/** The response that holds an output item. KEYS: the item's key. ARGV: response key prefix. */
export const RESPONSE_OF_ITEM = script(`local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)`)
