/**
 * The Response object and its output items, built from agent events. One builder serves both
 * modes: a stream sends the events `apply()` returns as they come, a non-stream answer sends the
 * object at the end; so both give the same items and text.
 */
import type { AgentEvent, AgentUsage, StopReason, ToolCall } from '../backend.ts'
import type { ApiError } from '../core/errors.ts'
import { NO_RESPONSE } from '../core/prompt.ts'
import { randomHex } from '../core/random-id.ts'
import { argumentPieces, errorFromEvent, holdsText, unmetToolChoice } from '../core/tools.ts'
import { mapResponsesUsage } from '../core/usage.ts'
import type { ResponsesRequest } from './request.ts'

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed'

/** What a stream event says, before it gets its sequence number. */
export type ResponseEvent = { type: string } & Record<string, unknown>

export interface ResponseContext {
  id: string
  /** Unix seconds. */
  createdAt: number
  request: ResponsesRequest
  previousResponseId: string | null
}

type OutputItem = Record<string, unknown>

const textPart = (text: string) => ({
  type: 'output_text',
  text,
  annotations: [],
  logprobs: [],
})

/**
 * The error code a failed response carries: the spec's codes, chosen so that clients retry what
 * may pass next time (`server_error`) and not what will fail again (`invalid_prompt`).
 */
const errorCode = (status: number) =>
  status === 429 ? 'rate_limit_exceeded' : status < 500 ? 'invalid_prompt' : 'server_error'

export class ResponseBuilder {
  status: ResponseStatus = 'in_progress'
  readonly output: OutputItem[] = []
  error: { code: string; message: string } | null = null
  /** Why the answer failed, as the non-stream answer's error. */
  failure?: ApiError
  readonly #ctx: ResponseContext
  readonly #hold: boolean
  #usage?: AgentUsage
  #held = ''
  #calls: ToolCall[] = []
  /** The message item being written, and its text so far. */
  #message?: { item: OutputItem; index: number; text: string }
  #completedAt?: number

  constructor(ctx: ResponseContext) {
    this.#ctx = ctx
    this.#hold = holdsText(ctx.request.toolChoice)
  }

  get finished() {
    return this.status !== 'in_progress'
  }

  /** The Response object as it stands. */
  resource(): Record<string, unknown> {
    const { request, id, createdAt, previousResponseId } = this.#ctx
    const { echo } = request
    const resource: Record<string, unknown> = {
      id,
      object: 'response',
      created_at: createdAt,
      status: this.status,
      error: this.error,
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: request.instructions ?? null,
      max_output_tokens: echo.maxOutputTokens,
      model: request.model,
      output: this.output,
      parallel_tool_calls: echo.parallelToolCalls,
      previous_response_id: previousResponseId,
      store: request.store,
      temperature: echo.temperature,
      text: echo.text,
      tool_choice: echo.toolChoice,
      tools: echo.tools,
      top_p: echo.topP,
      truncation: 'disabled',
      metadata: echo.metadata,
    }
    // Counted once the answer is done (the spec's usage is optional, not nullable).
    if (this.finished) resource.usage = mapResponsesUsage(this.#usage)
    if (this.#completedAt !== undefined) resource.completed_at = this.#completedAt
    return resource
  }

  /** The stream events for one agent event (empty when it changes nothing visible). */
  apply(event: AgentEvent): ResponseEvent[] {
    if (this.finished) return []
    switch (event.type) {
      case 'text':
        if (!event.delta) return []
        if (this.#hold) {
          this.#held += event.delta
          return []
        }
        return this.#write(event.delta)
      case 'tool_calls':
        this.#calls.push(...event.calls)
        return []
      case 'usage':
        this.#usage = event.usage
        return []
      case 'done':
        return this.#finish(event.text, event.stopReason)
      case 'error':
        return this.fail(errorFromEvent(event))
    }
  }

  /** Ends the answer as failed, closing what is open. */
  fail(err: ApiError): ResponseEvent[] {
    if (this.finished) return []
    const events = this.#closeMessage('incomplete', 'commentary')
    this.status = 'failed'
    this.failure = err
    this.error = { code: errorCode(err.status), message: err.message }
    events.push({ type: 'response.failed', response: this.resource() })
    return events
  }

  #openMessage(): ResponseEvent[] {
    const item: OutputItem = {
      type: 'message',
      id: `msg_${randomHex()}`,
      status: 'in_progress',
      role: 'assistant',
      content: [],
    }
    const index = this.output.push(item) - 1
    this.#message = { item, index, text: '' }
    return [
      { type: 'response.output_item.added', output_index: index, item: { ...item, content: [] } },
      {
        type: 'response.content_part.added',
        item_id: item.id,
        output_index: index,
        content_index: 0,
        part: textPart(''),
      },
    ]
  }

  #write(delta: string): ResponseEvent[] {
    const events = this.#message ? [] : this.#openMessage()
    const message = this.#message!
    message.text += delta
    events.push({
      type: 'response.output_text.delta',
      item_id: message.item.id,
      output_index: message.index,
      content_index: 0,
      delta,
      logprobs: [],
    })
    return events
  }

  #closeMessage(status: 'completed' | 'incomplete', phase: string): ResponseEvent[] {
    const message = this.#message
    if (!message) return []
    this.#message = undefined
    const { item, index, text } = message
    item.content = [textPart(text)]
    item.status = status
    item.phase = phase
    const ids = { item_id: item.id, output_index: index, content_index: 0 }
    return [
      { type: 'response.output_text.done', ...ids, text, logprobs: [] },
      { type: 'response.content_part.done', ...ids, part: textPart(text) },
      { type: 'response.output_item.done', output_index: index, item },
    ]
  }

  #finish(finalText: string | undefined, stopReason: StopReason | undefined): ResponseEvent[] {
    const calls = this.#calls
    const unmet = unmetToolChoice(this.#ctx.request.toolChoice, calls)
    if (unmet) return this.fail(unmet)
    const events: ResponseEvent[] = []
    const streamed = this.#message?.text ?? ''
    // What is left to say: held prose; the final text when nothing streamed (or the part of it
    // that extends what did); a placeholder when the agent said nothing at all.
    let rest = this.#held
    if (!streamed && !rest) rest = finalText || (calls.length ? '' : NO_RESPONSE)
    else if (streamed && finalText?.startsWith(streamed)) rest = finalText.slice(streamed.length)
    if (rest) events.push(...this.#write(rest))
    const incomplete = stopReason === 'length' && !calls.length
    events.push(
      ...this.#closeMessage(
        incomplete ? 'incomplete' : 'completed',
        calls.length ? 'commentary' : 'final_answer'
      )
    )
    for (const call of calls) events.push(...this.#call(call))
    this.status = incomplete ? 'incomplete' : 'completed'
    this.#completedAt = Math.floor(Date.now() / 1000)
    events.push({
      type: incomplete ? 'response.incomplete' : 'response.completed',
      response: this.resource(),
    })
    return events
  }

  #call(call: ToolCall): ResponseEvent[] {
    const item: OutputItem = {
      type: 'function_call',
      id: `fc_${randomHex()}`,
      call_id: call.id,
      name: call.name,
      arguments: '',
      status: 'in_progress',
    }
    const index = this.output.push(item) - 1
    const events: ResponseEvent[] = [
      { type: 'response.output_item.added', output_index: index, item: { ...item } },
    ]
    for (const delta of argumentPieces(call.arguments)) {
      events.push({
        type: 'response.function_call_arguments.delta',
        item_id: item.id,
        output_index: index,
        delta,
      })
    }
    item.arguments = call.arguments
    item.status = 'completed'
    events.push(
      {
        type: 'response.function_call_arguments.done',
        item_id: item.id,
        name: call.name,
        output_index: index,
        arguments: call.arguments,
      },
      { type: 'response.output_item.done', output_index: index, item }
    )
    return events
  }
}
