/**
 * Admission control: at most `parallel` requests generate at once, at most
 * `queue` more wait (FIFO); beyond that a request is refused at once (429)
 * instead of piling up. A waiter that gives up (client gone) leaves the queue.
 */
import { HttpError } from './http-error';

export class Admission {
  #running = 0;
  readonly #waiting: Array<{ grant: () => void }> = [];

  constructor(
    readonly parallel: number,
    readonly queue: number,
  ) {}

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects if the queue is full or `signal` aborts. */
  async enter(signal: AbortSignal): Promise<() => void> {
    if (this.#running < this.parallel && this.#waiting.length === 0) {
      this.#running++;
      return this.#release();
    }
    if (this.#waiting.length >= this.queue)
      throw new HttpError(
        429,
        'the server is busy: too many requests are queued',
        'rate_limit_error',
        null,
        'queue_full',
      );
    await new Promise<void>((resolve, reject) => {
      const w = {
        grant: (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.#waiting.indexOf(w);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(w);
    });
    return this.#release(); // the slot was handed over by its last holder
  }

  // Releasing hands the slot to the first waiter, so no newcomer can slip in between.
  #release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next.grant();
      else this.#running--;
    };
  }
}
