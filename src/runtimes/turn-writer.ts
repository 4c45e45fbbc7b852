/**
 * Log lines to stdout, the lines of one event-loop turn in one write. Node writes stdout
 * synchronously on Linux (files, pipes and terminals alike), so a line costs no thread-pool
 * round trip (pino's `destination({ sync: false })` does one per write: two context switches a
 * request at one connection) and is out by the end of the turn that logged it. Under load, the
 * turn's requests share one write.
 */
import process from 'node:process'

export interface TurnWriter {
  write(text: string): void
  /** Writes what is waiting now (before the process exits, say). */
  flush(): void
}

export const turnWriter = (
  out: (text: string) => void = (text) => void process.stdout.write(text)
): TurnWriter => {
  let pending = ''
  const flush = () => {
    if (pending === '') return
    const text = pending
    pending = ''
    out(text)
  }
  return {
    write(text) {
      // After the turn's I/O callbacks: every request answered in this turn joins the write.
      if (pending === '') setImmediate(flush)
      pending += text
    },
    flush,
  }
}
