import { configFile, describeConformance, spawnServer } from '../test/conformance.ts'

describeConformance('Deno', async ({ enabled }) => {
  const file = configFile(enabled)
  return spawnServer(
    'node_modules/.bin/deno',
    [
      'run',
      '--allow-net',
      '--allow-env',
      '--allow-read',
      '--allow-sys',
      'src/runtimes/deno.ts',
      'serve',
      '--config',
      file.path,
      '--port',
      '0',
    ],
    file.cleanup
  )
})
