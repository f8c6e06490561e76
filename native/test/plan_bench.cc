// The CPU side of a Metal decode step, measured without a Mac (issue 14 item
// 19: per-token encoding time, metal-sim's planning path as the proxy). Builds
// the graph of a Llama-3.2-1B-shaped model (16 layers, 2048 wide, 32 query /
// 8 KV heads of 64, FFN 8192, vocabulary 128256, Q4_0 weights, a 4096-row f16
// KV cache), plans it as the scheduler and the Metal host do (node_supported
// per node, one SegmentPlan, its pipelines' kernel list), then times decode
// steps: SegmentPlan::for_step (get_rows id check, n_past patched) plus a walk
// over the dispatches that touches what the host's encode() passes to Metal
// (the calls each needs, decided when the plan was built: pipeline id,
// argument bytes, changed bindings, grid, barrier); it counts those calls. Weights are never
// read (planning only needs their addresses), so nothing large is touched.
//
//   plan_bench [steps]   prints one JSON object
//
// Used by test/metal-plan.test.ts (structure: dispatch and barrier counts)
// and bench/encode.js (timing, -O2).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../core/buffer.h"
#include "../core/error.h"
#include "../core/graph.h"
#include "../metal/plan.h"

namespace {

using mm::BufferPtr;
using mm::DType;
using mm::Graph;
using mm::Node;
using mm::OpKind;
using mm::TensorDesc;

class BenchDevice : public mm::metal::Device {
 public:
  uint32_t simd_width() const override { return mm::metal::kSimdWidth; }
  uint32_t max_threads(mm::metal::KernelId) override { return 1024; }
  BufferPtr scratch(size_t bytes) override { return mm::Buffer::allocate(bytes); }
};

struct Model {
  int64_t n_embd = 2048, n_head = 32, n_kv = 8, hd = 64, ffn = 8192, vocab = 128256, layers = 16, ctx = 4096;
};

// Weights: an address range that is never read (planning only needs where
// tensors are), as a read-only borrowed buffer.
BufferPtr fake_weights(size_t bytes) {
  static uintptr_t next = uintptr_t(1) << 40;
  void* at = reinterpret_cast<void*>(next);
  next += (bytes + 4095) / 4096 * 4096;
  return mm::Buffer::borrow(at, bytes, nullptr, true);
}

int32_t add_tensor(Graph& g, BufferPtr b, DType t, int64_t cols, int64_t rows, int64_t per_token) {
  TensorDesc d;
  d.buffer = std::move(b);
  d.type = t;
  d.cols = cols;
  d.rows = rows;
  d.rows_per_token = per_token;
  d.row_stride = mm::row_bytes(t, cols);
  g.tensors.push_back(d);
  return static_cast<int32_t>(g.tensors.size() - 1);
}

int32_t weight(Graph& g, DType t, int64_t cols, int64_t rows) {
  return add_tensor(g, fake_weights(mm::row_bytes(t, cols) * rows), t, cols, rows, 0);
}

int32_t act(Graph& g, int64_t cols, DType t = DType::F32) {
  return add_tensor(g, mm::Buffer::allocate(mm::row_bytes(t, cols) * g.max_tokens), t, cols, 0, 1);
}

void node(Graph& g, OpKind op, std::vector<int32_t> src, int32_t dst, mm::OpParams p = {}) {
  Node n;
  n.op = op;
  n.src = std::move(src);
  n.dst = dst;
  n.p = p;
  g.nodes.push_back(n);
}

// [tokens] ids -> [1, vocab] logits, activation buffers shared by every layer.
Graph build(const Model& m, int32_t* ids_out) {
  Graph g;
  g.max_tokens = 8;
  const DType W = DType::Q4_0;
  const int32_t ids = act(g, 1, DType::I32), pos = act(g, 1, DType::I32);
  const int32_t emb = weight(g, W, m.n_embd, m.vocab);
  const int32_t x0 = act(g, m.n_embd), x1 = act(g, m.n_embd), h = act(g, m.n_embd);
  const int32_t q = act(g, m.n_head * m.hd), k = act(g, m.n_kv * m.hd), v = act(g, m.n_kv * m.hd);
  const int32_t qr = act(g, m.n_head * m.hd), kr = act(g, m.n_kv * m.hd), att = act(g, m.n_head * m.hd);
  const int32_t o = act(g, m.n_embd), gate = act(g, m.ffn), up = act(g, m.ffn), sw = act(g, m.ffn);
  mm::OpParams rope;
  rope.head_dim = static_cast<int32_t>(m.hd);
  rope.n_rot = static_cast<int32_t>(m.hd);
  rope.freq_base = 500000.0f;
  mm::OpParams attn;
  attn.n_head = static_cast<int32_t>(m.n_head);
  attn.n_kv_head = static_cast<int32_t>(m.n_kv);
  attn.head_dim = static_cast<int32_t>(m.hd);
  attn.scale = 0.125f;

  node(g, OpKind::GetRows, {emb, ids}, x0);
  for (int64_t l = 0; l < m.layers; l++) {
    const int32_t an = weight(g, DType::F32, m.n_embd, 1), fn = weight(g, DType::F32, m.n_embd, 1);
    const int32_t wq = weight(g, W, m.n_embd, m.n_head * m.hd), wk = weight(g, W, m.n_embd, m.n_kv * m.hd);
    const int32_t wv = weight(g, W, m.n_embd, m.n_kv * m.hd), wo = weight(g, W, m.n_head * m.hd, m.n_embd);
    const int32_t wg = weight(g, W, m.n_embd, m.ffn), wu = weight(g, W, m.n_embd, m.ffn);
    const int32_t wd = weight(g, W, m.ffn, m.n_embd);
    const int32_t kc = add_tensor(g, mm::Buffer::allocate(mm::row_bytes(DType::F16, m.n_kv * m.hd) * m.ctx), DType::F16,
                                  m.n_kv * m.hd, m.ctx, 0);
    const int32_t vc = add_tensor(g, mm::Buffer::allocate(mm::row_bytes(DType::F16, m.n_kv * m.hd) * m.ctx), DType::F16,
                                  m.n_kv * m.hd, m.ctx, 0);
    rope.n_head = static_cast<int32_t>(m.n_head);
    mm::OpParams rope_k = rope;
    rope_k.n_head = static_cast<int32_t>(m.n_kv);
    node(g, OpKind::RmsNorm, {x0, an}, h);
    node(g, OpKind::MatMul, {h, wq}, q);
    node(g, OpKind::MatMul, {h, wk}, k);
    node(g, OpKind::MatMul, {h, wv}, v);
    node(g, OpKind::Rope, {q, pos}, qr, rope);
    node(g, OpKind::Rope, {k, pos}, kr, rope_k);
    node(g, OpKind::StoreRows, {kr}, kc);
    node(g, OpKind::StoreRows, {v}, vc);
    node(g, OpKind::Attention, {qr, kc, vc}, att, attn);
    node(g, OpKind::MatMul, {att, wo}, o);
    node(g, OpKind::Add, {o, x0}, x1);
    node(g, OpKind::RmsNorm, {x1, fn}, h);
    node(g, OpKind::MatMul, {h, wg}, gate);
    node(g, OpKind::MatMul, {h, wu}, up);
    node(g, OpKind::SwiGLU, {gate, up}, sw);
    node(g, OpKind::MatMul, {sw, wd}, o);
    node(g, OpKind::Add, {o, x1}, x0);
  }
  const int32_t on = weight(g, DType::F32, m.n_embd, 1), out = weight(g, W, m.n_embd, m.vocab);
  const int32_t last = add_tensor(g, mm::Buffer::allocate(m.n_embd * 4), DType::F32, m.n_embd, 1, 0);
  const int32_t logits = add_tensor(g, mm::Buffer::allocate(m.vocab * 4), DType::F32, m.vocab, 1, 0);
  node(g, OpKind::RmsNorm, {x0, on}, h);
  node(g, OpKind::LastRow, {h}, last);
  node(g, OpKind::MatMul, {last, out}, logits);
  *ids_out = ids;
  return g;
}

double us_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 2000;
  try {
    const Model m;
    int32_t ids = -1;
    const Graph g = build(m, &ids);
    g.validate();
    BenchDevice dev;

    auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> nodes;
    for (size_t i = 0; i < g.nodes.size(); i++) {
      std::string why;
      if (!mm::metal::node_supported(g, i, dev, &why)) {
        std::printf("{\"error\": \"node %zu not supported: %s\"}\n", i, why.c_str());
        return 1;
      }
      nodes.push_back(static_cast<int32_t>(i));
    }
    mm::metal::SegmentPlan plan(g, nodes, dev);
    const size_t kernels = plan.kernels(dev).size();
    const double prepare_us = us_since(t0);

    const int32_t token = 42;
    g.tensors[ids].buffer->set(0, &token, sizeof token);
    t0 = std::chrono::steady_clock::now();
    const std::vector<mm::metal::Dispatch>& first = plan.for_step({1, 0}, dev);
    const double first_step_us = us_since(t0);
    size_t barriers = 0, calls = 0, fused_dispatches = 0;
    for (const mm::metal::Dispatch& d : first) {
      barriers += d.barrier;
      calls += static_cast<size_t>(d.calls.count(d.barrier));
      const std::string& name = mm::metal::kernel_names()[d.kernel];
      fused_dispatches += name.find("_rms_") != std::string::npos || name.find("_glu_") != std::string::npos;
    }
    // Each fusion drops exactly its producer's dispatch from a decode step.
    const size_t fusions = plan.fusions().size();
    const size_t dispatches = first.size();
    // The calls next_calls skips must leave the encoder as a full rebinding
    // would: replay them on a model encoder, for a decode and a prefill step.
    int encode_errors = 0;
    size_t prefill_dispatches = 0, prefill_act_quants = 0;  // of a max_tokens step
    for (const int64_t nt : {int64_t(1), g.max_tokens}) {
      int32_t bound[4] = {-1, -1, -1, -1};
      int32_t pipe = -1;
      uint32_t tg = 0;
      for (const mm::metal::Dispatch& d : plan.for_step({nt, 0}, dev)) {
        const mm::metal::EncodeCalls& c = d.calls;
        if (c.pipeline) pipe = d.kernel;
        if (c.tg_mem) tg = d.tg_mem;
        for (int i = 0; i < 4; i++)
          if (c.buffer[i]) bound[i] = d.bufs[i].buffer ? d.bufs[i].slot : d.bufs[3].slot;
        bool ok = pipe == d.kernel && tg == d.tg_mem;
        if (nt > 1) {
          prefill_dispatches++;
          prefill_act_quants += mm::metal::kernel_names()[d.kernel].rfind("quantize_act_", 0) == 0;
        }
        for (int i = 0; i < 4; i++) ok = ok && (d.bufs[i].buffer ? bound[i] == d.bufs[i].slot : bound[i] >= 0);
        encode_errors += ok ? 0 : 1;
      }
    }

    // Steady state: what every decode token costs the CPU before Metal's own calls.
    uint64_t sink = 0;
    t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; s++) {
      const int64_t n_past = 1 + s % (m.ctx - 1);
      for (const mm::metal::Dispatch& d : plan.for_step({1, n_past}, dev)) {
        sink += static_cast<uint64_t>(d.calls.pipeline) + d.calls.tg_mem;
        sink += static_cast<uint64_t>(d.kernel) + d.args_size + d.args[0] + d.tg_mem + d.barrier;
        for (int i = 0; i < 4; i++) {
          if (!d.calls.buffer[i]) continue;
          const mm::metal::BufferRef& b = d.bufs[i].buffer ? d.bufs[i] : d.bufs[3];
          sink += plan.bindings()[b.slot].offset;
        }
        sink += d.grid[0] + d.grid[1] + d.grid[2] + d.threads[0];
      }
    }
    const double step_us = us_since(t0) / steps;
    std::printf(
        "{\"layers\": %lld, \"nodes\": %zu, \"dispatches\": %zu, \"unfused_dispatches\": %zu, "
        "\"fusions\": %zu, \"fused_dispatches\": %zu, \"barriers\": %zu, \"metal_calls\": %zu, "
        "\"encode_errors\": %d, \"prefill_tokens\": %lld, \"prefill_dispatches\": %zu, \"prefill_act_quants\": %zu, "
        "\"kernels\": %zu, "
        "\"bindings\": %zu, \"prepare_us\": %.1f, \"first_step_us\": %.1f, \"step_us\": %.3f, \"steps\": %d, "
        "\"sink\": %llu}\n",
        static_cast<long long>(m.layers), g.nodes.size(), dispatches, dispatches + fusions, fusions, fused_dispatches,
        barriers, calls, encode_errors, static_cast<long long>(g.max_tokens), prefill_dispatches, prefill_act_quants,
        kernels, plan.bindings().size(), prepare_us, first_step_us, step_us, steps,
        static_cast<unsigned long long>(sink % 1000));
  } catch (const mm::Error& e) {
    std::printf("{\"error\": \"%s: %s\"}\n", mm::error_code_name(e.code()), e.what());
    return 1;
  }
  return 0;
}
