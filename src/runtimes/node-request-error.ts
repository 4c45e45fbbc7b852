/**
 * What node-server answers when it cannot make a `Request` of what arrived (a bad request
 * target, such as a backslash in the path), or when the app's promise rejects: by default a bare
 * 400 or 500 with an empty body. Ours are in the OpenAI error shape with the common headers.
 */
import { RequestError } from '@hono/node-server'
import { ApiError, internalError } from '../core/errors.ts'
import { respondJson } from '../core/respond.ts'

/** The answer for a request node-server could not build or the app could not answer. */
export const answerUnservable = (err: unknown): Response => {
  let error: ApiError
  if (err instanceof RequestError) {
    error = new ApiError(400, `The request could not be read: ${err.message}.`)
  } else {
    // The app answers its own errors; reaching this is a bug worth a line in the log.
    console.error('gateway-chat-completions: unhandled error', err)
    error = internalError()
  }
  // Whatever the request carried was not read.
  return respondJson(null, error.toJSON(), error.status, { connection: 'close' })
}
