/** "Did you mean …?" for a config key or a CLI flag that is nearly one we know. */

/**
 * Edits between two words: insertions, deletions, substitutions and swaps of neighbours
 * (`tokne` → `token` is one edit), ignoring case.
 */
export const editDistance = (a: string, b: string): number => {
  a = a.toLowerCase()
  b = b.toLowerCase()
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    rows.push([i])
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0].push(j)
        continue
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2][j - 2] + 1)
      }
      rows[i].push(best)
    }
  }
  return rows[a.length][b.length]
}

/**
 * The known word closest to `word`, when it is close enough to be a slip of the keyboard: at most
 * one edit in four letters (at least one), so `prot` finds `port` but `host` never finds `port`.
 */
export const closest = (word: string, known: Iterable<string>): string | undefined => {
  const limit = Math.max(1, Math.floor(word.length / 4))
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const distance = editDistance(word, candidate)
    if (distance <= limit && distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}
