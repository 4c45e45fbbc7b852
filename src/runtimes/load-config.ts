/**
 * Reads the JSON5 config file. Uses `node:fs`, which Node, Bun and Deno all provide (Workers
 * take their config from bindings instead).
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import process from 'node:process'
import JSON5 from 'json5'
import { ConfigError, parseConfig, type Config, type Env } from '../config.ts'

export interface LoadConfigOptions {
  /** The config file; else `OPENCLAW_CONFIG_PATH`, else `~/.openclaw/openclaw.json`. */
  path?: string
  env?: Env
}

/**
 * Reads and validates the JSON5 config file, `${VAR}` placeholders expanded from `env`. A missing
 * default file means an empty config; a missing file that was asked for by name is an error.
 * @throws {ConfigError} listing every problem found
 */
export const loadConfig = async ({
  path,
  env = process.env as Env,
}: LoadConfigOptions = {}): Promise<{
  config: Config
  path?: string
}> => {
  const named = path ?? (env.OPENCLAW_CONFIG_PATH || undefined)
  const file = named ?? join(homedir(), '.openclaw', 'openclaw.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (!named && (err as NodeJS.ErrnoException).code === 'ENOENT')
      return { config: parseConfig({}) }
    throw new ConfigError('', `cannot read config file ${file}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = JSON5.parse(text)
  } catch (err) {
    throw new ConfigError('', `config file ${file} is not valid JSON5: ${(err as Error).message}`)
  }
  return { config: parseConfig(raw, env), path: file }
}
