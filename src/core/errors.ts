/** The OpenAI error envelope: the one place that builds error bodies. */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  | 'api_error'

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

const typeForStatus = (status: number): ErrorType => {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'api_error'
  return 'invalid_request_error'
}

/** An error meant for the client: its message, status and fields are safe to send as they are. */
export class ApiError extends Error {
  readonly status: number
  readonly type: string
  readonly param: string | null
  readonly code: string | null
  readonly headers: Record<string, string>
  /** The API key's id when the error is about a key (an expired one): for the log, not the body. */
  readonly keyId: string | undefined

  constructor(
    status: number,
    message: string,
    {
      type = typeForStatus(status),
      param = null,
      code = null,
      headers = {},
      keyId,
    }: {
      type?: string
      param?: string | null
      code?: string | null
      headers?: Record<string, string>
      keyId?: string
    } = {}
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.type = type
    this.param = param
    this.code = code
    this.headers = headers
    this.keyId = keyId
  }

  toJSON(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code: string | null = null
) => new ApiError(400, message, { param, code })

export const internalError = () => new ApiError(500, 'internal error')

/** The same error, with `headers` under its own. */
export const withHeaders = (err: ApiError, headers: Record<string, string>) =>
  new ApiError(err.status, err.message, {
    type: err.type,
    param: err.param,
    code: err.code,
    headers: { ...headers, ...err.headers },
  })
