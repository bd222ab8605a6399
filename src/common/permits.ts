/**
 * At most `count` holders at once, served first come, first served: `acquire` settles with the
 * function that gives the permit back (calling it again does nothing).
 */
export class Permits {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`permits: ${count}`);
    this.free = count;
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0 && this.waiting.length === 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
