/**
 * The CLI's arguments (`serve`, `keys create`), read by hand rather than by `util.parseArgs`: its
 * errors (`Unknown option '--prot'. To specify a positional argument starting with a '-', place
 * it at the end…`) would reach the user as they are, and cannot say what was meant.
 */
import { closest } from '../core/did-you-mean.ts'

export interface ArgSpec<V extends string, F extends string> {
  /** Long options that take a value: `--name value` or `--name=value`. */
  values: readonly V[]
  /** Flags as written without dashes (`help`, and `h` for `-h`), to the flag each sets. */
  flags: Readonly<Record<string, F>>
}

export interface ParsedArgs<V extends string, F extends string> {
  values: Partial<Record<V, string>>
  flags: Partial<Record<F, true>>
  /** The arguments that are not options, and everything after `--`. */
  positionals: string[]
}

/** Reads `argv` by `spec`; a mistake goes to `fail`, with a did-you-mean for an unknown option. */
export const parseArgs = <V extends string, F extends string>(
  argv: string[],
  spec: ArgSpec<V, F>,
  fail: (message: string) => never
): ParsedArgs<V, F> => {
  const parsed: ParsedArgs<V, F> = { values: {}, flags: {}, positionals: [] }
  const longFlags = Object.keys(spec.flags).filter((name) => name.length > 1)
  const known = [...spec.values, ...longFlags].map((name) => `--${name}`)
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      parsed.positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      parsed.positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const written = eq === -1 ? arg : arg.slice(0, eq)
    const name = written.replace(/^--?/, '')
    const long = written.startsWith('--')
    const flag = Object.hasOwn(spec.flags, name) ? spec.flags[name] : undefined
    if (long && (spec.values as readonly string[]).includes(name)) {
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
      // A value that is another option means this one's was left out.
      if (value === undefined || (eq === -1 && value.startsWith('--'))) {
        fail(`option ${written} needs a value`)
      }
      parsed.values[name as V] = value
    } else if (flag && (long ? name.length > 1 : name.length === 1)) {
      if (eq !== -1) fail(`option ${written} takes no value`)
      parsed.flags[flag] = true
    } else {
      const guess = closest(long ? written : `-${written}`, known)
      fail(`unknown option ${written}${guess ? `; did you mean ${guess}?` : ''}`)
    }
  }
  return parsed
}
