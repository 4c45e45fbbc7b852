/**
 * OpenAI's Codex CLI (`@openai/codex`, pinned in `setup.mjs`, installed into `.cache/codex/`)
 * against our `POST /v1/responses`, offline: our app runs in-process on loopback with the echo
 * backend (wrapped to record what each turn got and answered), and `codex exec` is pointed at it
 * by a custom model provider in a temporary CODEX_HOME (`wire_api = "responses"`, retries off,
 * analytics, metrics and plugin sync off, so it makes no other connection).
 *
 * The tool turn uses the echo's hook: the prompt `/tool exec_command {…}` makes our first answer a
 * call of Codex's own `exec_command` tool; Codex runs the command in its sandbox, sends the
 * `function_call_output` back, the echo answers with text, and Codex prints it and exits 0.
 *
 * `npm run test:codex` installs, then runs this file. Not part of `npm test` (it needs the
 * install). `CODEX_TEST_SANDBOX=bypass` runs the command without Codex's sandbox (bubblewrap),
 * for machines where unprivileged user namespaces are off; `CODEX_TEST_VERBOSE=1` prints
 * Codex's stderr.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { echoBackend, type AgentEvent, type AgentRunInput } from '../../src/index.ts'
import { probeBackend, startServer, TOKEN, type TestServer } from '../../test/helpers.ts'
import { codexVersion, paths, setup } from './setup.mjs'

/** What one turn got and what the echo answered. */
interface Turn {
  input: AgentRunInput
  text: string
  calls: { id: string; name: string; arguments: string }[]
}

const turns: Turn[] = []
const echo = echoBackend()
const probe = probeBackend(async function* (input, signal) {
  const turn: Turn = { input, text: '', calls: [] }
  turns.push(turn)
  for await (const event of echo.run(input, signal) as AsyncIterable<AgentEvent>) {
    if (event.type === 'text') turn.text += event.delta
    if (event.type === 'tool_calls') turn.calls.push(...event.calls)
    yield event
  }
})

let server: TestServer
let scratch: string

/**
 * The `config.toml` the README shows, with our test server's URL: a custom provider on our
 * `/v1` (Codex POSTs to `<base_url>/responses`), the token from `OPENCLAW_GATEWAY_TOKEN`.
 */
const configToml = (baseUrl: string) => `model = "openclaw"
model_provider = "openclaw"
web_search = "disabled"

[model_providers.openclaw]
name = "OpenClaw gateway"
base_url = "${baseUrl}/v1"
wire_api = "responses"
env_key = "OPENCLAW_GATEWAY_TOKEN"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[otel]
metrics_exporter = "none"

[features]
plugins = false
`

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  cwd: string
}

/**
 * Runs `codex exec <prompt>` in a fresh working folder, stdin from /dev/null, in its own process
 * group (killed whole afterwards). The timeout is a safety net only: the run ends on its own.
 */
const codexExec = (prompt: string, timeoutMs = 60_000) =>
  new Promise<Run>((resolve, reject) => {
    const cwd = mkdtempSync(join(scratch, 'work-'))
    const sandbox =
      process.env.CODEX_TEST_SANDBOX === 'bypass'
        ? ['--dangerously-bypass-approvals-and-sandbox']
        : ['--sandbox', 'workspace-write']
    const args = ['exec', '--skip-git-repo-check', '--ephemeral', '--color', 'never', ...sandbox]
    const child = spawn(process.execPath, [paths.codex, ...args, prompt], {
      cwd,
      // Only what Codex needs: no proxy variables, no user config (HOME is ours too).
      env: {
        PATH: process.env.PATH,
        HOME: join(scratch, 'home'),
        CODEX_HOME: join(scratch, 'codex-home'),
        OPENCLAW_GATEWAY_TOKEN: TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // The group is gone already.
      }
    }
    const timer = setTimeout(() => {
      killGroup()
      reject(new Error(`codex exec did not end within ${timeoutMs} ms; stderr:\n${stderr}`))
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      killGroup()
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      killGroup()
      if (process.env.CODEX_TEST_VERBOSE) console.log(`codex stderr:\n${stderr}`)
      resolve({ code, signal, stdout, stderr, cwd })
    })
  })

/** The turn's current message: the last user message or tool output. */
const current = (input: AgentRunInput) =>
  input.messages.findLast((m) => m.role === 'user' || m.role === 'tool')

const exitedCleanly = (run: Run) =>
  assert.equal(run.code, 0, `codex exec exited ${run.code ?? run.signal}; stderr:\n${run.stderr}`)

before(() => {
  setup()
  console.log(`Codex version: ${codexVersion()}`)
  scratch = mkdtempSync(join(tmpdir(), 'codex-test-'))
  mkdirSync(join(scratch, 'home'))
  mkdirSync(join(scratch, 'codex-home'))
})

before(async () => {
  server = await startServer({
    backend: probe.backend,
    config: { gateway: { http: { endpoints: { responses: { enabled: true } } } } },
  })
  writeFileSync(join(scratch, 'codex-home', 'config.toml'), configToml(server.url))
})

after(async () => {
  await server?.close()
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

describe('Codex CLI against /v1/responses', () => {
  it('a text turn: Codex prints what the echo answered', async () => {
    turns.length = 0
    const run = await codexExec('say hi')
    exitedCleanly(run)
    assert.equal(turns.length, 1, 'one request')
    const [turn] = turns
    assert.deepEqual(current(turn.input), { role: 'user', text: 'say hi' })
    // The echo answers with the flattened conversation, which ends with the current message.
    assert.match(turn.text, /\[Current message - respond to this\]\nUser: say hi$/)
    assert.equal(run.stdout.trim(), turn.text.trim())
  })

  it('a tool turn: Codex runs our exec_command call and gets the output back to us', async () => {
    turns.length = 0
    const prompt = '/tool exec_command {"cmd":"echo hello > out.txt","login":false}'
    const run = await codexExec(prompt)
    exitedCleanly(run)
    assert.equal(readFileSync(join(run.cwd, 'out.txt'), 'utf8'), 'hello\n', run.stderr)
    assert.equal(turns.length, 2, 'the call, then the output')

    // Turn 1: Codex declared its tools; the echo called exec_command.
    const [first, second] = turns
    const tools = first.input.clientTools.map((t) => t.function.name)
    console.log(`Codex declared: ${tools.join(', ')}`)
    assert.ok(tools.includes('exec_command'), tools.join(', '))
    assert.deepEqual(current(first.input), { role: 'user', text: prompt })
    assert.equal(first.calls.length, 1)
    const [call] = first.calls
    assert.equal(call.name, 'exec_command')
    assert.equal(call.arguments, '{"cmd":"echo hello > out.txt","login":false}')

    // Turn 2: the whole history again, the current message is the tool's output for our call.
    const output = current(second.input)
    assert.equal(output?.role, 'tool')
    assert.equal(output?.toolCallId, call.id)
    assert.match(output?.text ?? '', /^Chunk ID: .+\n[\s\S]*Process exited with code 0\n/)
    const assistant = second.input.messages.findLast((m) => m.role === 'assistant')
    assert.deepEqual(assistant?.toolCalls, [call])
    assert.equal(second.calls.length, 0, 'the echo answered with text')

    // Codex printed our final text: the echo of the tool output.
    assert.match(second.text, /\[Current message - respond to this\]\nTool:call_\w+: Chunk ID: /)
    assert.ok(second.text.includes(`Tool:${call.id}: ${output?.text}`), second.text)
    assert.equal(run.stdout.trim(), second.text.trim())
  })
})
