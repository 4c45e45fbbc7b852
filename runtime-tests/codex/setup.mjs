#!/usr/bin/env node
/**
 * Installs OpenAI's Codex CLI (`@openai/codex`, pinned) into `.cache/codex/` (git-ignored), from
 * npm. The native binary comes as an optional dependency of the package (`@openai/codex-linux-x64`
 * and the like, an npm alias of `@openai/codex@<version>-<platform>`), so optional dependencies
 * must not be omitted. Idempotent: a folder already holding the pinned version is left alone.
 * Prints what it did and how long it took. `--print` prints the paths as JSON.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const CODEX_VERSION = '0.171.0'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const CACHE = join(root, '.cache', 'codex')

/** Where each part lives once installed. */
export const paths = {
  cache: CACHE,
  /** The package's Node wrapper (`bin/codex.js`): it finds and runs the platform's binary. */
  codex: join(CACHE, 'node_modules', '@openai', 'codex', 'bin', 'codex.js'),
}

const log = (line) => console.log(`codex setup: ${line}`)

const installedVersion = () => {
  const file = join(CACHE, 'node_modules', '@openai', 'codex', 'package.json')
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : undefined
}

/** What `codex --version` says, through the wrapper (so the platform package must be there). */
export const codexVersion = () => {
  const result = spawnSync(process.execPath, [paths.codex, '--version'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  })
  if (result.status !== 0) {
    throw new Error(`codex --version failed (${result.status}): ${result.stderr || result.stdout}`)
  }
  return result.stdout.trim()
}

export const setup = () => {
  const spec = `@openai/codex@${CODEX_VERSION}`
  if (installedVersion() === CODEX_VERSION) {
    log(`${spec} already in ${CACHE}`)
  } else {
    // A folder with its own package.json, so npm installs there and not into this project.
    mkdirSync(CACHE, { recursive: true })
    const pkg = join(CACHE, 'package.json')
    if (!existsSync(pkg)) {
      writeFileSync(pkg, JSON.stringify({ name: 'codex-cli', private: true }, null, 2) + '\n')
    }
    const started = Date.now()
    log(`npm install ${spec} in ${CACHE}`)
    const args = ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error']
    const result = spawnSync('npm', [...args, '--include=optional', spec], {
      cwd: CACHE,
      stdio: 'inherit',
    })
    if (result.status !== 0) throw new Error(`npm install ${spec} failed (${result.status})`)
    log(`${spec} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  const version = codexVersion()
  if (version !== `codex-cli ${CODEX_VERSION}`) {
    throw new Error(`${paths.codex} --version said ${version}`)
  }
  log(`${version} ready (${paths.codex})`)
  return paths
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--print')) console.log(JSON.stringify(paths, null, 2))
  else setup()
}
