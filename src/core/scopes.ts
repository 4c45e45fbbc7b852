/**
 * Operator scopes, as the OpenClaw gateway grants them. A shared-secret caller (token, password)
 * holds them all; under `none` and `trusted-proxy` the caller may declare fewer with
 * `x-openclaw-scopes`, and each surface checks the one it needs.
 */
import { ApiError } from './errors.ts'

export const ADMIN = 'operator.admin'
export const READ = 'operator.read'
export const WRITE = 'operator.write'

/** What a shared-secret caller, or one that declares nothing, holds (the gateway's CLI defaults). */
export const DEFAULT_SCOPES: ReadonlySet<string> = new Set([
  ADMIN,
  READ,
  WRITE,
  'operator.approvals',
  'operator.questions',
  'operator.pairing',
  'operator.talk.secrets',
])

/**
 * Narrower scopes that also satisfy a requirement: write implies read; and chat turns are
 * session writes, which `operator.sessions.write` allows on its own.
 */
const ALSO_SATISFIED_BY: Record<string, string[]> = {
  [READ]: [WRITE],
  [WRITE]: ['operator.sessions.write'],
}

/**
 * The scopes a request declares: comma-separated, trimmed, blanks dropped, names compared as
 * sent. No header means the defaults; a present but empty one means none.
 */
export const declaredScopes = (header: string | null): ReadonlySet<string> =>
  header === null
    ? DEFAULT_SCOPES
    : new Set(
        header
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      )

export const hasScope = (granted: ReadonlySet<string>, required: string): boolean =>
  granted.has(ADMIN) ||
  granted.has(required) ||
  (ALSO_SATISFIED_BY[required]?.some((s) => granted.has(s)) ?? false)

/** @throws {ApiError} 403 `missing scope: <scope>` when `granted` does not cover `required` */
export const requireScope = (granted: ReadonlySet<string>, required: string): void => {
  if (!hasScope(granted, required)) {
    throw new ApiError(403, `missing scope: ${required}`, { code: 'missing_scope' })
  }
}
