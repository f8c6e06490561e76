#include "cpu_backend.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "../core/error.h"
#include "cpu_features.h"
#include "ops.h"
#include "regroup_x8.h"

namespace mm {

// A segment of CPU nodes, with the q4_0 / q8_0 matmul weights its nodes may read regrouped (regroup_x8.h).
class CpuSegment : public Segment {
 public:
  // Per entry of nodes: its matmul weights regrouped (null: read in place), found when the segment was
  // prepared (made before by another graph, or by Model.warm) or made by the first run or warm.
  std::vector<std::shared_ptr<Buffer>> copies;
  // Set once copies is complete (by a run or warm, off the main thread; regrouped() may be asked meanwhile).
  std::atomic<bool> built{false};
  // Copies found at prepare(), before any run: complete only once built.
  std::vector<int32_t> found;

  // The nodes a run at the current level reads regrouped.
  std::vector<int32_t> regrouped() const override;
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
    if (copies[i]) out.push_back(nodes[i]);
  return out;
}

CpuBackend::CpuBackend(const BackendOptions& opts) : pool_(default_threads(opts.threads)) {}

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
void drop_pages(const TensorDesc& W) {
#if !defined(_WIN32)
  if (!W.buffer->file_pages()) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(W.row(0));
  const uintptr_t end = begin + static_cast<uintptr_t>(W.rows) * W.row_stride;
  const uintptr_t a = (begin + page - 1) / page * page, b = end / page * page;
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);  // (advice: a failure changes nothing)
#else
  (void)W;
#endif
}

// Whether a matmul's weights can be regrouped: q4_0 or q8_0 in whole groups of 8 rows, in a mapped file's pages
// (never changed, and dropped once copied by drop_pages: the copy then costs no memory). A huge-page copy
// of the file (loadModel's hugePages) cannot drop its pages, and its weights are read in place.
bool regroupable(const TensorDesc& W) {
  return x8_type(W.type) && W.rows_per_token == 0 && W.buffer && W.buffer->file_pages() && W.buffer->is_host() &&
         x8_fits(W.type, W.rows, W.cols);
}
}  // namespace

std::unique_ptr<Segment> CpuBackend::prepare(const Graph& g, std::vector<int32_t> nodes) {
  auto s = std::make_unique<CpuSegment>();
  s->graph = &g;
  s->nodes = std::move(nodes);
  s->copies.resize(s->nodes.size());
  // Copies already made for these weights are taken now, unless one is being made (a run or warm
  // holds the lock): the main thread never waits for that; the first run finds it instead.
  for (size_t i = 0; i < s->nodes.size(); i++) {
    const Node& n = g.nodes[s->nodes[i]];
    if (n.op != OpKind::MatMul || !regroupable(g.tensors[n.src[1]])) continue;
    const TensorDesc& W = g.tensors[n.src[1]];
    auto held = std::static_pointer_cast<RegroupedWeights>(W.buffer->state(&kRegroupedKey));
    if (!held) continue;
    std::unique_lock<std::mutex> lock(held->mu, std::try_to_lock);
    if (!lock.owns_lock()) continue;
    s->copies[i] = copy_at(*held, W.offset);
    if (s->copies[i]) s->found.push_back(s->nodes[i]);
  }
  return s;
}

void CpuBackend::regroup(CpuSegment& s) {
  const Graph& g = *s.graph;
  for (size_t i = 0; i < s.nodes.size(); i++) {
    const Node& n = g.nodes[s.nodes[i]];
    if (n.op != OpKind::MatMul || !regroupable(g.tensors[n.src[1]])) continue;
    const TensorDesc& W = g.tensors[n.src[1]];
    auto held = std::static_pointer_cast<RegroupedWeights>(W.buffer->state(&kRegroupedKey));
    if (!held)
      held = std::static_pointer_cast<RegroupedWeights>(
          W.buffer->attach_state(&kRegroupedKey, std::make_shared<RegroupedWeights>()));
    // (held while regrouping: two backends sharing these weights make one copy)
    std::lock_guard<std::mutex> lock(held->mu);
    s.copies[i] = copy_at(*held, W.offset);
    if (s.copies[i]) continue;
    const int64_t groups = W.rows / kX8Rows;
    std::shared_ptr<Buffer> copy;
    try {
      copy = Buffer::allocate(x8_group_bytes(W.type, W.cols) * static_cast<size_t>(groups));
    } catch (const Error&) {
      continue;  // out of memory: this matmul reads the original, as at every other level
    }
    // The copy's pages touched first, on their own: faulting them in while the file's pages were read
    // ran 4-5x slower at times (1.3 s against 0.25-0.28 s for Llama-3.2-1B's shape, 2 threads).
    uint8_t* dst = copy->host_data();
    const int64_t pages = static_cast<int64_t>((copy->size() + 4095) / 4096);
    pool_.parallel_for(pages, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) dst[p * 4096] = 0;
    });
    pool_.parallel_for(
        groups, [&](int64_t g0, int64_t g1) { x8_regroup(W.type, W.row(0), W.row_stride, W.cols, g0, g1, dst); });
    drop_pages(W);
    held->copies.emplace_back(W.offset, copy);
    s.copies[i] = std::move(copy);
  }
  s.built.store(true, std::memory_order_release);
}

void CpuBackend::warm(Segment& seg) {
  auto& s = static_cast<CpuSegment&>(seg);
  if (regrouping_level() && !s.built.load(std::memory_order_relaxed)) regroup(s);
}

void CpuBackend::run_node(const Graph& g, const Node& n, const StepArgs& step, const uint8_t* packed) {
  CpuContext ctx{pool_, workspace_};
  OpArgs a{n, g, step};
  a.packed = packed;
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
  const auto packed = [&](size_t i) { return use_regrouped && s.copies[i] ? s.copies[i]->host_data() : nullptr; };
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
      run_node(g, n, step, packed(i));
    } else {
      CpuContext ctx{pool_, workspace_};
      group.clear();
      for (size_t k = i; k < j; k++) {
        group.push_back(OpArgs{g.nodes[s.nodes[k]], g, step});
        group.back().packed = packed(k);
      }
      op_matmul_group(ctx, group.data(), group.size());
    }
    i = j;
  }
}

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts) { return std::make_unique<CpuBackend>(opts); }

}  // namespace mm
