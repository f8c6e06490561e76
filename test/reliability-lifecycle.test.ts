/**
 * Issue 11, lifecycle: dispose() always settles (abandoned streams end with
 * 'abort'), concurrent streams never deadlock, and dispose() releases native
 * memory at once — mappings, KV caches, kernel-op temporaries — instead of
 * when the garbage collector runs.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { matmul, quantize } from '../lib/ops';
import { loadModel, type Model } from '../lib/model/model';
import { native } from '../lib/native';
import { fixture } from './helpers/model-refs';

const STORIES = fixture('models', 'stories260K.gguf');

/** Rejects when `p` has not settled after `ms` (a hang fails the test instead of timing it out). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Collects the garbage, finalizers included: the isolate's external memory counts every ArrayBuffer too, and
 * earlier tests' buffers freed by a collection in the middle of a count once made it 12 MB short.
 */
async function settleGarbage(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
}

/** Lines of /proc/self/maps that map `file` (Linux only). */
function mappingsOf(file: string): number {
  const real = fs.realpathSync(file);
  return fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(real)).length;
}

/** The address ranges this process has mapped, [start, end) (Linux only; the vsyscall page left out). */
type Ranges = Array<[number, number]>;
function mappedRanges(): Ranges {
  const out: Ranges = [];
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (!m) continue;
    const start = parseInt(m[1]!, 16),
      end = parseInt(m[2]!, 16);
    if (end <= Number.MAX_SAFE_INTEGER) out.push([start, end]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Bytes of `a` that `b` does not cover (both sorted, each without overlaps, as /proc/self/maps lists them). */
function bytesNotIn(a: Ranges, b: Ranges): number {
  let bytes = 0,
    j = 0;
  for (const [s, e] of a) {
    let at = s;
    while (j < b.length && b[j]![1] <= at) j++;
    for (let k = j; k < b.length && b[k]![0] < e && at < e; k++) {
      if (b[k]![0] > at) bytes += b[k]![0] - at;
      at = Math.max(at, b[k]![1]);
    }
    if (at < e) bytes += e - at;
  }
  return bytes;
}

/** Ranges of `a` that `b` does not cover. */
function rangesNotIn(a: Ranges, b: Ranges): Ranges {
  const out: Ranges = [];
  for (const [s, e] of a) {
    let at = s;
    for (const [bs, be] of b) {
      if (be <= at || bs >= e) continue;
      if (bs > at) out.push([at, bs]);
      at = Math.max(at, be);
    }
    if (at < e) out.push([at, e]);
  }
  return out;
}

/** Resident size of this process in bytes (Linux only): the memory actually in use. */
function rssSize(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

// Virtual size measures the allocator; AddressSanitizer's keeps freed memory in quarantine (npm run test:sanitize).
const linux = process.platform === 'linux' && process.env.MINIMACLLM_SANITIZED !== '1';

describe('streams and dispose', () => {
  let model: Model;
  beforeEach(async () => {
    model = await loadModel(STORIES, { backend: 'cpu', threads: 1 });
  });
  afterEach(async () => {
    await within(model.dispose(), 10000, 'dispose');
  });

  test('dispose() settles while a started stream is abandoned; the stream then ends with abort', async () => {
    const it = model.stream('Once upon a time', { maxTokens: 50, seed: 1 })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    await within(model.dispose(), 5000, 'dispose() with an abandoned stream');
    const last = await within(it.next(), 5000, 'the abandoned stream');
    expect(last.done).toBe(true);
    expect(last.value).toMatchObject({ finishReason: 'abort', tokens: [(first.value as { token: number }).token] });
  });

  test('a stream created before dispose() but never started ends with abort', async () => {
    const it = model.stream('Lily', { maxTokens: 5 })[Symbol.asyncIterator]();
    await within(model.dispose(), 5000, 'dispose()');
    const r = await within(it.next(), 5000, 'the unstarted stream');
    expect(r).toMatchObject({ done: true, value: { finishReason: 'abort', tokens: [] } });
  });

  test('two streams consumed in lock-step finish, each with its own greedy output', async () => {
    const o = { maxTokens: 24, temperature: 0 };
    const wantA = (await model.generate('Once upon a time', o)).tokens;
    const wantB = (await model.generate('Lily and Ben', o)).tokens;
    const a = model.stream('Once upon a time', o)[Symbol.asyncIterator]();
    const b = model.stream('Lily and Ben', o)[Symbol.asyncIterator]();
    const got: number[][] = [[], []];
    const done = [false, false];
    const step = async (): Promise<void> => {
      while (!done[0] || !done[1]) {
        const rs = await Promise.all([a, b].map((it, i) => (done[i] ? Promise.resolve(undefined) : it.next())));
        rs.forEach((r, i) => {
          if (!r) return;
          if (r.done) done[i] = true;
          else if (r.value.token >= 0) got[i]!.push(r.value.token);
        });
      }
    };
    await within(step(), 20000, 'two streams in lock-step');
    expect(got[0]).toEqual(wantA);
    expect(got[1]).toEqual(wantB);
  });

  test('generate() while a stream is held still runs, and the stream resumes correctly', async () => {
    const o = { maxTokens: 12, temperature: 0 };
    const want = (await model.generate('The cat', o)).tokens;
    const it = model.stream('The cat', o)[Symbol.asyncIterator]();
    const got: number[] = [];
    const r0 = await it.next();
    if (!r0.done) got.push(r0.value.token);
    const other = await within(model.generate('A dog', { maxTokens: 8, temperature: 0 }), 10000, 'generate()');
    expect(other.tokens.length).toBeGreaterThan(0);
    for (;;) {
      const r = await within(it.next(), 10000, 'the stream');
      if (r.done) break;
      if (r.value.token >= 0) got.push(r.value.token);
    }
    expect(got).toEqual(want);
  });
});

(linux ? describe : describe.skip)('dispose() frees native memory at once (no GC)', () => {
  test('disposed models leave no mapping of the model file', async () => {
    const before = mappingsOf(STORIES);
    for (let i = 0; i < 40; i++) {
      const m = await loadModel(STORIES, { backend: 'cpu', threads: 1 });
      await m.generate('Once', { maxTokens: 2, seed: i });
      await m.dispose();
    }
    expect(mappingsOf(STORIES)).toBe(before);
  });

  test("a disposed context's KV cache and activations are unmapped at once", async () => {
    const m = await loadModel(STORIES, { backend: 'cpu', threads: 1 });
    try {
      await settleGarbage();
      // The addon's own report, not V8's whole counter: that one also falls as the sweeper frees earlier
      // tests' ArrayBuffers meanwhile (once it grew 154.7 MB of 168).
      const reportedBefore = native().reportedMemory();
      // Address ranges, not the virtual size: V8's sweeper threads unmap pages of their own meanwhile (once
      // the growth read 95 MB of 168), but they cannot map what was already mapped before.
      const before = mappedRanges();
      // [2 (k, v), 5 layers, 65536 positions, 32 kv dims] f16 = 42 MB each.
      const ctxs = Array.from({ length: 4 }, () => m.createContext({ contextSize: 65536 }));
      const added = rangesNotIn(mappedRanges(), before);
      const grown = added.reduce((n, [s, e]) => n + e - s, 0);
      expect(grown).toBeGreaterThan(4 * 40e6);
      // V8 is told about the native allocations, so GC pressure is right.
      expect(native().reportedMemory() - reportedBefore).toBeGreaterThan(4 * 40e6);
      // V8's own counter includes what the addon reported. Not its growth across the allocation: V8 frees
      // earlier tests' ArrayBuffers meanwhile (once it moved -34.4 MB while the addon reported +168).
      expect(native().externalMemory()).toBeGreaterThanOrEqual(native().reportedMemory());
      await ctxs[0]!.evaluate([1, 2, 3]);
      await Promise.all(ctxs.map((c) => c.dispose()));
      // What the contexts mapped and is still mapped.
      expect(grown - bytesNotIn(added, mappedRanges())).toBeLessThan(grown / 8);
      expect(native().reportedMemory() - reportedBefore).toBeLessThan(4 * 5e6);
    } finally {
      await m.dispose();
    }
  });

  test('kernel ops in a synchronous loop do not accumulate native memory', () => {
    const rows = 1024,
      cols = 1024;
    const w = {
      data: quantize('Q4_0', new Float32Array(rows * cols).fill(0.5), cols),
      type: 'Q4_0' as const,
      rows,
      cols,
    };
    const x = new Float32Array(cols).fill(1);
    // Warm the shared backend (threads, workspace) and the allocators.
    for (let i = 0; i < 50; i++) matmul(x, w);
    // Resident, not virtual size: glibc gives a thread that finds its malloc arena busy
    // another one, a 64 MB address-space reservation each (up to 8 per core), whenever
    // the JS thread, the pool's worker and V8's threads happen to allocate at once.
    const before = rssSize();
    let peak = before;
    for (let i = 0; i < 300; i++) {
      matmul(x, w);
      peak = Math.max(peak, rssSize());
    }
    // 300 calls without freeing would keep 300 x 0.6 MB = 180 MB of written weights copies.
    expect(peak - before).toBeLessThan(48e6);
  });
});
