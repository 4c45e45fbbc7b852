/**
 * The README's code snippets run as pasted: each block marked `<!-- snippet: <name> -->` is
 * written into the package (so `gateway-chat-completions` resolves to this package by its own
 * name, as it does for a user who installed it), started with the port it listens on swapped for
 * a free one, and asked a chat question with the token it reads from the environment.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort } from './free-port.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIR = join(ROOT, '.snippets')
const TOKEN = 'snippet-token'

/** The marked code blocks of the README, by name. */
const snippets = (): Map<string, string> => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const found = new Map<string, string>()
  const marked = /<!-- snippet: ([\w-]+) -->\s*```\w*\n([\s\S]*?)```/g
  for (const match of readme.matchAll(marked)) found.set(match[1], match[2])
  return found
}

/**
 * The port a snippet listens on, as it names it (`port: 18780`, `.listen(18789`): each example
 * has its own, so that they can run beside `npm start` and each other.
 */
const listenPort = (name: string, code: string): string => {
  const found = /(?:\bport: |\.listen\()(\d+)\b/.exec(code)
  assert.ok(found, `the ${name} snippet names no port to listen on`)
  return found[1]
}

/** Runs a snippet with its port swapped; resolves with its URL once it answers, and a stop. */
const start = async (name: string, code: string) => {
  const port = await freePort()
  mkdirSync(DIR, { recursive: true })
  const file = join(DIR, `${name}.mts`)
  writeFileSync(file, code.replaceAll(listenPort(name, code), String(port)))
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...process.env, OPENCLAW_GATEWAY_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  // Bounded attempts: the snippet listens once its imports have loaded.
  for (let attempt = 0; ; attempt++) {
    const up = await fetch(`${url}/health`).then(
      () => true,
      () => false
    )
    if (up) break
    if (child.exitCode !== null || attempt > 200) {
      child.kill()
      throw new Error(`the ${name} snippet did not start:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    },
  }
}

const ask = (url: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'openclaw', messages: [{ role: 'user', content: 'hello' }] }),
  })

describe('the README snippets run as pasted', () => {
  after(() => rmSync(DIR, { recursive: true, force: true }))
  const found = snippets()

  it('marks the snippets this test runs', () => {
    assert.deepEqual([...found.keys()].sort(), ['from-code', 'mount'])
  })

  it('mounts the app beside a host’s own routes (Node: sharing a gateway’s port)', async () => {
    const running = await start('mount', found.get('mount')!)
    try {
      const res = await ask(running.url)
      assert.equal(res.status, 200, await res.clone().text())
      assert.equal((await res.json()).choices[0].message.content, 'hello')
      const host = await fetch(`${running.url}/`)
      assert.equal(await host.text(), 'the host’s own page')
    } finally {
      await running.stop()
    }
  })

  it('serves the app made from code (Node: from code)', async () => {
    const running = await start('from-code', found.get('from-code')!)
    try {
      const res = await ask(running.url)
      assert.equal(res.status, 200, await res.clone().text())
      assert.equal((await res.json()).choices[0].message.content, 'hello')
    } finally {
      await running.stop()
    }
  })
})
