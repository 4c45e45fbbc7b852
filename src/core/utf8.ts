const NON_ASCII = /[^\x00-\x7f]/

/** UTF-8 bytes of a string, without encoding it. */
export const utf8Length = (text: string): number => {
  let bytes = text.length
  // The regexp engine finds the first non-ASCII character several times faster than a loop
  // reads up to it; most answers have none.
  const first = text.search(NON_ASCII)
  if (first === -1) return bytes
  for (let i = first; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // Two bytes up to U+07FF, three beyond, four for a surrogate pair (two units, +1 each).
    if (c > 0x7f) bytes += c > 0x7ff && (c < 0xd800 || c > 0xdfff) ? 2 : 1
  }
  return bytes
}
