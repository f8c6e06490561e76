// Token sampling over one row of logits in O(vocab), never sorting the
// vocabulary: top-k -> top-p -> min-p -> temperature -> draw, llama.cpp's
// order and the semantics of a sort-based sampler (candidates ranked by logit,
// ties by lower token id; top-p keeps the shortest prefix whose probability
// reaches p; the draw walks the ranked candidates until the running
// probability passes r).
//
// Every step that needs "the candidate at which a running sum over the ranked
// candidates reaches a target" (top-k: a count, top-p and the draw: a
// probability mass) buckets the candidates by logit: 4096 buckets spanning
// [min, max] are ordered like the logits, so one pass sums the weight per
// bucket, the prefix sum over buckets finds the one holding the answer, and
// only that bucket's few candidates are ranked exactly (quickselect by weight
// when a bucket is large, e.g. many equal logits).
//
// Cost (issue 13: a 151,936-token row each token): few passes over the row.
// One copies it with NaN as -inf and finds its bounds; one computes the
// weights and their sum (vec_ops: AVX2 where available); buckets are computed
// once per row and move along with the cuts; the bucket sums start with the
// top buckets, where the answer mostly is; ids are positions until the first
// cut. Every sum keeps its order, so the draws are the same bits as a plain
// pass-by-pass loop.
#include "../core/host.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "vec_dot.h"

namespace mm {
namespace {

constexpr int kBuckets = 4096;
constexpr int64_t kSmall = 64;      // candidates ranked by a plain sort
constexpr int64_t kHeapMax = 4096;  // top-k by a size-k heap up to this k

// The candidate set: logits (NaN as -inf) with their token ids, and a weight
// per candidate. Scratch of the calling thread, reused across calls. Until the
// first cut the candidates are the whole row in order, so a candidate's id is
// its position and `id` is not written (one pass less).
struct Cands {
  std::vector<float> val;     // [n]
  std::vector<int32_t> id;    // [n], unless ident
  std::vector<float> w;       // [n]
  std::vector<uint16_t> bkt;  // [n] bucket of each candidate, once have_bkt
  std::vector<double> mass;   // [kBuckets]
  std::vector<int64_t> pos;   // positions in one bucket
  int64_t n = 0;
  bool ident = false;     // id[i] == i
  bool have_bkt = false;  // bkt holds the buckets of val (they depend only on val, vmin, vmax)
  float scale = 0;        // buckets per unit of logit
  int32_t id_of(int64_t i) const { return ident ? static_cast<int32_t>(i) : id[i]; }
};

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Largest value and smallest finite one of x[0, n); NaN is skipped.
void min_max(const float* x, int64_t n, float* mn, float* mx) {
  float lo = std::numeric_limits<float>::max(), hi = kNegInf;
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 ninf = _mm_set1_ps(kNegInf), big = _mm_set1_ps(lo);
  __m128 hi4 = ninf, lo4 = big;
  for (; i + 4 <= n; i += 4) {
    const __m128 v = _mm_loadu_ps(x + i);
    hi4 = _mm_max_ps(v, hi4);  // NaN v: keeps hi4
    const __m128 finite = _mm_cmpgt_ps(v, ninf);
    lo4 = _mm_min_ps(_mm_or_ps(_mm_and_ps(finite, v), _mm_andnot_ps(finite, big)), lo4);
  }
  alignas(16) float h[4], l[4];
  _mm_store_ps(h, hi4);
  _mm_store_ps(l, lo4);
  for (int j = 0; j < 4; j++) {
    hi = h[j] > hi ? h[j] : hi;
    lo = l[j] < lo ? l[j] : lo;
  }
#endif
  for (; i < n; i++) {
    const float v = x[i];
    hi = v > hi ? v : hi;
    lo = v < lo && v > kNegInf ? v : lo;
  }
  *mn = lo;
  *mx = hi;
}

// bkt[i] = the bucket of v[i]: (vmax - v) * scale truncated, at most kBuckets - 1
// (-inf and NaN land in the last); monotone in v, so buckets keep the rank order.
void buckets(const float* v, int64_t n, float vmax, float scale, uint16_t* bkt) {
  const float top = static_cast<float>(kBuckets - 1);
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 vm = _mm_set1_ps(vmax), sc = _mm_set1_ps(scale), tp = _mm_set1_ps(top);
  for (; i + 8 <= n; i += 8) {
    // min(d, top) returns top for a NaN d
    const __m128 d0 = _mm_min_ps(_mm_mul_ps(_mm_sub_ps(vm, _mm_loadu_ps(v + i)), sc), tp);
    const __m128 d1 = _mm_min_ps(_mm_mul_ps(_mm_sub_ps(vm, _mm_loadu_ps(v + i + 4)), sc), tp);
    const __m128i b = _mm_packs_epi32(_mm_cvttps_epi32(d0), _mm_cvttps_epi32(d1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bkt + i), b);
  }
#endif
  for (; i < n; i++) {
    const float d = (vmax - v[i]) * scale;
    bkt[i] = static_cast<uint16_t>(d < top ? static_cast<int>(d) : kBuckets - 1);
  }
}

// Rank order: a higher logit first, equal logits by lower token id.
inline bool ahead(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

// The running-sum condition: the draw stops when the sum passes r (strict),
// top-p and top-k when it reaches their target.
inline bool reached(double cum, double target, bool strict) { return strict ? cum > target : cum >= target; }

// Among positions p[0, m) (any order), the first in rank order at which
// acc + the running weight sum reaches `target`; the last-ranked one if none
// does. Quickselect by weight: expected O(m).
int64_t select_positions(const Cands& c, int64_t* p, int64_t m, double acc, double target, bool strict,
                         const bool unit) {
  auto wt = [&](int64_t q) -> double { return unit ? 1.0 : c.w[q]; };
  auto before = [&](int64_t a, int64_t b) { return ahead(c.val[a], c.id_of(a), c.val[b], c.id_of(b)); };
  int64_t lo = 0, hi = m;
  while (hi - lo > kSmall) {
    // Median of three as the pivot, moved to hi - 1.
    const int64_t mid = lo + (hi - lo) / 2;
    if (before(p[mid], p[lo])) std::swap(p[mid], p[lo]);
    if (before(p[hi - 1], p[lo])) std::swap(p[hi - 1], p[lo]);
    if (before(p[mid], p[hi - 1])) std::swap(p[mid], p[hi - 1]);
    const int64_t pv = p[hi - 1];
    int64_t store = lo;
    double up = 0;  // weight ranked ahead of the pivot
    for (int64_t i = lo; i < hi - 1; i++)
      if (before(p[i], pv)) {
        std::swap(p[i], p[store]);
        up += wt(p[store]);
        store++;
      }
    std::swap(p[store], p[hi - 1]);
    if (reached(acc + up, target, strict)) {
      hi = store;
      continue;
    }
    acc += up;
    if (reached(acc + wt(p[store]), target, strict)) return p[store];
    acc += wt(p[store]);
    lo = store + 1;
  }
  std::sort(p + lo, p + hi, before);
  for (int64_t i = lo; i < hi; i++) {
    acc += wt(p[i]);
    if (reached(acc, target, strict)) return p[i];
  }
  return p[hi - 1];  // not reached (rounding): the last ranked so far
}

// mass[b] += the weight (c.w, or 1 each with `unit`) of every candidate in
// bucket b, for b < to (all with to == kBuckets), in position order.
void add_mass(const Cands& c, bool unit, int to, double* mass) {
  const uint16_t* bkt = c.bkt.data();
  const float* w = c.w.data();
  const int64_t n = c.n;
  int64_t i = 0;
  if (to < kBuckets) {
    auto add = [&](int64_t j) {
      if (bkt[j] < to) mass[bkt[j]] += unit ? 1.0 : w[j];
    };
#if defined(__SSE2__)
    // Few candidates lie in the top buckets: test 8 at a time.
    const __m128i lim = _mm_set1_epi16(static_cast<int16_t>(to));
    for (; i + 8 <= n; i += 8)
      if (_mm_movemask_epi8(_mm_cmplt_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bkt + i)), lim)))
        for (int e = 0; e < 8; e++) add(i + e);
#endif
    for (; i < n; i++) add(i);
  } else if (unit) {
    for (; i < n; i++) mass[bkt[i]] += 1.0;
  } else {
    for (; i + 4 <= n; i += 4) {
      mass[bkt[i]] += w[i];
      mass[bkt[i + 1]] += w[i + 1];
      mass[bkt[i + 2]] += w[i + 2];
      mass[bkt[i + 3]] += w[i + 3];
    }
    for (; i < n; i++) mass[bkt[i]] += w[i];
  }
}

// The first bucket in [from, to) at which the running sum from acc reaches the
// target (acc: the sum before it), or -1 with acc the sum through bucket to - 1;
// last: the last non-empty bucket seen.
int first_reaching(const double* mass, int from, int to, double& acc, double target, bool strict, int& last) {
  for (int b = from; b < to; b++) {
    if (mass[b] == 0) continue;
    last = b;
    if (reached(acc + mass[b], target, strict)) return b;
    acc += mass[b];
  }
  return -1;
}

// The position (in c) of the first ranked candidate at which the running
// weight sum reaches `target` (weights c.w, or 1 each with `unit`).
// vmin, vmax: bounds of the candidates' logits (vmin: of the finite ones; a
// bound of a superset serves, with coarser buckets). Every call on one row
// passes the same bounds, so the buckets are computed once and kept through cuts.
// total, temperature: the sum of the weights exp((val - vmax) / temperature)
// (total 0 with unit weights).
int64_t select_by_weight(Cands& c, float vmin, float vmax, double target, bool strict, bool unit, double total = 0,
                         float temperature = 1) {
  const int64_t n = c.n;
  std::vector<int64_t>& pos = c.pos;
  if (n <= kSmall) {
    pos.resize(n);
    for (int64_t i = 0; i < n; i++) pos[i] = i;
    return select_positions(c, pos.data(), n, 0, target, strict, unit);
  }
  if (!c.have_bkt) {
    const float span = vmax - vmin;
    c.scale = span > 0 && std::isfinite(span) ? static_cast<float>(kBuckets) / span : 0.0f;
    buckets(c.val.data(), n, vmax, c.scale, c.bkt.data());
    c.have_bkt = true;
  }
  const uint16_t* bkt = c.bkt.data();
  double* mass = c.mass.data();
  // The answer mostly lies in the top buckets (the probable tokens). A weight
  // in bucket b or past it is at most exp(-b / (scale * temperature)), so the
  // buckets from `top` on hold less than the mass past the target (with a
  // margin of 2 for rounding): sum the buckets before `top` first (a cheap
  // pass when few candidates are there), all of them only if the target lies
  // past (rounding). A bucket's sum is the same either way (its candidates in
  // position order), and so is the answer.
  int top = kBuckets;
  const double spare = total - target;
  if (!unit && spare > 0 && c.scale > 0) {
    const double t = std::ceil(static_cast<double>(c.scale) * temperature * std::log(2.0 * n / spare)) + 1;
    if (t < kBuckets) top = std::max(1, static_cast<int>(t));
  }
  std::fill(mass, mass + kBuckets, 0.0);
  double acc = 0;
  int last = 0;
  add_mass(c, unit, top, mass);
  int b = first_reaching(mass, 0, top, acc, target, strict, last);
  if (b < 0 && top < kBuckets) {
    std::fill(mass, mass + top, 0.0);  // summed again, in the same order, with the rest
    add_mass(c, unit, kBuckets, mass);
    b = first_reaching(mass, top, kBuckets, acc, target, strict, last);
  }
  if (b < 0) {  // never reached (rounding): the last-ranked candidate of the last bucket
    b = last;
    acc -= mass[b];
  }
  pos.clear();
  const uint16_t want = static_cast<uint16_t>(b);
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128i wv = _mm_set1_epi16(static_cast<int16_t>(want));
  for (; i + 8 <= n; i += 8) {
    const __m128i eq = _mm_cmpeq_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bkt + i)), wv);
    if (_mm_movemask_epi8(eq))
      for (int e = 0; e < 8; e++)
        if (bkt[i + e] == want) pos.push_back(i + e);
  }
#endif
  for (; i < n; i++)
    if (bkt[i] == want) pos.push_back(i);
  return select_positions(c, pos.data(), static_cast<int64_t>(pos.size()), acc, target, strict, unit);
}

// Keeps the candidates i with keep(i) (false for most: blocks of 4 whose
// values all lie below `floor` are skipped), in order; ids and buckets move along.
template <typename Keep>
void compact(Cands& c, float floor, Keep keep) {
  float* val = c.val.data();
  int32_t* id = c.id.data();
  uint16_t* bkt = c.bkt.data();
  const bool ident = c.ident, with_bkt = c.have_bkt;
  int64_t m = 0, i = 0;
  auto take = [&](int64_t j) {
    if (!keep(j)) return;
    const int32_t t = ident ? static_cast<int32_t>(j) : id[j];
    val[m] = val[j];
    id[m] = t;
    if (with_bkt) bkt[m] = bkt[j];
    m++;
  };
#if defined(__SSE2__)
  const __m128 f = _mm_set1_ps(floor);
  for (; i + 4 <= c.n; i += 4)
    if (_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(val + i), f)))
      for (int e = 0; e < 4; e++) take(i + e);
#endif
  for (; i < c.n; i++) take(i);
  c.n = m;
  c.ident = false;
}

// Keeps the candidates ranked up to and including the one at position f.
void keep_through(Cands& c, int64_t f) {
  const float fv = c.val[f];
  const int32_t fi = c.id_of(f);
  const float* val = c.val.data();
  const Cands& cc = c;
  // Only values >= fv can rank ahead of f (a NaN-free row: NaN became -inf).
  compact(c, fv, [&](int64_t i) {
    const int32_t t = cc.id_of(i);
    return t == fi || ahead(val[i], t, fv, fi);
  });
}

// c.w = exp((val - vmax) / temperature) as exp(val * (1 / t) - vmax * (1 / t)); returns their sum.
double probabilities(Cands& c, float vmax, float temperature) {
  const float inv = 1.0f / temperature;
  return vec_ops().exp_scale_sum(c.n, c.val.data(), inv, vmax * inv, c.w.data());
}

// The k best candidates of logits[0, V) by a size-k heap (root: the weakest kept).
void top_k_heap(Cands& c, const float* logits, int64_t V, int64_t k) {
  auto weaker = [&](int64_t a, int64_t b) { return ahead(c.val[a], c.id[a], c.val[b], c.id[b]); };
  std::vector<int64_t>& h = c.pos;
  h.resize(k);
  for (int64_t i = 0; i < k; i++) {
    c.val[i] = logits[i] == logits[i] ? logits[i] : kNegInf;  // NaN: never drawn
    c.id[i] = static_cast<int32_t>(i);
    h[i] = i;
  }
  std::make_heap(h.begin(), h.end(), weaker);
  auto offer = [&](int64_t t) {
    const float v = logits[t];
    if (!(v > c.val[h[0]])) return;  // ties keep the lower id, already kept
    const int64_t slot = h[0];
    std::pop_heap(h.begin(), h.end(), weaker);
    c.val[slot] = v;
    c.id[slot] = static_cast<int32_t>(t);
    h[k - 1] = slot;
    std::push_heap(h.begin(), h.end(), weaker);
  };
  int64_t t = k;
#if defined(__SSE2__)
  // Most logits lose to the weakest kept one: test 8 at a time against it.
  for (; t + 8 <= V; t += 8) {
    const __m128 w = _mm_set1_ps(c.val[h[0]]);
    const int m = _mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits + t), w)) |
                  (_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits + t + 4), w)) << 4);
    if (m)
      for (int e = 0; e < 8; e++) offer(t + e);
  }
#endif
  for (; t < V; t++) offer(t);
  c.n = k;
  c.ident = false;
}

}  // namespace

int32_t argmax_logits(const float* x, int64_t n) {
  float mn, mx;
  min_max(x, n, &mn, &mx);  // NaN never compares greater
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 m = _mm_set1_ps(mx);
  for (; i + 4 <= n; i += 4)
    if (_mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), m))) break;
#endif
  for (; i < n; i++)
    if (x[i] == mx) return static_cast<int32_t>(i);
  return 0;  // all NaN
}

int32_t sample_logits(const float* logits, int64_t V, const SampleParams& p, double r) {
  if (p.temperature <= 0) return argmax_logits(logits, V);
  thread_local Cands c;
  c.val.resize(V);
  c.id.resize(V);
  c.w.resize(V);
  c.bkt.resize(V);
  c.mass.resize(kBuckets);
  c.have_bkt = false;
  const int64_t k = p.top_k > 0 ? std::min<int64_t>(p.top_k, V) : V;
  float vmin, vmax;
  if (k <= kHeapMax && k < V) {
    top_k_heap(c, logits, V, k);
    min_max(c.val.data(), c.n, &vmin, &vmax);
  } else {
    vec_ops().finite_min_max(V, logits, c.val.data(), &vmin, &vmax);  // NaN: -inf, never drawn
    c.n = V;
    c.ident = true;
  }
  // An infinite best candidate (the lowest id among equal best ones) is the
  // answer without probabilities.
  if (!std::isfinite(vmax)) {
    int64_t top = -1;
    for (int64_t i = 0; i < c.n; i++)
      if (c.val[i] == vmax && (top < 0 || c.id_of(i) < c.id_of(top))) {
        top = i;
        if (c.ident) break;  // ids ascend: the first is the lowest
      }
    return c.id_of(top);
  }
  if (k < c.n) keep_through(c, select_by_weight(c, vmin, vmax, static_cast<double>(k), false, true));
  if (p.top_p < 1) {
    const double total = probabilities(c, vmax, 1.0f);
    keep_through(c, select_by_weight(c, vmin, vmax, p.top_p * total, false, false, total, 1.0f));
  }
  if (p.min_p > 0) {
    // p_i >= min_p * p_max  <=>  logit_i >= logit_max + ln(min_p)
    const double threshold = static_cast<double>(vmax) + std::log(p.min_p);
    // A float at or below every float >= threshold bounds the skipped blocks.
    const float floor = std::nextafter(static_cast<float>(threshold), kNegInf);
    const float* val = c.val.data();
    compact(c, floor, [&](int64_t i) { return static_cast<double>(val[i]) >= threshold; });
    // the best candidate always stays
  }
  const double total = probabilities(c, vmax, static_cast<float>(p.temperature));
  return c.id_of(select_by_weight(c, vmin, vmax, r * total, true, false, total, static_cast<float>(p.temperature)));
}

}  // namespace mm
