/**
 * Stop strings over streamed text: text that could still turn into a stop
 * string is held back, so what was emitted never contains (any part of) a
 * stop string, even when one is split across tokens.
 */
export class StopMatcher {
  readonly #stops: readonly string[];
  #pending = '';

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
  }

  /** Adds decoded text; returns what can be emitted now and whether a stop string was hit. */
  push(text: string): { text: string; stopped: boolean } {
    if (this.#stops.length === 0) return { text, stopped: false };
    const s = this.#pending + text;
    let hit = -1;
    for (const stop of this.#stops) {
      const i = s.indexOf(stop);
      if (i >= 0 && (hit < 0 || i < hit)) hit = i;
    }
    if (hit >= 0) {
      this.#pending = '';
      return { text: s.slice(0, hit), stopped: true };
    }
    const keep = this.#heldSuffix(s);
    this.#pending = s.slice(s.length - keep);
    return { text: s.slice(0, s.length - keep), stopped: false };
  }

  /** The held-back text, when generation ends without a stop. */
  flush(): string {
    const s = this.#pending;
    this.#pending = '';
    return s;
  }

  // Length of the longest suffix of s that is a proper prefix of a stop string.
  #heldSuffix(s: string): number {
    let best = 0;
    for (const stop of this.#stops) {
      for (let len = Math.min(stop.length - 1, s.length); len > best; len--) {
        if (s.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
