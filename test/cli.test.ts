/**
 * The CLI as a user runs it: a real `node` process serving a config file. The child is always
 * `node` (found on PATH), whichever runtime runs this file.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { bodyReader, sseData, userMessage } from './helpers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EXAMPLE = join(ROOT, 'examples', 'local.json5')

const GATEWAY_ENV = ['OPENCLAW_GATEWAY_TOKEN', 'OPENCLAW_GATEWAY_PASSWORD', 'OPENCLAW_CONFIG_PATH']

/** The parent's environment without any gateway secret or config path, plus `extra`. */
const cleanEnv = (extra: Record<string, string> = {}) => {
  const env: Record<string, string | undefined> = { ...process.env }
  for (const key of GATEWAY_ENV) delete env[key]
  return { ...env, ...extra }
}

interface Cli {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves with the exit code once the process has exited and its output is read. */
  exited: Promise<number | null>
  /** Resolves with the first stdout line matching `pattern`; rejects if the process ends first. */
  line(pattern: RegExp): Promise<RegExpMatchArray>
}

const children = new Set<Cli>()

const runCli = (args: string[], env = cleanEnv()): Cli => {
  const child = spawn('node', ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    out += text
    for (const wake of waiters) wake()
  })
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text))
  let closed = false
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      closed = true
      children.delete(cli)
      for (const wake of waiters) wake()
      resolve(code)
    })
  })
  const line = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        // Only whole lines count: a line is done when its newline has arrived.
        for (const text of out.split('\n').slice(0, -1)) {
          const match = pattern.exec(text)
          if (match) return done(() => resolve(match))
        }
        if (closed) done(() => reject(new Error(`the CLI exited before ${pattern}:\n${out}${err}`)))
      }
      const done = (settle: () => void) => {
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })
  const cli: Cli = { child, stdout: () => out, stderr: () => err, exited, line }
  children.add(cli)
  return cli
}

/** Starts `serve` and resolves once the start-up line names the URL. */
const serveCli = async (config: string, env = cleanEnv()) => {
  const cli = runCli(['serve', '--config', config, '--port', '0'], env)
  const [startup, url] = await cli.line(/^.*listening on (http:\/\/\S+).*$/)
  return { ...cli, url, startup }
}

const stop = async (cli: Cli) => {
  if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL')
  await cli.exited
}

const ask = (url: string, token: string, body: unknown) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

describe('the CLI', () => {
  let dir: string
  const configFile = async (name: string, config: unknown) => {
    const file = join(dir, name)
    await writeFile(file, JSON.stringify(config))
    return file
  }
  const ENABLED = { http: { endpoints: { chatCompletions: { enabled: true } } } }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gateway-cli-test-'))
  })
  after(async () => {
    await Promise.all([...children].map(stop))
    await rm(dir, { recursive: true, force: true })
  })

  it('starts on the port it was given, 0 included, and serves a request', async () => {
    const file = await configFile('serve.json5', {
      gateway: { auth: { mode: 'token', token: 'cli-token' }, ...ENABLED },
    })
    const cli = await serveCli(file)
    try {
      assert.match(cli.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/)
      assert.match(cli.startup, /chat completions: enabled/)
      assert.match(cli.startup, /auth: token/)
      assert.match(cli.startup, /backend: echo/)
      const res = await ask(cli.url, 'cli-token', userMessage('hello cli'))
      assert.equal(res.status, 200)
      assert.equal((await res.json()).choices[0].message.content, 'hello cli')
      const wrong = await ask(cli.url, 'not-the-token', userMessage('hello cli'))
      assert.equal(wrong.status, 401)
      await wrong.body?.cancel()
    } finally {
      await stop(cli)
    }
  })

  it('says when the endpoint is disabled and which auth mode it uses', async () => {
    const file = await configFile('disabled.json5', { gateway: { auth: { mode: 'none' } } })
    const cli = await serveCli(file)
    try {
      assert.match(cli.startup, /chat completions: disabled/)
      assert.match(cli.startup, /auth: none/)
      const res = await ask(cli.url, 'anything', userMessage('hi'))
      assert.equal(res.status, 404)
      await res.body?.cancel()
    } finally {
      await stop(cli)
    }
  })

  it('exits 2 naming the key path and the reason for a bad config value', async () => {
    const file = await configFile('bad.json5', {
      gateway: { http: { endpoints: { chatCompletions: { maxBodyBytes: 'big' } } } },
    })
    const cli = runCli(['serve', '--config', file, '--port', '0'])
    assert.equal(await cli.exited, 2)
    assert.equal(
      cli.stderr(),
      'gateway-chat-completions: invalid config: ' +
        'gateway.http.endpoints.chatCompletions.maxBodyBytes: must be a number (got "big")\n'
    )
    assert.doesNotMatch(cli.stdout(), /listening/)
  })

  it('exits 2 listing every typo in the keys it owns, each with the key it was meant to be', async () => {
    const file = await configFile('typos.json5', {
      gateway: {
        auth: { mode: 'token', tokne: 'secret' },
        http: { endpoints: { chatCompletion: { enabled: true } } },
        controlUi: { enabled: true },
      },
      backend: { type: 'echo', chunkChar: 4 },
      channels: { telegram: { enabled: true } },
    })
    const cli = runCli(['serve', '--config', file, '--port', '0'])
    assert.equal(await cli.exited, 2)
    assert.equal(
      cli.stderr(),
      [
        'gateway-chat-completions: invalid config (3 problems):',
        '  gateway.auth.tokne: unknown key; did you mean token?',
        '  gateway.http.endpoints.chatCompletion: unknown key; did you mean chatCompletions?',
        '  backend.chunkChar: unknown key; did you mean chunkChars?',
        '',
      ].join('\n')
    )
  })

  it('exits 2 naming gateway.bind when it is not an address, without a stack', async () => {
    const file = await configFile('bad-bind.json5', {
      gateway: { bind: 'my-host', auth: { token: 'x' }, ...ENABLED },
    })
    const cli = runCli(['serve', '--config', file, '--port', '0'])
    assert.equal(await cli.exited, 2)
    assert.equal(
      cli.stderr(),
      'gateway-chat-completions: invalid config: gateway.bind: must be loopback, lan, auto, ' +
        'custom, tailnet, localhost or an IP address (got "my-host")\n'
    )
  })

  it('exits 2 naming --host when it is not an address, without a stack', async () => {
    const cli = runCli(['serve', '--config', EXAMPLE, '--port', '0', '--host', 'no.such.host'])
    assert.equal(await cli.exited, 2)
    assert.equal(
      cli.stderr(),
      'gateway-chat-completions: --host: must be loopback, lan, localhost or an IP address ' +
        '(got "no.such.host")\n'
    )
    assert.equal(cli.stdout(), '')
  })

  it('listens on the address --host names, loopback included', async () => {
    const cli = runCli(['serve', '--config', EXAMPLE, '--port', '0', '--host', 'loopback'])
    try {
      const [, url] = await cli.line(/listening on (http:\/\/\S+)/)
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
    } finally {
      await stop(cli)
    }
  })

  describe('refuses a command line it cannot read, with exit 2 and the usage', () => {
    const USAGE_START = '\n\nUsage: gateway-chat-completions serve [--config FILE]'
    const cases: [string[], string][] = [
      [['serve', '--prot', '1'], 'unknown option --prot; did you mean --port?'],
      [['serve', '--conifg', 'x.json5'], 'unknown option --conifg; did you mean --config?'],
      [['serve', '-x'], 'unknown option -x'],
      [['serve', 'extra'], "unexpected argument 'extra'"],
      [['srve'], "unknown command 'srve'; did you mean serve?"],
      [[], "expected the command 'serve'"],
      [['serve', '--port'], 'option --port needs a value'],
      [['serve', '--help=yes'], 'option --help takes no value'],
    ]
    for (const [args, message] of cases) {
      it(args.join(' ') || '(nothing)', async () => {
        const cli = runCli(args)
        assert.equal(await cli.exited, 2)
        const err = cli.stderr()
        assert.ok(err.startsWith(`gateway-chat-completions: ${message}${USAGE_START}`), err)
        // Node's own parser words (`To specify a positional argument…`) never show.
        assert.doesNotMatch(err, /positional|ERR_PARSE_ARGS|\n\s+at /)
        assert.equal(cli.stdout(), '')
      })
    }
  })

  it('exits 2 in token mode without a token, naming the key and the env var', async () => {
    const config = { gateway: { auth: { mode: 'token' }, ...ENABLED } }
    const file = await configFile('no-token.json5', config)
    const cli = runCli(['serve', '--config', file, '--port', '0'])
    assert.equal(await cli.exited, 2)
    assert.match(cli.stderr(), /gateway\.auth\.token/)
    assert.match(cli.stderr(), /OPENCLAW_GATEWAY_TOKEN/)
  })

  it('exits 2 when the --config file does not exist', async () => {
    const missing = join(dir, 'does-not-exist.json5')
    const cli = runCli(['serve', '--config', missing, '--port', '0'])
    assert.equal(await cli.exited, 2)
    assert.ok(cli.stderr().includes(missing), cli.stderr())
  })

  it('exits 2 with a clear message when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = blocker.address() as { port: number }
      const cli = runCli(['serve', '--config', EXAMPLE, '--port', String(port)])
      assert.equal(await cli.exited, 2)
      assert.match(cli.stderr(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`))
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('substitutes ${OPENCLAW_GATEWAY_TOKEN:-default} from the environment', async () => {
    const file = await configFile('env.json5', {
      gateway: { auth: { token: '${OPENCLAW_GATEWAY_TOKEN:-fallback}' }, ...ENABLED },
    })
    const cli = await serveCli(file, cleanEnv({ OPENCLAW_GATEWAY_TOKEN: 'from-the-env' }))
    try {
      const fallback = await ask(cli.url, 'fallback', userMessage('hi'))
      assert.equal(fallback.status, 401)
      await fallback.body?.cancel()
      const res = await ask(cli.url, 'from-the-env', userMessage('hi'))
      assert.equal(res.status, 200)
      await res.body?.cancel()
    } finally {
      await stop(cli)
    }
  })

  it('serves examples/local.json5 with the documented default token', async () => {
    const cli = await serveCli(EXAMPLE)
    try {
      assert.match(
        cli.startup,
        /chat completions: enabled, responses: enabled, auth: token, backend: echo/
      )
      const body = { model: 'openclaw/beta', ...userMessage('hi') }
      const res = await ask(cli.url, 'local-dev-token', body)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('x-openclaw-agent-id'), 'beta')
      assert.equal((await res.json()).choices[0].message.content, 'hi')
    } finally {
      await stop(cli)
    }
  })

  it('ends a stream in flight with an error and [DONE] on SIGTERM after the drain time, then exits 0', async () => {
    const file = await configFile('drain.json5', {
      gateway: { auth: { mode: 'token', token: 'cli-token' }, drainTimeoutMs: 100, ...ENABLED },
    })
    const cli = await serveCli(file)
    try {
      const request = { stream: true, ...userMessage('/stall 60000') }
      const res = await ask(cli.url, 'cli-token', request)
      assert.equal(res.status, 200)
      const body = bodyReader(res)
      await body.until((text) => text.includes('"role":"assistant"'))
      // Not `child.kill()`: Deno then reports the signal it sent instead of the real exit code.
      process.kill(cli.child.pid!, 'SIGTERM')
      const data = sseData(await body.rest())
      assert.equal(data.at(-1), '[DONE]')
      const error = JSON.parse(data.at(-2)!)
      assert.match(error.error.message, /shutting down/)
      assert.equal(await cli.exited, 0)
      assert.match(cli.stdout(), /SIGTERM, shutting down/)
    } finally {
      await stop(cli)
    }
  })
})
