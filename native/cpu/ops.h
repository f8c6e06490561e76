// The CPU backend's op implementations, one kernel family per file. Each takes
// the node, the graph's tensors and the step, and splits its work over the pool.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/graph.h"
#include "thread_pool.h"

namespace mm {

struct CpuContext {
  ThreadPool& pool;
  std::vector<uint8_t>& workspace;  // grows to the largest need, never shrinks
  uint8_t* scratch(size_t bytes) {
    if (workspace.size() < bytes) workspace.resize(bytes);
    return workspace.data();
  }
};

struct OpArgs {
  const Node& node;
  const Graph& graph;
  const StepArgs& step;
  // A matmul's weights (src 1) regrouped 8 rows at a time (regroup_x8.h), or null: the x86 levels.
  const uint8_t* packed = nullptr;
  // A matmul's weights (src 1) as a copy of their rows in huge pages (the x86 levels, types not regrouped), or null.
  const TensorDesc* copied = nullptr;
  const TensorDesc& src(size_t i) const { return graph.tensors[node.src[i]]; }
  // A matmul's weights as the kernels read them: the copy where there is one.
  const TensorDesc& weights() const { return copied ? *copied : src(1); }
  const TensorDesc& dst() const { return graph.tensors[node.dst]; }
  bool has_src(size_t i) const { return node.src.size() > i; }
};

void op_get_rows(CpuContext& ctx, const OpArgs& a);  // get_rows.cc
void op_rms_norm(CpuContext& ctx, const OpArgs& a);  // rms_norm.cc
void op_matmul(CpuContext& ctx, const OpArgs& a);    // matmul.cc
// Matmuls of one activation matrix (e.g. q/k/v, gate/up): for decode-sized
// inputs the activations are converted once and all weight rows share one pool
// handoff; results equal running each op_matmul.
void op_matmul_group(CpuContext& ctx, const OpArgs* ops, size_t count);  // matmul.cc
void op_rope(CpuContext& ctx, const OpArgs& a);                          // rope.cc
void op_softmax(CpuContext& ctx, const OpArgs& a);                       // softmax.cc
void op_attention(CpuContext& ctx, const OpArgs& a);                     // attention.cc
void op_store_rows(CpuContext& ctx, const OpArgs& a);                    // store_rows.cc
void op_swiglu(CpuContext& ctx, const OpArgs& a);                        // elementwise.cc
void op_add(CpuContext& ctx, const OpArgs& a);                           // elementwise.cc
void op_mul(CpuContext& ctx, const OpArgs& a);                           // elementwise.cc
void op_last_row(CpuContext& ctx, const OpArgs& a);                      // elementwise.cc
void op_geglu(CpuContext& ctx, const OpArgs& a);                         // elementwise.cc
void op_scale(CpuContext& ctx, const OpArgs& a);                         // elementwise.cc
void op_softcap(CpuContext& ctx, const OpArgs& a);                       // elementwise.cc
void op_pool(CpuContext& ctx, const OpArgs& a);                          // elementwise.cc

}  // namespace mm
