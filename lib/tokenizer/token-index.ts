/**
 * Token text → id for vocabularies of any size: one Map, or for large vocabularies 32 Maps picked by a
 * cheap hash of the text.
 *
 * One V8 Map grows by rehashing every entry in one step: at 131,072 entries (every 150k vocabulary)
 * that is ~12 ms on a quiet machine and 30-77 ms inside jest's vm, with the collection the new table's
 * allocation sets off. A shard of a 150k vocabulary holds ~5k entries (Qwen2: 4,043-5,643): its
 * growth costs well under a millisecond. Lookups in shards pay for the hash (~10% of SentencePiece
 * tokenizing, which looks up every candidate merge), so vocabularies small enough that one Map never
 * grows past 32,768 entries keep one.
 */
import { mapGrowsOnAdd } from './steps';

/** What the models read: the lookups of a ReadonlyMap<string, number> that they use. */
export interface TokenLookup {
  get(text: string): number | undefined;
  has(text: string): boolean;
  readonly size: number;
  keys(): Iterable<string>;
}

const SHARDS = 32;

/** First and last UTF-16 unit and the length: spread evenly over real vocabularies (byte-level and SentencePiece). */
function shardOf(text: string): number {
  const n = text.length;
  return n === 0 ? 0 : (text.charCodeAt(0) + text.charCodeAt(n - 1) * 7 + n * 13) & (SHARDS - 1);
}

/** Vocabularies expected to hold at most this many texts keep one Map. */
const ONE_MAP_MAX = 1 << 15;

export class TokenIndex implements TokenLookup {
  /** The one Map, or undefined when sharded. */
  private readonly one: Map<string, number> | undefined;
  private readonly shards: Array<Map<string, number>>;

  /** `expected`: about how many texts will be added (the vocabulary's size). */
  constructor(expected: number) {
    if (expected <= ONE_MAP_MAX) {
      this.one = new Map();
      this.shards = [this.one];
    } else {
      this.one = undefined;
      this.shards = Array.from({ length: SHARDS }, () => new Map<string, number>());
    }
  }

  private shard(text: string): Map<string, number> {
    return this.one ?? this.shards[shardOf(text)]!;
  }

  get(text: string): number | undefined {
    return this.shard(text).get(text);
  }

  has(text: string): boolean {
    return this.shard(text).has(text);
  }

  get size(): number {
    let n = 0;
    for (const s of this.shards) n += s.size;
    return n;
  }

  set(text: string, id: number): this {
    this.shard(text).set(text, id);
    return this;
  }

  /**
   * Whether adding `text` makes its Map rehash a large table (mapGrowsOnAdd): when one Map was expected to
   * be enough and is not, or for shards of vocabularies of millions of texts. Builds give such an add a turn
   * of its own.
   */
  growsOnAdd(text: string): boolean {
    return mapGrowsOnAdd(this.shard(text).size);
  }

  *keys(): IterableIterator<string> {
    for (const s of this.shards) yield* s.keys();
  }
}
