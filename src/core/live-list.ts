/**
 * Things that come and go with each request (its deadlines, its turn), kept in a doubly linked
 * list: adding one and removing it are a few assignments. A `Set` that grows and shrinks with
 * the load hashes every entry and rehashes its table as it goes (bench/notes.md).
 */

/** An entry's place in the list: what `delete()` takes. */
export interface Link<T> {
  readonly value: T
}

interface Node<T> extends Link<T> {
  prev: Node<T> | undefined
  next: Node<T> | undefined
  live: boolean
}

export class LiveList<T> implements Iterable<Link<T>> {
  #head: Node<T> | undefined

  add(value: T): Link<T> {
    const node: Node<T> = { value, prev: undefined, next: this.#head, live: true }
    if (this.#head) this.#head.prev = node
    this.#head = node
    return node
  }

  /** Removes the entry; nothing happens for one already removed. */
  delete(link: Link<T> | undefined): void {
    const node = link as Node<T> | undefined
    if (!node?.live) return
    node.live = false
    if (node.prev) node.prev.next = node.next
    else this.#head = node.next
    if (node.next) node.next.prev = node.prev
  }

  /**
   * The entries, newest first. Entries may be deleted (any of them) while this runs: a removed
   * node keeps its `next`, so the walk still reaches every live entry after it. Entries added
   * meanwhile are not visited.
   */
  *[Symbol.iterator](): Iterator<Link<T>> {
    for (let node = this.#head; node; node = node.next) {
      if (node.live) yield node
    }
  }
}
