#include "cpu_backend.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "../core/error.h"
#include "cpu_features.h"
#include "ops.h"
#include "../core/mapped_file.h"
#include "regroup_x4.h"
#include "regroup_x8.h"

namespace mm {

// A segment of CPU nodes, with the q4_0 / q8_0 matmul weights its nodes may read regrouped (regroup_x8.h), the
// q4_K / q5_K / q6_K ones interleaved (regroup_x4.h), and the other matmul weights from a plain copy in huge pages.
class CpuSegment : public Segment {
 public:
  // Per entry of nodes: its matmul weights regrouped or copied (null: read in place), found when the segment was
  // prepared (made before by another graph, or by Model.warm) or made by the first run or warm.
  std::vector<std::shared_ptr<Buffer>> copies;
  // Per entry of nodes: where copies holds a plain copy (a type not regrouped), W with its rows there
  // (its buffer null elsewhere).
  std::vector<TensorDesc> plain;
  // Set once copies is complete (by a run or warm, off the main thread; regrouped() may be asked meanwhile).
  std::atomic<bool> built{false};
  // Copies found at prepare(), before any run: complete only once built.
  std::vector<int32_t> found;

  // The nodes a run at the current level reads regrouped, or from a plain copy.
  std::vector<int32_t> regrouped() const override;
  std::vector<int32_t> copied() const override;
};

namespace {
// Whether the matmuls read q4_0 and q8_0 weights regrouped: at the x86 levels (plain AVX2, AVX-VNNI,
// AVX-512: the AVX2 tiles serve them all, each has a panel packer), not at the scalar level, and other CPUs have no
// such kernel.
bool regrouping_level() {
#if defined(MM_HAVE_AVX2_KERNELS)
  return cpu_use_avx2();
#else
  return false;
#endif
}
int default_threads(int requested) {
  if (requested > 0) return requested;
  return cpu_features().physical_cores;
}
}  // namespace

std::vector<int32_t> CpuSegment::regrouped() const {
  std::vector<int32_t> out;
  if (!regrouping_level()) return out;
  if (!built.load(std::memory_order_acquire)) return found;
  for (size_t i = 0; i < nodes.size(); i++)
    if (copies[i] && !plain[i].buffer) out.push_back(nodes[i]);
  return out;
}

std::vector<int32_t> CpuSegment::copied() const {
  std::vector<int32_t> out;
  if (!regrouping_level() || !built.load(std::memory_order_acquire)) return out;
  for (size_t i = 0; i < nodes.size(); i++)
    if (plain[i].buffer) out.push_back(nodes[i]);
  return out;
}

CpuBackend::CpuBackend(const BackendOptions& opts) : pool_(default_threads(opts.threads)) {}

bool CpuBackend::run_host(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn) {
  pool_.run_chunks(n_chunks, [&](int64_t c, int) { fn(c); });
  return true;
}

bool CpuBackend::supports(OpKind op, const std::vector<DType>& types) const {
  if (op == OpKind::MatMul || op == OpKind::GetRows) {
    for (DType t : types) {
      switch (t) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::IQ4_NL:
        case DType::IQ4_XS:
        case DType::I32: break;
        default: return false;
      }
    }
    return true;
  }
  return op < OpKind::Count;
}

namespace {
// The regrouped copies of a weights buffer's q4_0 / q8_0 matrices (by offset), kept on that buffer
// (Buffer::attach_state): made once, whichever graph or CPU backend reads them first, shared by all, and
// freed with the weights (a context disposed and made again finds them).
struct RegroupedWeights {
  std::mutex mu;
  std::vector<std::pair<size_t, std::shared_ptr<Buffer>>> copies;  // (offset, copy)
};
const char kRegroupedKey = 0;  // the state's key: one for every CPU backend

// The copy made for the weights at `offset`, if any (the caller holds w.mu).
std::shared_ptr<Buffer> copy_at(const RegroupedWeights& w, size_t offset) {
  for (const auto& [at, copy] : w.copies)
    if (at == offset) return copy;
  return nullptr;
}

// The pages wholly inside a regrouped weight's original bytes, dropped from this process where they
// are a mapped file's (read again from the file if anything reads them: a tied embedding's rows, a
// level switched at run time): the weights are then resident once, as the copy, not twice.
// Rows [r0, r1) only: the pages wholly inside their bytes.
void drop_pages(const TensorDesc& W, int64_t r0, int64_t r1) {
#if !defined(_WIN32)
  if (!W.buffer->file_pages()) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(W.row(r0));
  const uintptr_t end = begin + static_cast<uintptr_t>(r1 - r0) * W.row_stride;
  const uintptr_t a = (begin + page - 1) / page * page, b = end / page * page;
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);  // (advice: a failure changes nothing)
#else
  (void)W;
  (void)r0;
  (void)r1;
#endif
}

// Whether a matmul's weights can be regrouped: q4_0 or q8_0 in whole groups of 8 rows (regroup_x8.h), q4_K,
// q5_K or q6_K in whole groups of 4 (interleaved, regroup_x4.h), in a mapped file's pages (never changed, and dropped
// once copied by drop_pages: the copy then costs no memory). A huge-page copy of the file (loadModel's
// hugePages) cannot drop its pages, and its weights are read in place.
bool groups_fit(const TensorDesc& W) { return x8_fits(W.type, W.rows, W.cols) || x4_fits(W.type, W.rows, W.cols); }
bool regroupable(const TensorDesc& W) {
  return W.rows_per_token == 0 && W.buffer && W.buffer->file_pages() && W.buffer->is_host() && groups_fit(W);
}
// Whether a matmul's weights of another type (or shape) are copied as they are into huge pages: in a
// mapped file's pages (4 KB), where the system gives huge pages on request. Read in place, a model's
// Q4_K / Q6_K matrices streamed 12-30% slower than from the copy (fewer TLB misses; the Zen 5 VM).
bool plain_copyable(const TensorDesc& W) {
  static const bool huge_pages = MappedFile::huge_pages_available();  // (read once: a file in /sys)
  return huge_pages && !groups_fit(W) && W.rows_per_token == 0 && W.rows > 0 && W.buffer && W.buffer->file_pages() &&
         W.buffer->is_host();
}
bool copyable(const TensorDesc& W) { return regroupable(W) || plain_copyable(W); }
// W with its rows in a plain copy.
TensorDesc in_copy(const TensorDesc& W, const std::shared_ptr<Buffer>& copy) {
  TensorDesc t = W;
  t.buffer = copy;
  t.offset = 0;
  return t;
}
// Bytes of W's copy: regrouped, or its rows as they are.
size_t copy_bytes(const TensorDesc& W) {
  if (!regroupable(W)) return W.row_stride * static_cast<size_t>(W.rows);
  return x4_type(W.type) ? x4_group_bytes(W.type, W.cols) * static_cast<size_t>(W.rows / kX4Rows)
                         : x8_group_bytes(W.type, W.cols) * static_cast<size_t>(W.rows / kX8Rows);
}
constexpr size_t kCopyAlign = 4096;
constexpr size_t kCopySlice = size_t(8) << 20;
constexpr size_t kHugePageBytes = size_t(2) << 20;
inline size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

std::unique_ptr<Segment> CpuBackend::prepare(const Graph& g, std::vector<int32_t> nodes) {
  auto s = std::make_unique<CpuSegment>();
  s->graph = &g;
  s->nodes = std::move(nodes);
  s->copies.resize(s->nodes.size());
  s->plain.resize(s->nodes.size());
  // Copies already made for these weights are taken now, unless one is being made (a run or warm
  // holds the lock): the main thread never waits for that; the first run finds it instead.
  for (size_t i = 0; i < s->nodes.size(); i++) {
    const Node& n = g.nodes[s->nodes[i]];
    if (n.op != OpKind::MatMul || !copyable(g.tensors[n.src[1]])) continue;
    const TensorDesc& W = g.tensors[n.src[1]];
    auto held = std::static_pointer_cast<RegroupedWeights>(W.buffer->state(&kRegroupedKey));
    if (!held) continue;
    std::unique_lock<std::mutex> lock(held->mu, std::try_to_lock);
    if (!lock.owns_lock()) continue;
    s->copies[i] = copy_at(*held, W.offset);
    if (!s->copies[i]) continue;
    if (regroupable(W))
      s->found.push_back(s->nodes[i]);
    else
      s->plain[i] = in_copy(W, s->copies[i]);
  }
  return s;
}

void CpuBackend::regroup(CpuSegment& s) {
  const Graph& g = *s.graph;
  // The weights' shared copies (held while copying: two backends sharing these weights make one copy),
  // and the bytes of those still to be made.
  std::vector<std::shared_ptr<RegroupedWeights>> held(s.nodes.size());
  std::vector<std::pair<const RegroupedWeights*, size_t>> counted;  // (weights, offset) of the copies to make
  size_t need = 0;
  for (size_t i = 0; i < s.nodes.size(); i++) {
    const Node& n = g.nodes[s.nodes[i]];
    if (n.op != OpKind::MatMul || !copyable(g.tensors[n.src[1]])) continue;
    const TensorDesc& W = g.tensors[n.src[1]];
    held[i] = std::static_pointer_cast<RegroupedWeights>(W.buffer->state(&kRegroupedKey));
    if (!held[i])
      held[i] = std::static_pointer_cast<RegroupedWeights>(
          W.buffer->attach_state(&kRegroupedKey, std::make_shared<RegroupedWeights>()));
    const std::pair<const RegroupedWeights*, size_t> key{held[i].get(), W.offset};
    if (std::find(counted.begin(), counted.end(), key) != counted.end()) continue;  // (one weight read twice)
    std::lock_guard<std::mutex> lock(held[i]->mu);
    if (copy_at(*held[i], W.offset)) continue;
    counted.push_back(key);
    need += round_up(copy_bytes(W), kCopyAlign);
  }
  // One arena for them all, from a 2 MB boundary on: every copy in huge pages (allocated one by one, a
  // matrix under 2 MB and the unaligned ends of larger ones sat in 4 KB pages).
  std::shared_ptr<Buffer> arena;
  uint8_t *next = nullptr, *end = nullptr;
  if (need > 0) {
    try {
      arena = Buffer::allocate(need + kHugePageBytes);
      const auto base = reinterpret_cast<uintptr_t>(arena->host_data());
      next = arena->host_data() + (round_up(base, kHugePageBytes) - base);
      end = arena->host_data() + arena->size();
    } catch (const Error&) {
      arena.reset();  // out of memory for all at once: each copy on its own below
    }
  }
  for (size_t i = 0; i < s.nodes.size(); i++) {
    if (!held[i]) continue;
    const TensorDesc& W = g.tensors[g.nodes[s.nodes[i]].src[1]];
    const bool grouped = regroupable(W), x4 = grouped && x4_type(W.type), x8 = grouped && !x4;
    std::lock_guard<std::mutex> lock(held[i]->mu);
    s.copies[i] = copy_at(*held[i], W.offset);
    if (s.copies[i]) {
      if (!grouped) s.plain[i] = in_copy(W, s.copies[i]);
      continue;
    }
    const size_t bytes = copy_bytes(W);
    std::shared_ptr<Buffer> copy;
    if (arena && next + bytes <= end) {
      copy = Buffer::borrow(next, bytes, arena, false);
      next += round_up(bytes, kCopyAlign);
    } else {
      try {
        copy = Buffer::allocate(bytes);
      } catch (const Error&) {
        continue;  // out of memory: this matmul reads the original, as at every other level
      }
    }
    // In slices of about kCopySlice bytes of W: the slice's pages of the copy touched first, on their own
    // (faulting them in while the file's pages were read ran 4-5x slower at times: 1.3 s against
    // 0.25-0.28 s for Llama-3.2-1B's shape, 2 threads), then the slice copied, then its pages of the file
    // dropped, so a matrix is never resident twice (a whole matrix at a time: Llama-3.2-1B Q4_K_M's load
    // peaked 210 MB, its Q6_K output matrix, above the resident weights).
    uint8_t* dst = copy->host_data();
    const int64_t unit_rows = x8 ? kX8Rows : x4 ? kX4Rows : 1, units = W.rows / unit_rows;
    const size_t dst_unit = x8 ? x8_group_bytes(W.type, W.cols) : x4 ? x4_group_bytes(W.type, W.cols) : W.row_stride;
    const size_t rb = row_bytes(W.type, W.cols);  // (a row's bytes: the last one ends there)
    const int64_t per = std::max<int64_t>(1, static_cast<int64_t>(kCopySlice / (W.row_stride * unit_rows)));
    for (int64_t u0 = 0; u0 < units; u0 += per) {
      const int64_t u1 = std::min(units, u0 + per);
      // Pages whose first byte is in the slice (one that begins in the previous slice was touched there).
      const auto p0 = static_cast<int64_t>((u0 * dst_unit + 4095) / 4096);
      const auto p1 = static_cast<int64_t>((u1 * dst_unit + 4095) / 4096);
      pool_.parallel_for(p1 - p0, [&](int64_t a, int64_t b) {
        for (int64_t p = p0 + a; p < p0 + b; p++) dst[p * 4096] = 0;
      });
      pool_.parallel_for(u1 - u0, [&](int64_t a, int64_t b) {
        if (x8) return x8_regroup(W.type, W.row(0), W.row_stride, W.cols, u0 + a, u0 + b, dst);
        if (x4) return x4_regroup(W.type, W.row(0), W.row_stride, W.cols, u0 + a, u0 + b, dst);
        for (int64_t r = u0 + a; r < u0 + b; r++)
          std::memcpy(dst + static_cast<size_t>(r) * W.row_stride, W.row(r), rb);
      });
      drop_pages(W, u0 * unit_rows, u1 * unit_rows);
    }
    drop_pages(W, 0, W.rows);  // (the pages across slice ends)
    held[i]->copies.emplace_back(W.offset, copy);
    if (!grouped) s.plain[i] = in_copy(W, copy);
    s.copies[i] = std::move(copy);
  }
  s.built.store(true, std::memory_order_release);
}

void CpuBackend::warm(Segment& seg) {
  auto& s = static_cast<CpuSegment&>(seg);
  if (regrouping_level() && !s.built.load(std::memory_order_relaxed)) regroup(s);
}

void CpuBackend::run_node(const Graph& g, const Node& n, const StepArgs& step, const uint8_t* packed,
                          const TensorDesc* copied) {
  CpuContext ctx{pool_, workspace_};
  OpArgs a{n, g, step};
  a.packed = packed;
  a.copied = copied;
  switch (n.op) {
    case OpKind::GetRows: return op_get_rows(ctx, a);
    case OpKind::RmsNorm: return op_rms_norm(ctx, a);
    case OpKind::MatMul: return op_matmul(ctx, a);
    case OpKind::Rope: return op_rope(ctx, a);
    case OpKind::Softmax: return op_softmax(ctx, a);
    case OpKind::Attention: return op_attention(ctx, a);
    case OpKind::StoreRows: return op_store_rows(ctx, a);
    case OpKind::SwiGLU: return op_swiglu(ctx, a);
    case OpKind::Add: return op_add(ctx, a);
    case OpKind::Mul: return op_mul(ctx, a);
    case OpKind::LastRow: return op_last_row(ctx, a);
    case OpKind::GeGLU: return op_geglu(ctx, a);
    case OpKind::Scale: return op_scale(ctx, a);
    case OpKind::Softcap: return op_softcap(ctx, a);
    case OpKind::Pool: return op_pool(ctx, a);
    case OpKind::Count: break;
  }
  fail(ErrorCode::Internal, "unknown op");
}

// Consecutive matmuls reading the same activations (q/k/v, gate/up) run as
// one group unless one writes what another reads.
void CpuBackend::run(Segment& seg, const StepArgs& step) {
  auto& s = static_cast<CpuSegment&>(seg);
  const Graph& g = *s.graph;
  const bool use_regrouped = regrouping_level();
  if (use_regrouped && !s.built.load(std::memory_order_relaxed)) regroup(s);
  const auto packed = [&](size_t i) {
    return use_regrouped && s.copies[i] && !s.plain[i].buffer ? s.copies[i]->host_data() : nullptr;
  };
  const auto copied = [&](size_t i) { return use_regrouped && s.plain[i].buffer ? &s.plain[i] : nullptr; };
  std::vector<OpArgs> group;
  for (size_t i = 0; i < s.nodes.size();) {
    const Node& n = g.nodes[s.nodes[i]];
    size_t j = i + 1;
    if (n.op == OpKind::MatMul) {
      auto reads = [&](const Node& m, int32_t t) { return std::find(m.src.begin(), m.src.end(), t) != m.src.end(); };
      while (j < s.nodes.size()) {
        const Node& m = g.nodes[s.nodes[j]];
        if (m.op != OpKind::MatMul || m.src[0] != n.src[0]) break;
        bool clash = false;
        for (size_t k = i; k < j; k++) {
          const Node& e = g.nodes[s.nodes[k]];
          clash = clash || reads(m, e.dst) || reads(e, m.dst) || e.dst == m.dst;
        }
        if (clash) break;
        j++;
      }
    }
    if (j - i == 1) {
      run_node(g, n, step, packed(i), copied(i));
    } else {
      CpuContext ctx{pool_, workspace_};
      group.clear();
      for (size_t k = i; k < j; k++) {
        group.push_back(OpArgs{g.nodes[s.nodes[k]], g, step});
        group.back().packed = packed(k);
        group.back().copied = copied(k);
      }
      op_matmul_group(ctx, group.data(), group.size());
    }
    i = j;
  }
}

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts) { return std::make_unique<CpuBackend>(opts); }

}  // namespace mm
