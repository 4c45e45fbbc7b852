/**
 * Validation against the official OpenAI OpenAPI spec (`../shared/reference/openai-openapi.yaml`,
 * beside the clone): `assertValid('CreateChatCompletionResponse', body)` fails with every
 * violation (instance path, message, schema path). Any name under `components.schemas` works
 * (`Model`, `ErrorResponse`, `Response`, `ResponseStreamEvent`, …).
 *
 * The spec is ~3 MB of YAML: it is read and parsed once per process, on first use, and each
 * schema is compiled once, on its first use (ajv compiles only what that schema reaches).
 *
 * The spec is OpenAPI 3.1 (JSON Schema 2020-12) with leftovers that a 2020-12 validator does not
 * read as OpenAI means them; `normalise` below rewrites them before ajv sees the schemas:
 *
 * - `nullable: true` (an OAS 3.0 keyword, ~110 left): the schema also accepts null. Any schema
 *   `{ ...rest, nullable: true }` becomes `{ anyOf: [{ ...rest }, { type: 'null' }] }`.
 *   Wrapping, rather than adding 'null' to `type`, is what makes it mean "or null" in every shape
 *   the spec uses it: beside an `enum` that lists no null (stream `finish_reason`), beside a `$ref`
 *   (stream `usage`), beside `anyOf`/`oneOf`, or with no `type` at all. (OAS 3.0.3 read strictly
 *   would still reject null in the first two and ignore the flag in the last; OpenAI sends null
 *   there, and the spec's header says to read the markers as "or null".) ajv's own `nullable`
 *   support is that strict reading: it rejects null beside such an `enum` and refuses to compile
 *   `nullable` beside `$ref` or `anyOf`, hence the rewrite. `nullable: false` is dropped.
 * - `exclusiveMinimum: true` / `exclusiveMaximum: true` beside `minimum` / `maximum` (OAS 3.0's
 *   boolean form, in the fine-tuning hyperparameters): the bound becomes exclusive, i.e.
 *   `exclusiveMinimum: <the minimum>` (2020-12's number form) and the `minimum` goes; `false`
 *   is dropped.
 * - `$recursiveRef: '#'` (2019-09, in `CompoundFilter` and `BetaCompoundFilter`, which nest
 *   themselves) becomes a `$ref` to the schema it sits in; `$recursiveAnchor` is dropped.
 *
 * Keywords that are OpenAPI annotations and not JSON Schema (`discriminator`, `example`, `xml`,
 * `externalDocs`, every `x-*` extension such as `x-oaiMeta`, `x-oaiTypeLabel`,
 * `x-stainless-const`) are registered with ajv as annotations, so ajv's strict mode stays on for
 * everything else: an unknown keyword (a leftover this file does not handle) fails loudly instead
 * of being ignored. `discriminator` is not enforced; the `oneOf`/`anyOf` beside it does the work.
 * The spec's three misspelt keywords (`optional`, `min_items`, `max_items`, in transcription and
 * grader schemas) are registered as annotations too: they constrain nothing today either.
 * Formats: ajv-formats (`uri`, `date`, `int64`, `double`, `binary`, …) plus OpenAI's `unixtime`:
 * an integer number of seconds, 0 ≤ t < 10¹¹ (a millisecond timestamp of any date after 1973 is
 * above that, so seconds and milliseconds cannot be mixed up).
 * strictTypes/strictTuples/strictRequired are off: the spec writes `properties` without
 * `type: object` (e.g. `Model`), which is valid JSON Schema, only loose.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { parse } from 'yaml'

/** The spec, from the repository root: `../shared` lies beside the clone (also in CI). */
export const SPEC_PATH = fileURLToPath(
  new URL('../../shared/reference/openai-openapi.yaml', import.meta.url)
)

const SPEC_ID = 'https://openai.openapi.local/openapi.json'
const SCHEMA_PREFIX = '#/components/schemas/'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

// Keywords whose value is a schema, a list of schemas, or a map of name → schema.
const SUBSCHEMA = new Set([
  'items',
  'additionalItems',
  'additionalProperties',
  'propertyNames',
  'contains',
  'not',
  'if',
  'then',
  'else',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
])
const SUBSCHEMA_LIST = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems'])
const SUBSCHEMA_MAP = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
])
// OAS 3.0's boolean exclusive bounds and the bound each one qualifies.
const BOUNDS: Record<string, string> = { exclusiveMinimum: 'minimum', exclusiveMaximum: 'maximum' }
const BOUNDS_OF: Record<string, string> = {
  minimum: 'exclusiveMinimum',
  maximum: 'exclusiveMaximum',
}
const ANNOTATIONS = ['discriminator', 'example', 'xml', 'externalDocs']
const MISSPELT = ['optional', 'min_items', 'max_items']

const isObject = (x: unknown): x is JsonObject => !!x && typeof x === 'object' && !Array.isArray(x)

/** The rewrite described above, on one schema (`name`: the component it belongs to). */
const normalise = (schema: Json, name: string, extensions: Set<string>): Json => {
  if (Array.isArray(schema)) return schema.map((s) => normalise(s, name, extensions))
  if (!isObject(schema)) return schema
  const out: JsonObject = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-')) extensions.add(key)
    if (key === 'nullable' || key === '$recursiveAnchor') continue
    if (Object.hasOwn(BOUNDS, key) && typeof value === 'boolean') {
      const bound: Json = schema[BOUNDS[key]]
      assert.equal(typeof bound, 'number', `${name}: ${key}: true needs ${BOUNDS[key]}`)
      if (value) out[key] = bound
    } else if (Object.hasOwn(BOUNDS_OF, key) && schema[BOUNDS_OF[key]] === true) {
      continue // the exclusive bound took its value
    } else if (key === '$recursiveRef') {
      assert.equal(value, '#', `${name}: only "$recursiveRef": "#" is understood`)
      out.$ref = SCHEMA_PREFIX + name
    } else if (SUBSCHEMA.has(key) || SUBSCHEMA_LIST.has(key)) {
      out[key] = normalise(value, name, extensions)
    } else if (SUBSCHEMA_MAP.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, normalise(v, name, extensions)])
      )
    } else out[key] = value // enum, const, default, example, x-*: values, not schemas
  }
  return schema.nullable === true ? { anyOf: [out, { type: 'null' }] } : out
}

let loaded: { ajv: Ajv2020; schemas: JsonObject } | undefined

/** Parses the spec and registers its schemas (once per process). */
const load = () => {
  if (loaded) return loaded
  const spec = parse(readFileSync(SPEC_PATH, 'utf8')) as JsonObject
  const raw = (spec.components as JsonObject).schemas as JsonObject
  const extensions = new Set<string>()
  const schemas = Object.fromEntries(
    Object.entries(raw).map(([name, s]) => [name, normalise(s, name, extensions)])
  )
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
  })
  addFormats(ajv)
  ajv.addFormat('unixtime', {
    type: 'number',
    validate: (t: number) => Number.isInteger(t) && t >= 0 && t < 1e11,
  })
  ajv.addVocabulary(['components', ...ANNOTATIONS, ...MISSPELT, ...extensions])
  // One document, so that `$ref: '#/components/schemas/X'` resolves as written in the spec.
  ajv.addSchema({ $id: SPEC_ID, components: { schemas } })
  loaded = { ajv, schemas }
  return loaded
}

const compiled = new Map<string, ValidateFunction>()

/** The compiled validator of `components.schemas[name]`. */
export const validator = (name: string): ValidateFunction => {
  let validate = compiled.get(name)
  if (!validate) {
    const { ajv, schemas } = load()
    assert.ok(Object.hasOwn(schemas, name), `the spec has no schema named ${name}`)
    validate = ajv.getSchema(`${SPEC_ID}${SCHEMA_PREFIX}${name}`)!
    compiled.set(name, validate)
  }
  return validate
}

/** The schema as the validator sees it (after the rewrite), e.g. to inspect a definition. */
export const specSchema = (name: string): Json => load().schemas[name]

const describeError = (name: string, e: ErrorObject) => {
  const where = e.instancePath || '(root)'
  // Paths inside the schema itself are relative to it; inside a `$ref`, to the spec's root.
  const schemaPath = e.schemaPath.startsWith(SCHEMA_PREFIX)
    ? e.schemaPath
    : SCHEMA_PREFIX + name + e.schemaPath.slice(1)
  const params = e.params as Record<string, unknown>
  let detail = ''
  if (e.keyword === 'additionalProperties') detail = `: '${params.additionalProperty}'`
  else if (e.keyword === 'enum') detail = `: ${JSON.stringify(params.allowedValues)}`
  else if (e.keyword === 'const') detail = `: ${JSON.stringify(params.allowedValue)}`
  return `${where} ${e.message}${detail} (${schemaPath})`
}

/** Every way `value` breaks `components.schemas[name]`, one readable line each; [] when valid. */
export const violations = (name: string, value: unknown): string[] => {
  const validate = validator(name)
  if (validate(value)) return []
  return [...new Set((validate.errors ?? []).map((e) => describeError(name, e)))]
}

/** Fails, listing every violation and the value, unless `value` matches the schema `name`. */
export const assertValid = (name: string, value: unknown, what = 'the value') => {
  const found = violations(name, value)
  if (!found.length) return
  let shown = JSON.stringify(value, null, 2)
  if (shown.length > 4000) shown = `${shown.slice(0, 4000)}…`
  assert.fail(
    `${what} does not match the OpenAI spec's ${name}:\n` +
      found.map((line) => `  - ${line}`).join('\n') +
      `\n${what}:\n${shown}`
  )
}

/** Every name under `components.schemas`. */
export const schemaNames = (): string[] => Object.keys(load().schemas)
