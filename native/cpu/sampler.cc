// Token sampling over one row of logits in O(vocab), never sorting the
// vocabulary: top-k -> top-p -> min-p -> temperature -> draw, llama.cpp's
// order and the semantics of a sort-based sampler (candidates ranked by logit,
// ties by lower token id; top-p keeps the shortest prefix whose probability
// reaches p; the draw walks the ranked candidates until the running
// probability passes r).
//
// Every cut keeps a prefix of the ranked candidates, so the candidate set is
// always "every candidate ranked up to some one". It is kept as buckets: up to
// 4096 buckets spanning [max, min] (about 8 candidates each) are ordered like
// the logits; the set is every candidate of the buckets before `cut` plus
// `members`, a rank prefix of bucket `cut`'s candidates. One pass over the row
// (vec_ops' bucket_mass) sums, per bucket, what each step needs: the count
// (top-k), the weight at temperature 1 (top-p) and at the sampling temperature
// (the draw). A step walks the bucket sums to the bucket holding its answer and
// ranks only that bucket's few candidates exactly (quickselect by weight when
// it is large, e.g. many equal logits); min-p is a logit threshold, so it cuts
// at the threshold's bucket, or, without top-p, first of all (its prefix and
// top-k's commute).
//
// Cost on a 151,936-token row (issue 13): one read for the bounds, one for the
// bucket sums (the weights are never stored), and one scan per step whose
// answer lies in a bucket before the cut, to collect that bucket's candidates;
// no copy of the row. top_k <= 4096 first keeps the k best by a heap, and
// min-p without top-p keeps its few candidates (each one read that mostly
// compares); the steps then run on those.
//
// Threads (a backend's, idle between two decode steps): a row of 16384
// candidates or more is cut into up to 4 spans, a function of its length
// alone; the bounds, the bucket sums and the members are found span by span,
// a span per chunk of work, and joined in span order (each span's bucket sums
// in position order, then added span after span), so a draw is the same on 1
// thread or 8, and at every kernel level.
#include "../core/host.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "vec_dot.h"

namespace mm {
namespace {

constexpr int kBuckets = 4096;      // buckets for a row of 32768 candidates or more
constexpr int64_t kSmall = 64;      // candidates ranked by a plain sort
constexpr int64_t kHeapMax = 4096;  // top-k by a size-k heap up to this k
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kSpanMin = 16384;  // candidates in a span at least
constexpr int kSpansMax = 4;

// How many spans a row of n candidates is cut into: a function of n alone.
inline int span_count(int64_t n) { return static_cast<int>(std::clamp<int64_t>(n / kSpanMin, 1, kSpansMax)); }
// Where span s (of `spans`) starts; a multiple of 64 but the end.
inline int64_t span_begin(int64_t n, int64_t s, int spans) { return s >= spans ? n : (n * s / spans) & ~int64_t{63}; }

// Runs fn(s) for every span s of `spans`, on par's threads when given.
void each_span(const ParallelFor* par, int spans, const std::function<void(int64_t)>& fn) {
  if (par && spans > 1)
    (*par)(spans, fn);
  else
    for (int64_t s = 0; s < spans; s++) fn(s);
}

// vec_ops' finite_min_max over x[0, n), span by span (the same answer: order does not matter to it).
void min_max(const ParallelFor* par, int64_t n, const float* x, float* mn, float* mx) {
  const int spans = par ? span_count(n) : 1;
  if (spans == 1) return vec_ops().finite_min_max(n, x, mn, mx);
  float lo[kSpansMax], hi[kSpansMax];
  each_span(par, spans, [&](int64_t s) {
    const int64_t a = span_begin(n, s, spans);
    vec_ops().finite_min_max(span_begin(n, s + 1, spans) - a, x + a, &lo[s], &hi[s]);
  });
  *mn = *std::min_element(lo, lo + spans);
  *mx = *std::max_element(hi, hi + spans);
}

inline float clean(float v) { return v == v ? v : kNegInf; }  // NaN ranks as -inf: never drawn

// One candidate of the bucket a step ranks exactly, with the weight the step sums.
struct Member {
  float v;
  int32_t id;
  double w;
};

// Grows v to at least n elements, never shrinks it (no refill when a row of
// another size comes between).
template <typename T>
void reserve_size(std::vector<T>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
}

// Rank order: a higher logit first, equal logits by lower token id.
inline bool ahead(const Member& a, const Member& b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

// The running-sum condition: the draw stops when the sum passes r (strict),
// top-p and top-k when it reaches their target.
inline bool reached(double cum, double target, bool strict) { return strict ? cum > target : cum >= target; }

// Among p[0, m) (any order), the first in rank order at which acc + the running
// weight sum reaches `target`, the last-ranked one if none does; p is reordered
// so that p[0, j] are exactly the candidates ranked up to it, and j is returned.
// Quickselect by weight: expected O(m).
int64_t rank_prefix(Member* p, int64_t m, double acc, double target, bool strict) {
  int64_t lo = 0, hi = m;
  while (hi - lo > kSmall) {
    // Median of three as the pivot, moved to hi - 1.
    const int64_t mid = lo + (hi - lo) / 2;
    if (ahead(p[mid], p[lo])) std::swap(p[mid], p[lo]);
    if (ahead(p[hi - 1], p[lo])) std::swap(p[hi - 1], p[lo]);
    if (ahead(p[mid], p[hi - 1])) std::swap(p[mid], p[hi - 1]);
    const Member pv = p[hi - 1];
    int64_t store = lo;
    double up = 0;  // weight ranked ahead of the pivot
    for (int64_t i = lo; i < hi - 1; i++)
      if (ahead(p[i], pv)) {
        std::swap(p[i], p[store]);
        up += p[store].w;
        store++;
      }
    std::swap(p[store], p[hi - 1]);
    if (reached(acc + up, target, strict)) {
      hi = store;
      continue;
    }
    acc += up;
    if (reached(acc + p[store].w, target, strict)) return store;
    acc += p[store].w;
    lo = store + 1;
  }
  std::sort(p + lo, p + hi, ahead);
  for (int64_t i = lo; i < hi; i++) {
    acc += p[i].w;
    if (reached(acc, target, strict)) return i;
  }
  return hi - 1;  // not reached (rounding): the last ranked so far
}

// The k best of logits[0, V) by a size-k heap (root: the weakest kept), into
// val / id (NaN as -inf).
void top_k_heap(const float* logits, int64_t V, int64_t k, std::vector<float>& val, std::vector<int32_t>& id,
                std::vector<int64_t>& h) {
  auto weaker = [&](int64_t a, int64_t b) { return val[a] > val[b] || (val[a] == val[b] && id[a] < id[b]); };
  reserve_size(val, k);
  reserve_size(id, k);
  h.resize(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; i++) {
    val[i] = clean(logits[i]);
    id[i] = static_cast<int32_t>(i);
    h[i] = i;
  }
  std::make_heap(h.begin(), h.end(), weaker);
  auto offer = [&](int64_t t) {
    const float v = logits[t];
    if (!(v > val[h[0]])) return;  // ties keep the lower id, already kept
    const int64_t slot = h[0];
    std::pop_heap(h.begin(), h.end(), weaker);
    val[slot] = v;
    id[slot] = static_cast<int32_t>(t);
    h[k - 1] = slot;
    std::push_heap(h.begin(), h.end(), weaker);
  };
  int64_t t = k;
#if defined(__SSE2__)
  // Most logits lose to the weakest kept one: test 8 at a time against it.
  for (; t + 8 <= V; t += 8) {
    const __m128 w = _mm_set1_ps(val[h[0]]);
    const int m = _mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits + t), w)) |
                  (_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(logits + t + 4), w)) << 4);
    if (m)
      for (int e = 0; e < 8; e++) offer(t + e);
  }
#endif
  for (; t < V; t++) offer(t);
}

// The smallest float >= t: a float v >= it <=> v >= t.
float float_at_least(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) < t) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

// What a step sums per candidate: slots of the bucket sums.
struct Weights {
  int nw = 1;          // exp weights summed per bucket (1 or 2)
  bool count = false;  // a count per bucket too (slot nw)
  float inv[2] = {1, 1}, sub[2] = {0, 0};
  int stride() const { return nw + (count ? 1 : 0); }
};

// One row's sampling state; scratch of the calling thread, reused across calls.
struct State {
  const float* val = nullptr;   // [n] the candidates' logits (NaN: -inf)
  const int32_t* id = nullptr;  // [n] their token ids; null: id = position
  int64_t n = 0;
  float vmax = 0, scale = 0;
  Weights wt;
  int nb = kBuckets;          // buckets: about 8 candidates each, at most kBuckets
  std::vector<double> mass;   // [nb, wt.stride()] per-bucket sums
  std::vector<double> later;  // [spans - 1, nb, wt.stride()] spans 1.. of them, before they join mass
  const ParallelFor* par = nullptr;
  int cut = kBuckets;           // buckets before it are wholly candidates
  std::vector<Member> members;  // bucket cut's candidates (a rank prefix of it)
  std::vector<int32_t> pos;     // [n] scratch: positions in one bucket
  std::vector<float> fv, fw;    // scratch for the members' weights
  std::vector<float> hv;        // [k] the heap's logits
  std::vector<int32_t> hid;     // [k] the heap's ids
  std::vector<int64_t> heap;    // [k]

  // Sets members' weights for slot s: 1 each (the count) or the exp weight,
  // the bits bucket_mass summed.
  void weigh(int s) {
    if (wt.count && s == wt.nw) {
      for (Member& m : members) m.w = 1;
      return;
    }
    const size_t m = members.size();
    fv.resize(m);
    fw.resize(m);
    for (size_t i = 0; i < m; i++) fv[i] = members[i].v;
    vec_ops().exp_weights(static_cast<int64_t>(m), fv.data(), wt.inv[s], wt.sub[s], fw.data());
    for (size_t i = 0; i < m; i++) members[i].w = fw[i];
  }

  // The bucket sums of every candidate (slots as wt says), span by span.
  void weigh_buckets() {
    const size_t len = static_cast<size_t>(nb) * wt.stride();
    const int spans = span_count(n);  // with or without threads: the sums' order
    mass.resize(len);
    later.resize(len * static_cast<size_t>(spans - 1));
    each_span(par, spans, [&](int64_t s) {
      const int64_t a = span_begin(n, s, spans);
      double* out = s == 0 ? mass.data() : later.data() + len * static_cast<size_t>(s - 1);
      std::fill(out, out + len, 0.0);
      vec_ops().bucket_mass(span_begin(n, s + 1, spans) - a, val + a, vmax, scale, nb, wt.nw, wt.inv, wt.sub, wt.count,
                            out);
    });
    for (int s = 1; s < spans; s++) {
      const double* o = later.data() + len * static_cast<size_t>(s - 1);
      for (size_t j = 0; j < len; j++) mass[j] += o[j];
    }
  }

  // Makes bucket b's candidates the members and b the cut.
  void collect(int b) {
    reserve_size(pos, n);
    const int spans = par ? span_count(n) : 1;
    int64_t found[kSpansMax];  // span s's members: positions (from its start) at pos + its start
    each_span(par, spans, [&](int64_t s) {
      const int64_t a = span_begin(n, s, spans);
      found[s] = vec_ops().bucket_members(span_begin(n, s + 1, spans) - a, val + a, vmax, scale, nb, b, pos.data() + a);
    });
    members.clear();
    for (int s = 0; s < spans; s++) {
      const int64_t a = span_begin(n, s, spans);
      for (int64_t i = 0; i < found[s]; i++) {
        const auto p = static_cast<int32_t>(a + pos[a + i]);
        members.push_back({clean(val[p]), id ? id[p] : p, 0});
      }
    }
    cut = b;
  }

  // Sum of slot s over the candidate set (members weighed for s).
  double total(int s) {
    const int st = wt.stride();
    double t = 0;
    for (int b = 0; b < cut; b++) t += mass[static_cast<size_t>(b) * st + s];
    weigh(s);
    for (const Member& m : members) t += m.w;
    return t;
  }

  // The first ranked candidate at which the running sum of slot s reaches
  // `target`; the set is cut to the candidates ranked up to it.
  Member select(int s, double target, bool strict) {
    const int st = wt.stride();
    double acc = 0;
    int last = -1;
    for (int b = 0; b < cut; b++) {
      const double m = mass[static_cast<size_t>(b) * st + s];
      if (m == 0) continue;
      if (reached(acc + m, target, strict)) return select_in(b, s, acc, target, strict);
      acc += m;
      last = b;
    }
    if (cut < nb && !members.empty()) {
      weigh(s);
      return rank(acc, target, strict);
    }
    // No weight at all (unreachable: the best weighs 1): the best.
    if (last < 0) {
      collect(0);
      if (members.empty()) return {vmax, 0, 0};  // unreachable: bucket 0 holds the best
      const Member best = *std::min_element(members.begin(), members.end(), ahead);
      members.assign(1, best);
      return best;
    }
    // Never reached (rounding): the last-ranked candidate of the last bucket.
    acc -= mass[static_cast<size_t>(last) * st + s];
    return select_in(last, s, acc, target, strict);
  }

  Member select_in(int b, int s, double acc, double target, bool strict) {
    collect(b);
    weigh(s);
    return rank(acc, target, strict);
  }

  Member rank(double acc, double target, bool strict) {
    if (members.empty()) return {vmax, 0, 0};  // unreachable: bucket 0 holds the best
    const int64_t j = rank_prefix(members.data(), static_cast<int64_t>(members.size()), acc, target, strict);
    members.resize(static_cast<size_t>(j + 1));
    return members[static_cast<size_t>(j)];
  }

  // Whether about an eighth or less of the candidates have a logit >= threshold,
  // judged from 512 of them spread over the row (the answer only picks a path).
  bool few_at_least(double threshold) const {
    const float f = float_at_least(threshold);
    const int64_t step = std::max<int64_t>(1, n / 512);
    int64_t seen = 0, above = 0;
    for (int64_t i = 0; i < n; i += step, seen++) above += val[i] >= f ? 1 : 0;
    return above * 8 <= seen;
  }

  // Before any bucket: keeps the candidates with a logit >= threshold, copied
  // (in order) into hv / hid; most of a row lies below it, skipped 4 at a time.
  void keep_at_least(double threshold) {
    const float f = float_at_least(threshold);
    reserve_size(hv, n);
    reserve_size(hid, n);
    float* out_v = hv.data();
    int32_t* out_id = hid.data();
    int64_t m = 0, i = 0;
    auto take = [&](int64_t j) {
      if (!(val[j] >= f)) return;  // NaN: never
      const int32_t t = id ? id[j] : static_cast<int32_t>(j);
      out_v[m] = val[j];  // j >= m: in place is safe
      out_id[m] = t;
      m++;
    };
#if defined(__SSE2__)
    const __m128 fv4 = _mm_set1_ps(f);
    for (; i + 4 <= n; i += 4)
      if (_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(val + i), fv4)))
        for (int e = 0; e < 4; e++) take(i + e);
#endif
    for (; i < n; i++) take(i);
    val = out_v;
    id = out_id;
    n = m;
  }

  // Keeps the candidates with a logit >= threshold (the best always stays).
  void floor_at(double threshold) {
    const float f = float_at_least(threshold);
    // Candidates at or above f lie in its bucket or before; those before it are above f.
    const float d = (vmax - f) * scale;
    const int bf = d < static_cast<float>(nb - 1) ? static_cast<int>(d) : nb - 1;
    if (bf > cut) return;
    if (bf < cut) collect(bf);
    members.erase(std::remove_if(members.begin(), members.end(), [&](const Member& m) { return !(m.v >= f); }),
                  members.end());
  }
};

}  // namespace

namespace {
// The first i in [a, b) with x[i] == v, or -1.
int64_t first_equal(const float* x, int64_t a, int64_t b, float v) {
  int64_t i = a;
#if defined(__SSE2__)
  const __m128 m = _mm_set1_ps(v);
  for (; i + 4 <= b; i += 4)
    if (_mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), m))) break;
#endif
  for (; i < b; i++)
    if (x[i] == v) return i;
  return -1;
}
}  // namespace

int32_t argmax_logits(const float* x, int64_t n, const ParallelFor* par) {
  float mn, mx;
  min_max(par, n, x, &mn, &mx);  // NaN never compares greater
  const int spans = par ? span_count(n) : 1;
  int64_t first[kSpansMax];
  each_span(par, spans,
            [&](int64_t s) { first[s] = first_equal(x, span_begin(n, s, spans), span_begin(n, s + 1, spans), mx); });
  for (int s = 0; s < spans; s++)
    if (first[s] >= 0) return static_cast<int32_t>(first[s]);
  return 0;  // all NaN
}

int32_t sample_logits(const float* logits, int64_t V, const SampleParams& p, double r, const ParallelFor* par) {
  if (p.temperature <= 0) return argmax_logits(logits, V, par);
  thread_local State st;
  st.par = par;
  int64_t k = p.top_k > 0 ? std::min<int64_t>(p.top_k, V) : V;
  if (k <= kHeapMax && k < V) {
    top_k_heap(logits, V, k, st.hv, st.hid, st.heap);
    st.val = st.hv.data();
    st.id = st.hid.data();
    st.n = k;
  } else {
    st.val = logits;
    st.id = nullptr;
    st.n = V;
  }
  float vmin, vmax;
  min_max(par, st.n, st.val, &vmin, &vmax);
  // An infinite best candidate (the lowest id among equal best ones; -inf: all
  // are -inf or NaN) is the answer without probabilities.
  if (!std::isfinite(vmax)) {
    int32_t best = -1;
    for (int64_t i = 0; i < st.n; i++)
      if (clean(st.val[i]) == vmax) {
        const int32_t t = st.id ? st.id[i] : static_cast<int32_t>(i);
        if (best < 0 || t < best) best = t;
        if (!st.id) break;  // ids ascend: the first is the lowest
      }
    return best;
  }
  // p_i >= min_p * p_max  <=>  logit_i >= logit_max + ln(min_p)
  const double min_p_floor = static_cast<double>(vmax) + std::log(p.min_p);
  const bool top_p = p.top_p < 1;
  // Without top-p, min-p keeps a rank prefix whatever top-k keeps (both are
  // prefixes; the shorter wins): when it keeps few (a peaked row), keep only
  // its candidates before any weight; else it cuts after the bucket sums.
  const bool min_p_first = p.min_p > 0 && !top_p && st.few_at_least(min_p_floor);
  if (min_p_first) {
    st.keep_at_least(min_p_floor);  // the best stays: vmax >= the floor
    min_max(par, st.n, st.val, &vmin, &vmax);
  }
  k = std::min(k, st.n);
  const float span = vmax - vmin;
  st.vmax = vmax;
  st.nb = static_cast<int>(std::clamp<int64_t>(st.n / 8, 1, kBuckets));
  st.scale = span > 0 && std::isfinite(span) ? static_cast<float>(st.nb) / span : 0.0f;
  // Slot 0: the draw's weights exp((v - vmax) / temperature); top-p's at
  // temperature 1 share it at temperature 1, else slot 1; the count after them.
  Weights& w = st.wt;
  const float inv = 1.0f / static_cast<float>(p.temperature);
  if (!std::isfinite(inv)) return argmax_logits(logits, V, par);  // so cold that only the best has weight
  w.nw = top_p && inv != 1.0f ? 2 : 1;
  w.count = k < st.n;
  w.inv[0] = inv;
  w.sub[0] = vmax * inv;
  w.inv[1] = 1.0f;
  w.sub[1] = vmax;
  const int p_slot = w.nw - 1, count_slot = w.nw;
  st.weigh_buckets();
  st.cut = st.nb;
  st.members.clear();
  if (w.count) st.select(count_slot, static_cast<double>(k), false);
  if (top_p) st.select(p_slot, p.top_p * st.total(p_slot), false);
  if (p.min_p > 0 && !min_p_first) st.floor_at(min_p_floor);
  return st.select(0, r * st.total(0), true).id;
}

}  // namespace mm
