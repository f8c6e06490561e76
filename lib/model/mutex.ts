/** A FIFO async lock: callers run one at a time in the order they asked. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => {
      release = r;
    });
    const prev = this.#tail;
    this.#tail = prev.then(() => next);
    this.#held++;
    let released = false;
    return prev.then(() => () => {
      if (released) return;
      released = true;
      this.#held--;
      release();
    });
  }

  /** Number of holders and waiters. */
  get pending(): number {
    return this.#held;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
