#include "cpu_backend.h"

#include <algorithm>

#include "../core/error.h"
#include "cpu_features.h"
#include "ops.h"

namespace mm {

namespace {
int default_threads(int requested) {
  if (requested > 0) return requested;
  return cpu_features().physical_cores;
}
}  // namespace

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

void CpuBackend::run_node(const Graph& g, const Node& n, const StepArgs& step) {
  CpuContext ctx{pool_, workspace_};
  const OpArgs a{n, g, step};
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
void CpuBackend::run(Segment& s, const StepArgs& step) {
  const Graph& g = *s.graph;
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
      run_node(g, n, step);
    } else {
      CpuContext ctx{pool_, workspace_};
      group.clear();
      for (size_t k = i; k < j; k++) group.push_back(OpArgs{g.nodes[s.nodes[k]], g, step});
      op_matmul_group(ctx, group.data(), group.size());
    }
    i = j;
  }
}

std::unique_ptr<Backend> create_cpu_backend(const BackendOptions& opts) { return std::make_unique<CpuBackend>(opts); }

}  // namespace mm
