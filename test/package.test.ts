/**
 * What `npm publish` would upload: the library and nothing else. Runs `npm pack --dry-run`, which
 * runs `prepare` (a clean build of dist/) as a publish does, and reads its file list.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * At most 1 MB unpacked: about twice the library today (~450 kB, half of it README and type
 * declarations), so it can grow, while any build output that slips in fails at once — the worker
 * bundle is 2.7 MB, its source map 4.5 MB, the Bun binary 110 MB.
 */
const MAX_UNPACKED_BYTES = 1_000_000

/** Files a consumer needs: the compiled library and its types, the example config, the docs. */
const ALLOWED = [
  /^dist\/.+\.js$/,
  /^dist\/.+\.d\.ts$/,
  /^examples\/[^/]+\.json5$/,
  /^README\.md$/,
  /^LICENSE(\.md|\.txt)?$/,
  /^package\.json$/,
]

interface Packed {
  size: number
  unpackedSize: number
  files: { path: string; size: number }[]
}

const pack = (): Packed => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['pack', '--dry-run', '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  })
  assert.equal(result.status, 0, `npm pack failed:\n${result.stderr}`)
  // `prepare` may print to stdout before npm's JSON.
  const json = result.stdout.slice(result.stdout.search(/^\[/m))
  return (JSON.parse(json) as Packed[])[0]
}

describe('the npm package', () => {
  const packed = pack()
  const paths = packed.files.map((f) => f.path)

  it('holds the library and nothing else', () => {
    const stray = paths.filter((path) => !ALLOWED.some((pattern) => pattern.test(path)))
    assert.deepEqual(stray, [])
  })

  it('holds everything its package.json points at', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    const targets = [
      ...Object.values(pkg.bin as Record<string, string>),
      pkg.main,
      pkg.types,
      ...Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap(
        (entry) => (typeof entry === 'string' ? [entry] : Object.values(entry))
      ),
    ]
    for (const target of targets) {
      assert.ok(paths.includes(target.replace(/^\.\//, '')), `${target} is not in the package`)
    }
  })

  it(`stays under ${MAX_UNPACKED_BYTES / 1e6} MB unpacked`, () => {
    const largest = [...packed.files].sort((a, b) => b.size - a.size).slice(0, 3)
    assert.ok(
      packed.unpackedSize <= MAX_UNPACKED_BYTES,
      `${packed.unpackedSize} bytes; the largest: ${largest.map((f) => `${f.path} (${f.size})`).join(', ')}`
    )
  })
})
