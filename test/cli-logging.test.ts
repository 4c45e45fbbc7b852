/**
 * The CLI's log flags as a user runs them: `--log-format` and `--log-level` on a real `node`
 * process (whichever runtime runs this file), the environment and the config beside them, and
 * `/metrics` when the config turns it on.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { userMessage } from './helpers.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TOKEN = 'cli-logging-token'
const USER = 'carol.user@example.com'

interface Cli {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<number | null>
}

const children = new Set<Cli>()

/** The CLI with `args`, its environment without gateway settings but `env`. */
const runCli = (args: string[], env: Record<string, string> = {}): Cli => {
  const clean: Record<string, string | undefined> = { ...process.env }
  for (const key of Object.keys(clean)) if (key.startsWith('OPENCLAW_')) delete clean[key]
  const child = spawn('node', ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (out += text))
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (err += text))
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      children.delete(cli)
      resolve(code)
    })
  )
  const cli: Cli = { child, stdout: () => out, stderr: () => err, exited }
  children.add(cli)
  return cli
}

/** Resolves with the URL once the start-up line is out; rejects if the process ends first. */
const listening = (cli: Cli) =>
  new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(cli.stdout())
      if (match) {
        cli.child.stdout!.off('data', check)
        resolve(match[1])
      }
    }
    cli.child.stdout!.on('data', check)
    cli.exited.then(() => reject(new Error(`exited:\n${cli.stdout()}${cli.stderr()}`)))
    check()
  })

/**
 * Stops the CLI with SIGTERM and waits for it to exit: every log line is out by then. A request
 * first: the CLI installs its signal handlers just after the start-up line, in the same turn,
 * so once it has answered anything they are there.
 */
const stopped = async (cli: Cli, url: string) => {
  await (await fetch(`${url}/health`)).text()
  // Not `child.kill()`: Deno's then reports the exit as by signal, whatever the code.
  process.kill(cli.child.pid!, 'SIGTERM')
  assert.equal(await cli.exited, 0, cli.stderr())
}

const ask = (url: string, body: unknown, token = TOKEN) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

/** The stdout lines that are JSON objects. */
const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))

describe('the CLI log flags', () => {
  let dir: string
  let config: string
  const configWith = async (name: string, extra: Record<string, unknown>) => {
    const file = join(dir, name)
    await writeFile(
      file,
      JSON.stringify({
        gateway: {
          auth: { mode: 'token', token: TOKEN },
          http: { endpoints: { chatCompletions: { enabled: true } } },
        },
        ...extra,
      })
    )
    return file
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gateway-cli-logging-'))
    config = await configWith('plain.json', {})
  })
  after(async () => {
    for (const cli of children) cli.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('--log-format json writes one JSON request line per request, with no secret', async () => {
    const cli = runCli(['serve', '--config', config, '--port', '0', '--log-format', 'json'])
    const url = await listening(cli)
    const ok = await ask(url, { user: USER, ...userMessage('hello there') })
    assert.equal(ok.status, 200)
    await ok.text()
    const refused = await ask(url, userMessage('hi'), 'wrong-token')
    assert.equal(refused.status, 401)
    await refused.text()
    await stopped(cli, url)
    const requests = jsonLines(cli.stdout()).filter((r) => r.msg === 'request')
    assert.deepEqual(
      requests.map((r) => [r.level, r.status, r.outcome, r.agent]),
      [
        ['info', 200, 'completed', 'main'],
        ['info', 401, 'rejected', undefined],
        ['info', 200, 'completed', undefined],
      ]
    )
    const out = cli.stdout() + cli.stderr()
    for (const secret of [TOKEN, 'wrong-token', 'carol', 'hello there']) {
      assert.ok(!out.includes(secret), `${secret} in the output:\n${out}`)
    }
  })

  it('--log-level warn logs no request lines; --log-level debug with logging.content logs the prompt', async () => {
    const quiet = runCli([
      'serve',
      '--config',
      config,
      '--port',
      '0',
      '--log-format=json',
      '--log-level=warn',
    ])
    const url = await listening(quiet)
    await (await ask(url, userMessage('hi'))).text()
    await stopped(quiet, url)
    // The start-up and shutdown lines still come, as JSON; no request line does.
    assert.deepEqual(
      jsonLines(quiet.stdout()).map((r) => r.msg.replace(/http:\S+ .*/, 'URL')),
      [
        'gateway-chat-completions listening on URL',
        'gateway-chat-completions: SIGTERM, shutting down',
      ]
    )

    const content = await configWith('content.json', { logging: { content: true } })
    const loud = runCli(['serve', '--config', content, '--port', '0', '--log-format', 'json'], {
      OPENCLAW_LOG_LEVEL: 'debug',
    })
    const loudUrl = await listening(loud)
    await (await ask(loudUrl, userMessage('a prompt to see'))).text()
    await stopped(loud, loudUrl)
    const input = jsonLines(loud.stdout()).find((r) => r.msg === 'turn input')
    assert.equal(input?.level, 'debug')
    assert.match(input.message, /a prompt to see/)
  })

  it('takes the format and level from the config and the environment; flags win', async () => {
    const styled = await configWith('styled.json', {
      logging: { consoleStyle: 'pretty', level: 'info' },
    })
    const pretty = runCli(['serve', '--config', styled, '--port', '0'])
    const prettyUrl = await listening(pretty)
    await (await ask(prettyUrl, userMessage('hi'))).text()
    await stopped(pretty, prettyUrl)
    assert.match(
      pretty.stdout(),
      /\n\d\d:\d\d:\d\d\.\d{3} INFO {2}POST \/v1\/chat\/completions 200 /
    )

    const fromEnv = runCli(['serve', '--config', styled, '--port', '0'], {
      OPENCLAW_LOG_FORMAT: 'json',
      OPENCLAW_LOG_LEVEL: 'error',
    })
    const envUrl = await listening(fromEnv)
    await (await ask(envUrl, userMessage('hi'))).text()
    await stopped(fromEnv, envUrl)
    assert.deepEqual(
      jsonLines(fromEnv.stdout()).filter((r) => r.msg === 'request'),
      [],
      'error level: no request line'
    )

    const flags = runCli(
      ['serve', '--config', styled, '--port', '0', '--log-format', 'json', '--log-level', 'info'],
      { OPENCLAW_LOG_FORMAT: 'pretty', OPENCLAW_LOG_LEVEL: 'error' }
    )
    const flagsUrl = await listening(flags)
    await (await ask(flagsUrl, userMessage('hi'))).text()
    await stopped(flags, flagsUrl)
    assert.deepEqual(
      jsonLines(flags.stdout())
        .filter((r) => r.msg === 'request')
        .map((r) => r.path),
      ['/v1/chat/completions', '/health']
    )
  })

  it('ignores a wrong OPENCLAW_LOG_LEVEL with a warning, and exits 2 on a wrong flag', async () => {
    const warned = runCli(['serve', '--config', config, '--port', '0', '--log-format', 'json'], {
      OPENCLAW_LOG_LEVEL: 'loud',
    })
    await stopped(warned, await listening(warned))
    const warning = jsonLines(warned.stdout()).find((r) => r.level === 'warn')
    assert.match(warning?.msg ?? '', /OPENCLAW_LOG_LEVEL="loud" ignored/)

    const badFormat = runCli(['serve', '--config', config, '--log-format', 'xml'])
    assert.equal(await badFormat.exited, 2)
    assert.match(badFormat.stderr(), /--log-format: expected pretty or json, not xml/)
    const badLevel = runCli(['serve', '--config', config, '--log-level', 'verbose'])
    assert.equal(await badLevel.exited, 2)
    assert.match(badLevel.stderr(), /--log-level: expected one of silent, .* trace, not verbose/)
  })

  it('serves /metrics when the config turns it on', async () => {
    const on = await configWith('metrics.json', { metrics: { enabled: true } })
    const cli = runCli(['serve', '--config', on, '--port', '0', '--log-level', 'warn'])
    const url = await listening(cli)
    await (await ask(url, userMessage('hi'))).text()
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    const text = await res.text()
    assert.equal(res.status, 200)
    assert.match(
      text,
      /^openclaw_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200",agent="main",key=""\} 1$/m
    )
    assert.match(text, /^process_cpu_user_seconds_total /m)
    await stopped(cli, url)
    const off = runCli(['serve', '--config', config, '--port', '0'])
    const offUrl = await listening(off)
    const missing = await fetch(`${offUrl}/metrics`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    assert.equal(missing.status, 404)
    await missing.text()
    await stopped(off, offUrl)
  })
})
