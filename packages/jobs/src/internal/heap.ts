/**
 * A binary min-heap: the memory store's due-job indexes. Entries are never
 * removed from the middle; the store marks them stale (a generation number)
 * and skips them when they surface, which keeps every operation O(log n).
 *
 * @internal
 */
export class Heap<A> {
  private readonly items: Array<A> = []
  constructor(private readonly less: (a: A, b: A) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(items[i]!, items[parent]!)) break
      const tmp = items[i]!
      items[i] = items[parent]!
      items[parent] = tmp
      i = parent
    }
  }

  pop(): A | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left
        if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right
        if (smallest === i) break
        const tmp = items[i]!
        items[i] = items[smallest]!
        items[smallest] = tmp
        i = smallest
      }
    }
    return top
  }
}
