/**
 * `gateway-chat-completions keys create` as an operator runs it: a real `node` process prints a
 * key and its config entry, and a server configured with that entry lets the key in, within what
 * the entry says. Its mistakes are reported like `serve`'s, with a did-you-mean.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import JSON5 from 'json5'
import type { ConfigInput } from '../src/index.ts'
import { assertError, chat, startServer, userMessage } from './helpers.ts'
import { createResponse, RESPONSES_ON } from './responses-helpers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

const keys = (...args: string[]) =>
  new Promise<Run>((resolve) => {
    execFile(
      'node',
      ['--import', 'tsx', 'src/cli.ts', 'keys', ...args],
      { cwd: ROOT },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr })
      }
    )
  })

/** The key and the entry, read from the printed text as an operator would copy them. */
const printed = (text: string) => {
  const key = /^ {2}(ocg_[A-Za-z0-9_-]{43})$/m.exec(text)?.[1]
  assert.ok(key, text)
  const entry = JSON5.parse(text.slice(text.indexOf('{')))
  return { key, entry }
}

const withEntry = (entry: unknown) =>
  ({
    gateway: { ...RESPONSES_ON.gateway, http: { ...RESPONSES_ON.gateway.http, apiKeys: [entry] } },
  }) as ConfigInput

describe('keys create', () => {
  it('prints a key once and the entry that lets it in, within its limits', async () => {
    const run = await keys(
      'create',
      '--id',
      'app1',
      '--agents',
      'main',
      '--rpm',
      '60',
      '--concurrency=4',
      '--endpoints',
      'chat,models',
      '--expires',
      '2099-01-01T00:00:00Z'
    )
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stderr, '')
    const { key, entry } = printed(run.stdout)
    assert.equal(run.stdout.split(key).length, 2, 'the key is printed once')
    assert.deepEqual(Object.keys(entry), [
      'id',
      'hash',
      'agents',
      'endpoints',
      'rpm',
      'concurrency',
      'expiresAt',
    ])
    assert.equal(entry.id, 'app1')
    assert.match(entry.hash, /^sha256:[0-9a-f]{64}$/)
    assert.deepEqual(entry.agents, ['main'])
    assert.deepEqual(entry.endpoints, ['chat', 'models'])
    assert.equal(entry.rpm, 60)
    assert.equal(entry.concurrency, 4)
    assert.equal(entry.expiresAt, '2099-01-01T00:00:00Z')

    const server = await startServer({ config: withEntry(entry) })
    try {
      const auth = { authorization: `Bearer ${key}` }
      const res = await chat(server, userMessage('hello'), auth)
      assert.equal(res.status, 200)
      assert.equal((await res.json()).choices[0].message.content, 'hello')
      assert.equal(res.headers.get('x-ratelimit-limit-requests'), '60')
      assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '59')
      const models = await fetch(`${server.url}/v1/models`, { headers: auth })
      assert.deepEqual(
        ((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id),
        ['openclaw', 'openclaw/default', 'openclaw/main']
      )
      await assertError(
        await chat(server, { model: 'openclaw/beta', ...userMessage('x') }, auth),
        403
      )
      await assertError(await createResponse(server, { input: 'x' }, auth), 403, {
        code: 'endpoint_not_allowed',
      })
    } finally {
      await server.close()
    }
  })

  it('makes a new key each time, and --json for scripts', async () => {
    const [a, b] = await Promise.all([
      keys('create', '--id', 'a', '--agents', '*', '--json'),
      keys('create', '--id', 'b', '--agents', '*', '--json'),
    ])
    const first = JSON.parse(a.stdout)
    const second = JSON.parse(b.stdout)
    assert.deepEqual(Object.keys(first), ['key', 'entry'])
    assert.notEqual(first.key, second.key)
    assert.notEqual(first.entry.hash, second.entry.hash)
    // Only what was asked for: the defaults (every endpoint, no limits) are left to the config.
    assert.deepEqual(Object.keys(first.entry), ['id', 'hash', 'agents'])

    const server = await startServer({ config: withEntry(first.entry) })
    try {
      const res = await createResponse(
        server,
        { model: 'openclaw/beta', input: 'x' },
        { authorization: `Bearer ${first.key}` }
      )
      assert.equal(res.status, 200)
      await assertError(
        await chat(server, userMessage('x'), { authorization: `Bearer ${second.key}` }),
        401
      )
    } finally {
      await server.close()
    }
  })

  describe('checks its flags as serve does, with a did-you-mean', () => {
    const cases: [string[], string][] = [
      [
        ['create', '--id', 'a', '--agnets', 'main'],
        'unknown option --agnets; did you mean --agents?',
      ],
      [['create', '--agents', 'main'], '--id is required'],
      [['create', '--id', 'a b', '--agents', 'main'], '--id: must match'],
      [['create', '--id', 'a'], '--agents is required'],
      [
        ['create', '--id', 'a', '--agents', 'main', '--endpoints', 'chat,respones'],
        "--endpoints: unknown endpoint 'respones'; did you mean responses?",
      ],
      [['create', '--id', 'a', '--agents', 'main', '--rpm', '0'], '--rpm: must be a whole number'],
      [
        ['create', '--id', 'a', '--agents', 'main', '--expires', '2099-01-01'],
        '--expires: must be an ISO 8601 date-time with its time zone',
      ],
      [
        ['create', '--id', 'a', '--agents', 'main', '--expires', '2020-01-01T00:00:00Z'],
        '--expires: 2020-01-01T00:00:00Z has passed',
      ],
      [['creat'], "unknown command 'keys creat'; did you mean create?"],
      [[], "expected the command 'keys create'"],
      [['create', '--id', 'a', '--agents', 'main', 'extra'], "unexpected argument 'extra'"],
    ]
    for (const [args, message] of cases) {
      it(`keys ${args.join(' ')}`, async () => {
        const run = await keys(...args)
        assert.equal(run.code, 2, `${run.stdout}${run.stderr}`)
        assert.equal(run.stdout, '', 'no key printed')
        const first = run.stderr.split('\n')[0]
        assert.ok(first.startsWith(`gateway-chat-completions: ${message}`), first)
        assert.match(run.stderr, /Usage: gateway-chat-completions keys create/)
      })
    }
  })

  it('prints its usage for --help', async () => {
    const help = await keys('--help')
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^Usage: gateway-chat-completions keys create --id ID --agents LIST/)
  })
})
