/**
 * Log lines to stdout in batches: a batch goes out in one write 20 ms after its first line, or
 * at once when it reaches 16 KB. A write to a pipe costs its syscall and wakes the reader: one
 * per request was ~12 µs of server CPU per short answer at one connection (bench/notes.md), where
 * making the line costs under 1 µs. Node writes stdout synchronously on Linux
 * (files, pipes and terminals), so no thread pool is involved, and the timer is not unref'd: a
 * process that ends by itself writes its last lines first. One that calls `process.exit()`
 * calls `flush()` before (the CLI does, on `exit`).
 */
import process from 'node:process'

const WAIT_MS = 20
const MAX_CHARS = 16 * 1024

export interface LineBatch {
  write(text: string): void
  /** Writes what is waiting now. */
  flush(): void
}

export const lineBatch = (
  out: (text: string) => void = (text) => void process.stdout.write(text)
): LineBatch => {
  let pending = ''
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    if (pending === '') return
    const text = pending
    pending = ''
    out(text)
  }
  return {
    write(text) {
      pending += text
      if (pending.length >= MAX_CHARS) flush()
      else timer ??= setTimeout(flush, WAIT_MS)
    },
    flush,
  }
}
