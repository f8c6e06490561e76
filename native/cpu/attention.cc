// Causal grouped-query attention of n query rows over the KV cache:
// query i (position p = n_past + i) attends to cache rows [0, p], or with a
// sliding window w to (p - w, p] (with spans: rows [spans[i][0], spans[i][0] +
// spans[i][1]), its sequence's slot, always through the row-by-row path so a
// row's result never depends on the other rows of the step: batched decoding
// equals decoding alone); query head h reads KV head h / (n_head /
// n_kv_head). Scores may be soft-capped: c * tanh(s / c) (gemma2). The
// row-by-row path runs one (row, KV head) pair per task: every query head of
// the KV head's group over one pass of its keys and values (GroupAttend).
// With ring > 0 the cache (or each span's slot) is a ring: key position j is at
// row j % ring (a windowed layer keeps only its window plus a batch); the keys
// are taken in the same order, a run of them cut in two where the ring wraps.
// Keys are scored a chunk at a time into a small per-thread buffer, then the
// chunk's softmax weights are applied (F16C for an f16 cache); an
// online-softmax rescale joins the chunks, so no [ctx] buffer and no
// allocation per token (the workspace only grows).
// A q8_0 cache (llama.cpp's -ctk/-ctv q8_0: each head's row is head_dim / 32
// blocks) scores keys as llama.cpp does: the query rounded to q8_0 once, then
// integer block dots with this CPU's q8_0 matmul kernels; values are
// dequantized as they are accumulated. The block (prefill) kernel reads the
// query rounded the same way, so prefill and decode agree up to summation order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "../../kernels/quant_blocks.h"
#include "../core/error.h"
#include "../core/quants.h"
#include "attention_block.h"
#include "cpu_features.h"
#include "ops.h"
#include "prefetch.h"
#include "vec_dot.h"

namespace mm {

namespace {
constexpr int64_t kChunk = 128;  // keys scored per pass (512 B of scores: stays in L1)

// Bytes of one KV head's part of a cache row: head_dim floats, halves, or q8_0 blocks.
size_t head_bytes(DType t, int D) { return row_bytes(t, D); }
// Floats that hold `bytes` (scratch is counted in floats).
size_t floats_for(size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

// The keys of positions [j0, j0 + cnt) (row r at base + r * stride + off, hb bytes each) as
// one run: in place, or, for a chunk a ring wraps, copied in order into buf [cnt, hb]. The
// SIMD dot kernels score keys several at a time and the rest one by one; one run of the same
// keys gives the same bits as the full cache's (two runs cut at the wrap might not).
const uint8_t* key_run(const uint8_t* base, size_t stride, size_t off, int64_t j0, int64_t cnt, int64_t ring, size_t hb,
                       uint8_t* buf, size_t* run_stride) {
  *run_stride = stride;
  if (ring <= 0) return base + j0 * stride + off;
  if (j0 % ring + cnt <= ring) return base + (j0 % ring) * stride + off;
  for_ring_runs(j0, cnt, ring, [&](int64_t o, int64_t len, int64_t row) {
    for (int64_t r = 0; r < len; r++) std::memcpy(buf + (o + r) * hb, base + (row + r) * stride + off, hb);
  });
  *run_stride = hb;
  return buf;
}

// out[h * os + j] = dot(q8_0 key row j, q8_0 query h) for j < n, h < g (query h at
// qq + h * qb bytes) where the vector ops have no q8_0 scores (the scalar level):
// this CPU's q8_0 matmul tiles, kTileW keys x up to kTileA heads per call where
// it has them, the rest row by row. Every caller groups the same keys and heads
// the same way, so a score's bits depend only on the chunk.
void scores_q8_0_matmul(const MatmulKernel& mk, int64_t n, const uint8_t* rows, size_t stride, int D, const uint8_t* qq,
                        size_t qb, int g, float* out, int64_t os, ptrdiff_t pf) {
  const size_t rb = row_bytes(DType::Q8_0, D);
  const auto prefetch = [&](int64_t j) {  // row j's bytes pf further on (the next chunk's row)
    if (pf != 0) prefetch_l2(rows + j * stride + pf, rb);
  };
  int64_t j = 0;
  if (mk.tile)
    for (; j + kTileW <= n; j += kTileW) {
      for (int r = 0; r < kTileW; r++) prefetch(j + r);
      for (int h0 = 0; h0 < g; h0 += kTileA)
        mk.tile(D, rows + j * stride, stride, kTileW, qq + h0 * qb, qb, std::min(kTileA, g - h0), out + h0 * os + j,
                static_cast<size_t>(os));
    }
  for (; j < n; j++) {
    prefetch(j);
    for (int h = 0; h < g; h++) out[h * os + j] = mk.dot(D, rows + j * stride, qq + h * qb);
  }
}

// The largest of x[0, n) (n >= 1; NaN never wins, as with std::max, and the
// value is exact whatever the order): eight independent chains, not one serial
// chain of n dependent maxss (~1.5 cycles a score in L1; measured 2.5% of a
// depth-4096 SmolLM2-shape attention step, one thread).
float max_of(const float* x, int64_t n) {
  float m[8];
  std::fill(m, m + 8, -INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) m[k] = m[k] < x[j + k] ? x[j + k] : m[k];
  for (; j < n; j++) m[0] = m[0] < x[j] ? x[j] : m[0];
  for (int k = 1; k < 8; k++) m[0] = m[0] < m[k] ? m[k] : m[0];
  return m[0];
}

// Keys per chunk for head rows of hb bytes: the chunk's keys and values stay
// in L1 while every query head of the group reads them. With the AVX2 kernels
// 4 KB each (measured: 4 KB beat 8 and 16 KB at head_dim 64 and 256, tied at
// 128; at SmolLM2's shape, depth 16384, two threads, 8 KB was +18%); the
// AVX-512 ones read a chunk's values once, not once per 16 columns, and gain
// from 8 KB: alternating A/B in one process (load 1.0-1.4), depth 16384 two
// threads -8 to -10%, depth 4096 -7%, Llama-3.2-1B shape -6%, head_dim 128 -9%
// (gemma-3's 256 stays at the 16-key floor).
int64_t chunk_keys(size_t hb) {
  const int64_t bytes = cpu_use_avx512() ? 8192 : 4096;
  return std::clamp<int64_t>(bytes / static_cast<int64_t>(hb) / 16 * 16, 16, kChunk);
}

// One query row's GQA group (the query heads of one KV head) over the keys
// [j_begin, j_end) of that KV head, chunk by chunk with an online softmax: each
// chunk's keys are scored and its values accumulated for every head of the
// group in one pass over the rows, the next chunk's rows prefetched into L2
// meanwhile (the hardware prefetcher leaves a deep cache's strided head rows to
// memory latency). Decode and the row-by-row path both run this, so a range
// gives the same bits in both.
struct GroupAttend {
  const OpParams* p = nullptr;
  int D = 0, group = 0;
  bool q8 = false;
  size_t hb = 0;               // bytes of one head's part of a cache row
  int64_t chunk = 0;           // keys per chunk (chunk_keys)
  MatmulKernel mk{};           // q8_0 cache: the q8_0 matmul kernels
  bool q8_rows = false;        // q8_0 cache: score with the vector ops' scores_q8_0 (AVX2, NEON), not mk
  const uint8_t* k = nullptr;  // row 0 of the keys (of a span's slot), this KV head's part
  const uint8_t* v = nullptr;  // and of the values
  size_t k_stride = 0, v_stride = 0;

  // Per-thread floats: [group, D] sums + [group] maxima + [group] denominators
  // + [group, chunk] scores + [group] q8_0 queries + gathered keys (ring).
  size_t qq_bytes() const { return q8 ? hb : 0; }
  size_t scratch_floats() const {
    return static_cast<size_t>(group) * (D + 2 + chunk) + floats_for(group * qq_bytes()) +
           (p->ring > 0 ? floats_for(static_cast<size_t>(chunk) * hb) : 0);
  }

  // q: [group, D] this row's query heads. Leaves the unnormalized sums in
  // w[0, group * D), the maxima and denominators after them.
  void run(const float* q, int64_t j_begin, int64_t j_end, float* w) const {
    begin(q, w);
    for (int64_t j0 = j_begin; j0 < j_end; j0 += chunk) step(q, j0, j_end, w);
  }

  // run() in parts: begin, then step for j0 = j_begin, j_begin + chunk, ... < j_end. Steps of
  // several KV heads (each with its own w) may be interleaved: each head's arithmetic is the same.
  void begin(const float* q, float* w) const {
    float* acc = w;                                                                 // [group, D]
    float* mx = acc + static_cast<size_t>(group) * D;                               // [group]
    float* sum = mx + group;                                                        // [group]
    float* s = sum + group;                                                         // [group, chunk]
    auto* qq = reinterpret_cast<uint8_t*>(s + static_cast<size_t>(group) * chunk);  // [group, hb] q8_0
    std::fill(acc, acc + static_cast<size_t>(group) * D, 0.0f);
    std::fill(mx, mx + group, -INFINITY);
    std::fill(sum, sum + group, 0.0f);
    if (q8)
      for (int i = 0; i < group; i++) convert_activations(DType::Q8_0, q + static_cast<int64_t>(i) * D, qq + i * hb, D);
  }

  // The chunk of keys [j0, min(j0 + chunk, j_end)).
  void step(const float* q, int64_t j0, int64_t j_end, float* w) const {
    const VecOps& vo = vec_ops();
    float* acc = w;                                                                 // [group, D]
    float* mx = acc + static_cast<size_t>(group) * D;                               // [group]
    float* sum = mx + group;                                                        // [group]
    float* s = sum + group;                                                         // [group, chunk]
    auto* qq = reinterpret_cast<uint8_t*>(s + static_cast<size_t>(group) * chunk);  // [group, hb] q8_0
    uint8_t* gathered = reinterpret_cast<uint8_t*>(reinterpret_cast<float*>(qq) + floats_for(group * qq_bytes()));
    const int64_t cnt = std::min(chunk, j_end - j0);
    // The next chunk's rows, prefetched as this one's are read, where they
    // lie a chunk further on (not across a ring's wrap). Without it a deep
    // cache's strided head rows streamed at a third of the speed.
    const int64_t ahead = chunk;
    const bool next_whole = j0 + cnt + ahead <= j_end && (p->ring <= 0 || (j0 % p->ring) + cnt + ahead <= p->ring);
    const ptrdiff_t kpf = next_whole ? ahead * static_cast<ptrdiff_t>(k_stride) : 0;
    const ptrdiff_t vpf = next_whole ? ahead * static_cast<ptrdiff_t>(v_stride) : 0;
    size_t ks = 0;
    const uint8_t* keys = key_run(k, k_stride, 0, j0, cnt, p->ring, hb, gathered, &ks);
    if (!q8) {
      vo.scores_f16(cnt, keys, ks, D, q, group, s, chunk, kpf);
    } else if (q8_rows) {
      vo.scores_q8_0(cnt, keys, ks, D, qq, hb, group, s, chunk, kpf);
    } else {
      scores_q8_0_matmul(mk, cnt, keys, ks, D, qq, hb, group, s, chunk, kpf);
    }
    for (int i = 0; i < group; i++) {
      float* si = s + static_cast<size_t>(i) * chunk;
      float cmx;  // the chunk's largest score
      if (p->softcap > 0) {
        vo.scale(cnt, p->scale, si);
        vo.softcap(cnt, p->softcap, si);
        cmx = max_of(si, cnt);
      } else {
        cmx = vo.scale_max(cnt, p->scale, si);  // one pass instead of two
      }
      if (cmx > mx[i]) {  // rescale what was accumulated under the old maximum
        if (sum[i] != 0) {
          const float c = std::exp(mx[i] - cmx);
          sum[i] *= c;
          vo.scale(D, c, acc + static_cast<size_t>(i) * D);
        }
        mx[i] = cmx;
      }
      sum[i] += vo.exp_sub_sum(cnt, si, mx[i]);
    }
    for_ring_runs(j0, cnt, p->ring, [&](int64_t o, int64_t len, int64_t row) {
      (q8 ? vo.accum_q8_0 : vo.accum_f16)(len, s + o, chunk, v + row * v_stride, v_stride, D, group, acc, vpf);
    });
  }
};

GroupAttend group_attend(const OpParams& p, const TensorDesc& K, const TensorDesc& V) {
  GroupAttend g;
  g.p = &p;
  g.D = p.head_dim;
  g.group = p.n_head / p.n_kv_head;
  g.q8 = K.type == DType::Q8_0;
  g.hb = head_bytes(K.type, g.D);
  g.chunk = chunk_keys(g.hb);
  if (g.q8) g.mk = matmul_kernel(DType::Q8_0);
#if defined(MM_HAVE_AVX2_KERNELS)
  g.q8_rows = g.q8 && cpu_use_avx2();
#elif defined(__aarch64__) || defined(_M_ARM64)
  g.q8_rows = g.q8 && cpu_use_neon();  // NEON's (sdot where the CPU has it, vec_ops())
#endif
  g.k_stride = K.row_stride;
  g.v_stride = V.row_stride;
  return g;
}

#if defined(MM_HAVE_AVX2_KERNELS)
// Prefill: tasks of (KV head, a few consecutive query rows) x every query head
// of the group (up to kAttnMaxQueries vectors, or kAttnMaxQueriesWide for the
// AVX-512 kernel), run by attend_block. Over a
// q8_0 cache each query is first rounded to q8_0 (and back to floats).
void attention_blocks(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& q = a.src(0);  // [n, n_head * head_dim] f32
  const TensorDesc& K = a.src(1);  // [ctx, n_kv_head * head_dim] f16|q8_0
  const TensorDesc& V = a.src(2);  // [ctx, n_kv_head * head_dim] f16|q8_0
  const TensorDesc& d = a.dst();   // [n, n_head * head_dim] f32
  const OpParams& p = a.node.p;
  const int64_t N = q.rows_at(a.step.n_tokens), past = a.step.n_past;
  const int D = p.head_dim, group = p.n_head / p.n_kv_head;
  void (*attend)(const AttnBlock&) = avx2::attend_block;
  int max_q = kAttnMaxQueries;
#if defined(MM_HAVE_AVX512_KERNELS)
  if (cpu_use_avx512()) {
    attend = avx512::attend_block;
    // Blocks of up to 32 query vectors (the chunk's key transposition and K/V
    // reads shared by twice the queries: -6 to -13% attention time at depth
    // 3840-7680, head_dim 64-256) where that leaves every thread 4 tasks or more.
    const int64_t wide_rows = std::max(1, kAttnMaxQueriesWide / group);
    if ((N + wide_rows - 1) / wide_rows * p.n_kv_head >= 4 * static_cast<int64_t>(ctx.pool.size()))
      max_q = kAttnMaxQueriesWide;
  }
#endif
  const int rows_per_block = std::max(1, max_q / group);
  const int64_t blocks = (N + rows_per_block - 1) / rows_per_block, tasks = blocks * p.n_kv_head;
  const bool q8 = K.type == DType::Q8_0;
  const size_t hb = head_bytes(K.type, D);
  // + [max_q, D] rounded queries and one [D / 32] q8_0 block row (q8_0 cache).
  const size_t per_thread =
      attn_block_scratch_floats(max_q, D) + (q8 ? static_cast<size_t>(max_q) * D + floats_for(hb) : 0);
  float* scratch =
      reinterpret_cast<float*>(ctx.scratch(static_cast<size_t>(ctx.pool.size()) * per_thread * sizeof(float)));
  ctx.pool.run_chunks(tasks, [&](int64_t t, int ith) {
    const int kvh = static_cast<int>(t % p.n_kv_head);
    const int64_t i0 = (t / p.n_kv_head) * rows_per_block, i1 = std::min(N, i0 + rows_per_block);
    const float* qv[kAttnMaxQueriesWide];
    float* out[kAttnMaxQueriesWide];
    int64_t n_kv[kAttnMaxQueriesWide], kv_begin[kAttnMaxQueriesWide];
    int nq = 0;
    float* thread_scratch = scratch + per_thread * static_cast<size_t>(ith);
    float* rounded = thread_scratch + attn_block_scratch_floats(max_q, D);  // [max_q, D]
    void* blocks = rounded + static_cast<size_t>(max_q) * D;                // [D / 32] q8_0
    for (int64_t i = i0; i < i1; i++)
      for (int h = kvh * group; h < (kvh + 1) * group; h++, nq++) {
        qv[nq] = q.row_as<float>(i) + static_cast<int64_t>(h) * D;
        if (q8) {  // the query as the decode path's integer dots see it
          float* r = rounded + static_cast<size_t>(nq) * D;
          convert_activations(DType::Q8_0, qv[nq], blocks, D);
          dequantize_row(DType::Q8_0, blocks, r, D);
          qv[nq] = r;
        }
        out[nq] = d.row_as<float>(i) + static_cast<int64_t>(h) * D;
        n_kv[nq] = past + (i % a.step.n_tokens) + 1;
        kv_begin[nq] = p.window > 0 ? std::max<int64_t>(0, n_kv[nq] - p.window) : 0;
      }
    AttnBlock b;
    b.nq = nq;
    b.d = D;
    b.scale = p.scale;
    b.softcap = p.softcap;
    b.ring = p.ring;
    b.q = qv;
    b.n_kv = n_kv;
    b.kv_begin = kv_begin;
    b.q8 = q8;
    b.k = K.row(0) + static_cast<size_t>(kvh) * hb;
    b.k_stride = K.row_stride;
    b.v = V.row(0) + static_cast<size_t>(kvh) * hb;
    b.v_stride = V.row_stride;
    b.out = out;
    b.scratch = thread_scratch;
    attend(b);
  });
}

#endif

// Decode (one query row) over an f16 or q8_0 cache, flash-decoding: tasks of (KV heads,
// key range), each range a GroupAttend over every query head of a KV head's group, so
// the cache is read from memory once per KV head, not once per query head; a long
// context's ranges spread over every thread however few KV heads there are, and their
// parts are joined by their softmax maxima. One range (a short context) computes exactly
// what the row-by-row path does.
// Where every thread gets ranges of their own (a long context, or one thread), a task
// takes all KV heads of its range, a chunk of keys at a time for each head in turn: the
// cache rows (n_kv_head * head_dim wide; a head's part 128 bytes at SmolLM2's shape, the
// next head's right after it) are then read whole by one thread, not a head's part of
// every row by each (SmolLM2's shape at depth 4096, 2 threads, A/B in one process on a
// Zen 5: decode 70-73 -> 83-87 tok/s). Each head's arithmetic is unchanged. (Each head's
// step prefetches its part of the next chunk's rows: one prefetch sweep of the whole
// rows per chunk measured 81-88 tok/s against 97-101, none 75.)
void attention_decode(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& q = a.src(0);  // [1, n_head * head_dim] f32
  const TensorDesc& K = a.src(1);  // [ctx, n_kv_head * head_dim] f16|q8_0
  const TensorDesc& V = a.src(2);  // [ctx, n_kv_head * head_dim] f16|q8_0
  const TensorDesc& d = a.dst();   // [1, n_head * head_dim] f32
  const OpParams& p = a.node.p;
  const int64_t n_kv = a.step.n_past + 1;                                          // keys end here
  const int64_t kv_lo = p.window > 0 ? std::max<int64_t>(0, n_kv - p.window) : 0;  // and begin here
  const int64_t n_keys = n_kv - kv_lo;
  const int D = p.head_dim, group = p.n_head / p.n_kv_head, nth = ctx.pool.size();
  const VecOps& vo = vec_ops();
  GroupAttend ga = group_attend(p, K, V);
  // Key ranges: whole chunks, at least kMinKeys each (below that the join costs
  // more than spreading gains), at least two tasks per thread and as many for
  // each thread where the keys allow (one thread: one range, the row-by-row
  // path exactly).
  constexpr int64_t kMinKeys = 256;
  int64_t heads = 1;  // KV heads per task
  const auto split = [&](int64_t min_keys) {
    int64_t parts = 1;
    if (nth > 1) {
      const int64_t most = std::max<int64_t>(1, n_keys / min_keys);
      parts = std::min<int64_t>(most, (2 * nth + p.n_kv_head - 1) / p.n_kv_head);  // >= 2 tasks per thread
      for (int64_t r = parts; r <= most && r < parts + nth; r++)                   // an even share for every thread
        if ((r * p.n_kv_head) % nth == 0) {
          parts = r;
          break;
        }
    }
    return parts;
  };
  int64_t parts = split(kMinKeys);
  if (nth == 1 || n_keys / kMinKeys >= 2 * nth) {
    // Every head in each task: one range (one thread), or two ranges per thread.
    heads = p.n_kv_head;
    parts = nth == 1 ? 1 : 2 * nth;
  } else {
    // Heads over 64 wide, where kMinKeys leaves a thread idle or the shares uneven:
    // ranges of as few as kMinKeys * 64 / D keys, the same work per range as 256
    // keys at D = 64. Gemma-3 1B's shape (D = 256, one KV head) on two threads,
    // alternating A/B in one process (load 1.1): 300 keys -37% (one task before),
    // 1000 keys -21% (three ranges before); 600 and 2000 keys (even shares either
    // way) and D = 128 with two KV heads unchanged.
    const int64_t tasks0 = parts * p.n_kv_head;
    if (D > 64 && (tasks0 < nth || tasks0 % nth != 0)) parts = split(std::max<int64_t>(ga.chunk, kMinKeys * 64 / D));
  }
  const int64_t span = ((n_keys + parts - 1) / parts + ga.chunk - 1) / ga.chunk * ga.chunk;
  parts = (n_keys + span - 1) / span;
  const int64_t head_sets = (p.n_kv_head + heads - 1) / heads, tasks = head_sets * parts;
  const size_t per_head = ga.scratch_floats(), per_thread = per_head * static_cast<size_t>(heads);
  // Parts of a split context: [n_kv_head, parts, group, D] sums, [n_kv_head, parts, group] maxima and
  // denominators.
  const size_t n_parts = static_cast<size_t>(p.n_kv_head) * parts;
  const size_t part_floats = parts > 1 ? n_parts * group * (D + 2) : 0;
  float* ws =
      reinterpret_cast<float*>(ctx.scratch((static_cast<size_t>(nth) * per_thread + part_floats) * sizeof(float)));
  float* part_acc = ws + static_cast<size_t>(nth) * per_thread;
  float* part_max = part_acc + n_parts * group * D;
  float* part_den = part_max + n_parts * group;
  auto task = [&](int64_t t, int ith) {
    const int kv0 = static_cast<int>(t / parts * heads),
              kv1 = static_cast<int>(std::min<int64_t>(p.n_kv_head, kv0 + heads));
    const int64_t r = t % parts, j_begin = kv_lo + r * span, j_end = std::min(n_kv, j_begin + span);
    float* w0 = ws + static_cast<size_t>(ith) * per_thread;
    const auto head = [&](int kvh) {  // KV head kvh's GroupAttend, its queries and its scratch
      GroupAttend g = ga;
      g.k = K.row(0) + static_cast<size_t>(kvh) * ga.hb;
      g.v = V.row(0) + static_cast<size_t>(kvh) * ga.hb;
      return g;
    };
    const auto qh = [&](int kvh) { return q.row_as<float>(0) + static_cast<int64_t>(kvh) * group * D; };
    const auto wh = [&](int kvh) { return w0 + static_cast<size_t>(kvh - kv0) * per_head; };
    for (int kvh = kv0; kvh < kv1; kvh++) head(kvh).begin(qh(kvh), wh(kvh));
    for (int64_t j0 = j_begin; j0 < j_end; j0 += ga.chunk)
      for (int kvh = kv0; kvh < kv1; kvh++) head(kvh).step(qh(kvh), j0, j_end, wh(kvh));
    for (int kvh = kv0; kvh < kv1; kvh++) {
      const float* acc = wh(kvh);                              // [group, D]
      const float* mx = acc + static_cast<size_t>(group) * D;  // [group]
      const float* sum = mx + group;                           // [group]
      for (int i = 0; i < group; i++) {
        const float* ai = acc + static_cast<size_t>(i) * D;
        if (parts == 1) {
          float* out = d.row_as<float>(0) + static_cast<int64_t>(kvh * group + i) * D;
          const float inv = 1.0f / sum[i];
          for (int k = 0; k < D; k++) out[k] = ai[k] * inv;
        } else {
          const size_t at = (static_cast<size_t>(kvh) * parts + r) * group + i;
          std::copy(ai, ai + D, part_acc + at * D);
          part_max[at] = mx[i];
          part_den[at] = sum[i];
        }
      }
    }
  };
  // A short context (early decode steps) is not worth waking the pool.
  if (static_cast<int64_t>(p.n_head) * n_keys * D < 16 * 1024) {
    for (int64_t t = 0; t < tasks; t++) task(t, 0);
  } else {
    ctx.pool.run_chunks(tasks, task);
  }
  if (parts == 1) return;
  for (int h = 0; h < p.n_head; h++) {
    const int kvh = h / group, i = h % group;
    auto at = [&](int64_t r) { return (static_cast<size_t>(kvh) * parts + r) * group + i; };
    float m = -INFINITY;
    for (int64_t r = 0; r < parts; r++) m = std::max(m, part_max[at(r)]);
    float* out = d.row_as<float>(0) + static_cast<int64_t>(h) * D;
    std::fill(out, out + D, 0.0f);
    float den = 0;
    for (int64_t r = 0; r < parts; r++) {
      const float w = std::exp(part_max[at(r)] - m);
      den += part_den[at(r)] * w;
      vo.axpy_f32(D, w, part_acc + at(r) * D, out);
    }
    vo.scale(D, 1.0f / den, out);
  }
}
}  // namespace

void op_attention(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& q = a.src(0);  // [n, n_head * head_dim] f32
  const TensorDesc& K = a.src(1);  // [ctx, n_kv_head * head_dim] f32|f16|q8_0
  const TensorDesc& V = a.src(2);  // [ctx, n_kv_head * head_dim] f32|f16|q8_0 (q8_0 with q8_0 only)
  const TensorDesc& d = a.dst();   // [n, n_head * head_dim] f32
  const OpParams& p = a.node.p;
  const int64_t N = q.rows_at(a.step.n_tokens), past = a.step.n_past;
  const bool q8 = K.type == DType::Q8_0;
  if (q8 != (V.type == DType::Q8_0) || (q8 && p.head_dim % QK8_0 != 0))
    fail(ErrorCode::InvalidArg, "attention: a q8_0 KV cache needs q8_0 K and V and head_dim % 32 == 0");
  const int D = p.head_dim, group = p.n_head / p.n_kv_head;
  const float scale = p.scale;
  const TensorDesc* spans = a.has_src(3) ? &a.src(3) : nullptr;  // [n, 2] i32: first cache row, rows
  int64_t max_kv = past + N;
  if (spans) {
    max_kv = 0;
    for (int64_t i = 0; i < N; i++) {
      const int32_t* sp = spans->row_as<int32_t>(i);
      // A ring slot holds the last `ring` positions of its sequence in rows [sp[0], sp[0] + ring).
      const int64_t slot_rows = p.ring > 0 ? std::min<int64_t>(sp[1], p.ring) : sp[1];
      if (sp[0] < 0 || sp[1] < 1 || int64_t(sp[0]) + slot_rows > K.rows)
        fail(ErrorCode::InvalidArg, "attention: span [" + std::to_string(sp[0]) + ", +" + std::to_string(sp[1]) +
                                        ") of row " + std::to_string(i) + " is not inside the cache of " +
                                        std::to_string(K.rows) + " rows");
      max_kv = std::max<int64_t>(max_kv, sp[1]);
    }
  }
#if defined(MM_HAVE_AVX2_KERNELS)
  // Several query rows (prefill) over an f16 or q8_0 cache: the block kernel.
  const bool half = K.type == DType::F16 && V.type == DType::F16;
  if (!spans && N >= 2 && cpu_use_avx2() && (half || q8) && p.head_dim % 16 == 0 &&
      p.n_head / p.n_kv_head <= kAttnMaxQueries)
    return attention_blocks(ctx, a);
#endif
  // One query row over an f16 or q8_0 cache (decode): by KV head and key range.
  if (!spans && N == 1 && ((K.type == DType::F16 && V.type == DType::F16 && D % 8 == 0) || q8))
    return attention_decode(ctx, a);
  const int nth = ctx.pool.size();
  const auto kv_range = [&](int64_t i, int64_t* begin, int64_t* end) {  // row i's keys, its slot's first row
    const int32_t* sp = spans ? spans->row_as<int32_t>(i) : nullptr;
    *end = sp ? sp[1] : past + (i % a.step.n_tokens) + 1;
    *begin = p.window > 0 ? std::max<int64_t>(0, *end - p.window) : 0;
    return sp ? sp[0] : 0;
  };
  // f16 (head_dim % 8 == 0, every real model) or q8_0 K and V: a GroupAttend per
  // (query row, KV head), the same as decode's for one range.
  if ((K.type == DType::F16 && V.type == DType::F16 && D % 8 == 0) || q8) {
    GroupAttend ga = group_attend(p, K, V);
    const int64_t tasks = N * p.n_kv_head;
    const size_t per_thread = ga.scratch_floats();
    float* ws = reinterpret_cast<float*>(ctx.scratch(static_cast<size_t>(nth) * per_thread * sizeof(float)));
    auto task = [&](int64_t t, int ith) {
      const int64_t i = t / p.n_kv_head;
      const int kvh = static_cast<int>(t % p.n_kv_head);
      int64_t begin = 0, end = 0;
      const int64_t slot = kv_range(i, &begin, &end);
      GroupAttend g = ga;
      g.k = K.row(slot) + static_cast<size_t>(kvh) * ga.hb;
      g.v = V.row(slot) + static_cast<size_t>(kvh) * ga.hb;
      float* w = ws + static_cast<size_t>(ith) * per_thread;
      g.run(q.row_as<float>(i) + static_cast<int64_t>(kvh) * group * D, begin, end, w);
      const float* sum = w + static_cast<size_t>(group) * (D + 1);  // [group] denominators
      for (int h = 0; h < group; h++) {
        float* out = d.row_as<float>(i) + static_cast<int64_t>(kvh * group + h) * D;
        const float inv = 1.0f / sum[h];
        for (int k = 0; k < D; k++) out[k] = w[static_cast<size_t>(h) * D + k] * inv;
      }
    };
    // A single short query (early decode steps) is not worth waking the pool.
    if (N * p.n_head * max_kv * D < 16 * 1024) {
      for (int64_t t = 0; t < tasks; t++) task(t, 0);
    } else {
      ctx.pool.run_chunks(tasks, task);
    }
    return;
  }
  // f32 caches (and odd head sizes): row by row, (query row, head) per task.
  const VecDotFn kdot = matmul_kernel(K.type).dot;  // f32 or f16 row . f32 query
  const VecOps& vo = vec_ops();
  const bool v_half = V.type == DType::F16;
  const size_t k_hb = head_bytes(K.type, D), v_hb = head_bytes(V.type, D);
  const int64_t tasks = N * p.n_head;
  // Per thread: [head_dim] accumulator + [kChunk] scores.
  const size_t per_thread = static_cast<size_t>(D) + kChunk;
  float* scratch = reinterpret_cast<float*>(ctx.scratch(static_cast<size_t>(nth) * per_thread * sizeof(float)));

  // Small chunks claimed dynamically: causal rows grow with i, so equal
  // contiguous ranges would give the last thread most of the work.
  const int64_t chunks = std::min<int64_t>(tasks, 16 * nth), per = (tasks + chunks - 1) / chunks;
  const auto row_of = [&](int64_t j) { return p.ring > 0 ? j % p.ring : j; };  // cache row of key position j
  auto body = [&](int64_t c, int ith) {
    float* acc = scratch + static_cast<size_t>(ith) * per_thread;
    float* s = acc + D;
    for (int64_t t = c * per, t_end = std::min(tasks, t + per); t < t_end; t++) {
      const int64_t i = t / p.n_head;
      const int h = static_cast<int>(t % p.n_head), kvh = h / group;
      const float* qh = q.row_as<float>(i) + static_cast<int64_t>(h) * D;
      const size_t k_off = static_cast<size_t>(kvh) * k_hb, v_off = static_cast<size_t>(kvh) * v_hb;
      int64_t kv_begin = 0, n_kv = 0;
      const int64_t slot = kv_range(i, &kv_begin, &n_kv);
      const uint8_t* k_base = K.row(slot);
      const uint8_t* v_base = V.row(slot);
      float mx = -INFINITY, sum = 0;
      std::fill(acc, acc + D, 0.0f);
      for (int64_t j0 = kv_begin; j0 < n_kv; j0 += kChunk) {
        const int64_t cnt = std::min(kChunk, n_kv - j0);
        float cmx = -INFINITY;
        for (int64_t j = 0; j < cnt; j++) s[j] = kdot(D, k_base + row_of(j0 + j) * K.row_stride + k_off, qh) * scale;
        if (p.softcap > 0) vo.softcap(cnt, p.softcap, s);
        for (int64_t j = 0; j < cnt; j++) cmx = std::max(cmx, s[j]);
        if (cmx > mx) {  // rescale what was accumulated under the old maximum
          if (sum != 0) {
            const float c = std::exp(mx - cmx);
            sum *= c;
            vo.scale(D, c, acc);
          }
          mx = cmx;
        }
        sum += vo.exp_sub_sum(cnt, s, mx);
        if (v_half)
          for (int64_t j = 0; j < cnt; j++)
            vo.axpy_f16(D, s[j], reinterpret_cast<const uint16_t*>(v_base + row_of(j0 + j) * V.row_stride + v_off),
                        acc);
        else
          for (int64_t j = 0; j < cnt; j++)
            vo.axpy_f32(D, s[j], reinterpret_cast<const float*>(v_base + row_of(j0 + j) * V.row_stride + v_off), acc);
      }
      float* out = d.row_as<float>(i) + static_cast<int64_t>(h) * D;
      const float inv = 1.0f / sum;
      for (int k = 0; k < D; k++) out[k] = acc[k] * inv;
    }
  };
  // A single short query (early decode steps) is not worth waking the pool.
  if (tasks * max_kv * D < 16 * 1024) {
    for (int64_t c = 0; c * per < tasks; c++) body(c, 0);
    return;
  }
  ctx.pool.run_chunks((tasks + per - 1) / per, body);
}

}  // namespace mm
