/** A binary min-heap of (time, index): the live scheduler's one queue for every device. */
export class TimeHeap {
  private readonly times: number[] = [];
  private readonly items: number[] = [];

  get size(): number {
    return this.times.length;
  }

  peekTime(): number {
    return this.times.length > 0 ? this.times[0] : Infinity;
  }

  push(time: number, item: number): void {
    const { times, items } = this;
    let i = times.length;
    times.push(time);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= time) break;
      times[i] = times[parent];
      items[i] = items[parent];
      i = parent;
    }
    times[i] = time;
    items[i] = item;
  }

  pop(): number | undefined {
    const { times, items } = this;
    if (times.length === 0) return undefined;
    const top = items[0];
    const lastT = times.pop()!;
    const lastI = items.pop()!;
    if (times.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= times.length) break;
        const r = l + 1;
        const c = r < times.length && times[r] < times[l] ? r : l;
        if (times[c] >= lastT) break;
        times[i] = times[c];
        items[i] = items[c];
        i = c;
      }
      times[i] = lastT;
      items[i] = lastI;
    }
    return top;
  }
}
