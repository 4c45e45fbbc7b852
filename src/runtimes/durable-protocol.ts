/**
 * What the Durable Objects store and its objects share: the few workerd types they use (declared
 * here rather than pulled from `@cloudflare/workers-types`, whose globals clash with Node's), and
 * the small JSON protocol over `fetch` between a worker and an object.
 *
 * The objects are plain classes answering `fetch`, not RPC classes: RPC needs
 * `extends DurableObject` from `cloudflare:workers`, a module only workerd has, and the worker
 * entry that exports them is also imported by the Node, Bun and Deno tests.
 */

export interface DurableStorage {
  get<T>(key: string): Promise<T | undefined>
  get<T>(keys: string[]): Promise<Map<string, T>>
  put(key: string, value: unknown): Promise<void>
  put(entries: Record<string, unknown>): Promise<void>
  delete(key: string): Promise<boolean>
  deleteAll(): Promise<void>
  setAlarm(scheduledTime: number): Promise<void>
  deleteAlarm(): Promise<void>
}

export interface DurableState {
  readonly storage: DurableStorage
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>
}

export interface DurableStub {
  fetch(input: string, init?: RequestInit): Promise<Response>
}

export interface DurableNamespace {
  idFromName(name: string): unknown
  get(id: unknown): DurableStub
}

/** An object's answer to one operation. */
export const answer = (value: unknown): Response =>
  new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } })

/** An operation the object does not know: a worker and objects of different versions. */
export const unknownOperation = (op: string): Response =>
  new Response(JSON.stringify({ error: `unknown operation '${op.slice(0, 40)}'` }), {
    status: 400,
    headers: { 'content-type': 'application/json' },
  })

/** The operation a request asks for: its path, without the leading slash. */
export const operationOf = (request: Request): string => new URL(request.url).pathname.slice(1)

/** The request to object `name` of `namespace` for operation `op` with `args`. */
export const send = (
  namespace: DurableNamespace,
  name: string,
  op: string,
  args: unknown
): Promise<Response> =>
  // The host is never looked at: an object's fetch only sees what its stub sends it.
  namespace.get(namespace.idFromName(name)).fetch(`https://object/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
  })
