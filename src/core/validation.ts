/** A valibot issue → the 400 a client reads: its message, and the field it names in `param`. */
import type * as v from 'valibot'
import { badRequest } from './errors.ts'

type Issue = v.BaseIssue<unknown>

/**
 * A union reports its own message; a branch that got further than a type mismatch says more.
 * A branch's issues have paths relative to the union's value, so they are made absolute here.
 */
const innermost = (issue: Issue): Issue => {
  const base = issue.path ?? []
  for (const sub of issue.issues ?? []) {
    if (sub.path?.length || sub.kind !== 'schema') {
      return innermost({ ...sub, path: [...base, ...(sub.path ?? [])] as Issue['path'] })
    }
  }
  return issue
}

/** `messages[2].content`, from the issue's path. */
const paramOf = (issue: Issue): string | null => {
  let param = ''
  for (const { key } of issue.path ?? []) {
    param += typeof key === 'number' ? `[${key}]` : param ? `.${String(key)}` : String(key)
  }
  return param || null
}

/**
 * The 400 for the first issue. `whenMissing` words the error for a required field that is
 * absent (e.g. chat's `messages` gets the gateway's ``Missing user message in `messages`.``).
 */
export const toBadRequest = (first: Issue, whenMissing: Record<string, string> = {}) => {
  const issue = innermost(first)
  const param = paramOf(issue)
  // A missing key is reported by its object schema (`object`, `loose_object`...).
  const missing =
    issue.kind === 'schema' && issue.type.endsWith('object') && issue.received === 'undefined'
  if (missing) {
    const message = (param && whenMissing[param]) ?? `Missing required field \`${param}\`.`
    return badRequest(message, param)
  }
  return badRequest(issue.message, param)
}
