// dst[n, m] = x[n, k] . W[m, k]^T (+ bias[m]), W in any supported block type.
// Activations are converted once per call to the weight type's activation
// format, as ggml's vec_dot_type: q8_0/q8_1/q8_K for quantized weights, rounded
// to f16 / bf16 for F16 / BF16 weights, as they are for F32. Then each thread
// takes a contiguous slice of W's rows and walks them in tiles of kTileRows so
// a tile stays in L1 while every activation row passes over it.
#include <algorithm>
#include <cstring>
#include <functional>

#include "../core/error.h"
#include "cpu_features.h"
#include "gemm_panel.h"
#include "ops.h"
#include "regroup_x4.h"
#include "regroup_x8.h"
#include "../core/quants.h"
#include "vec_dot.h"

namespace mm {

namespace {
constexpr int64_t kTileRows = 16;
// Prefill: activation rows per pass over a thread's weight rows; 64 converted
// rows (<= ~600 KB at k = 8192) stay in L2 while the weights stream past once.
constexpr int64_t kActChunk = 64;
// Below this many weight elements a matmul runs on the calling thread: waking
// the pool costs more than the second core gains.
constexpr int64_t kMinParallelWeights = 32 * 1024;

// From this many activation rows a matmul repacks weight panels for the
// panel GEMM (gemm_panel.h); below, the row/tile kernels win.
constexpr int64_t kPanelMinRows = 8;

inline size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// F16 / BF16 weights meet activations rounded to their own type (ggml's
// vec_dot_type; llama.cpp's greedy output on F16 models depends on it); F32
// weights meet the rows as they are.
DType act_rounding(DType w) { return w == DType::F16 || w == DType::BF16 ? w : DType::F32; }

// One activation row rounded to f16 / bf16 (nearest even, as the KV cache's
// stores) and widened back to f32: exactly the values an f16 x f16 dot with f32
// accumulation multiplies, so the f32-activation kernels run unchanged.
void round_activations(DType t, const float* x, float* dst, int64_t n) {
  constexpr int64_t kChunk = 256;
  uint16_t tmp[kChunk];
  const VecOps& vo = vec_ops();
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t m = std::min<int64_t>(kChunk, n - i);
    if (t == DType::F16) {
      vo.f32_to_f16(m, x + i, tmp);
      for (int64_t j = 0; j < m; j++) dst[i + j] = fp16_lookup(tmp[j]);
    } else {
      quantize_row(DType::BF16, x + i, tmp, m);
      for (int64_t j = 0; j < m; j++) dst[i + j] = bf16_to_fp32(tmp[j]);
    }
  }
}

const DotKernels& active_kernels() {
#if defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) return avx2::kernels();
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
  if (cpu_use_neon()) return neon::kernels();
#endif
  return scalar::kernels();
}

#if defined(MM_HAVE_AVX2_KERNELS)
// The tiles of this x86 level (the AVX-512 table is the AVX2 / AVX-VNNI one with its own tiles put in: one
// lookup serves both).
const TileKernels& level_tiles() {
#if defined(MM_HAVE_AVX512_KERNELS)
  return cpu_use_avx512() ? avx512::tile_kernels() : avx2::tile_kernels();
#else
  return avx2::tile_kernels();
#endif
}
#endif

DotTileFn tile_kernel(DType t) {
#if defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) {
    const TileKernels& k = level_tiles();
    switch (t) {
      case DType::Q4_0: return k.q4_0;
      case DType::Q5_0: return k.q5_0;
      case DType::Q8_0: return k.q8_0;
      case DType::Q4_K: return k.q4_K;
      case DType::Q5_K: return k.q5_K;
      case DType::Q6_K: return k.q6_K;
      case DType::Q2_K: return k.q2_K;
      case DType::Q3_K: return k.q3_K;
      case DType::IQ4_NL: return k.iq4_nl;
      case DType::IQ4_XS: return k.iq4_xs;
      default: break;
    }
  }
#endif
  (void)t;
  return nullptr;
}
}  // namespace

const VecOps& vec_ops() {
#if defined(MM_HAVE_AVX512_KERNELS)
  if (cpu_use_avx512()) return avx512::vec_ops();
#endif
#if defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) return avx2::vec_ops();
#endif
#if defined(MM_HAVE_NEON_PANELS)
  if (cpu_use_neon_dotprod()) return neon::vec_ops_dotprod();
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
  if (cpu_use_neon()) return neon::vec_ops();
#endif
  return scalar::vec_ops();
}

MatmulKernel matmul_kernel(DType t) {
  const DotKernels& k = active_kernels();
  const DotTileFn tile = tile_kernel(t);
  // What the tile tile_kernel() chose reads after each activation row: the AVX-512 q4_0 / iq4_nl / q4_K / q5_K
  // tiles' prepared activation data (act_extra), nothing for the others.
  ActExtra extra{};
#if defined(MM_HAVE_AVX512_KERNELS)
  if (cpu_use_avx512()) extra = avx512::act_extra(t);
#endif
  switch (t) {
    case DType::F32: return {DType::F32, k.f32};
    case DType::F16: return {DType::F32, k.f16};
    case DType::BF16: return {DType::F32, k.bf16};
    case DType::Q4_0: return {DType::Q8_0, k.q4_0, tile, extra};
    case DType::Q5_0: return {DType::Q8_0, k.q5_0, tile, extra};
    case DType::Q8_0: return {DType::Q8_0, k.q8_0, tile, extra};
    case DType::Q4_1: return {DType::Q8_1, k.q4_1};
    case DType::Q5_1: return {DType::Q8_1, k.q5_1};
    case DType::Q4_K: return {DType::Q8_K, k.q4_K, tile, extra};
    case DType::Q5_K: return {DType::Q8_K, k.q5_K, tile, extra};
    case DType::Q6_K: return {DType::Q8_K, k.q6_K, tile, extra};
    case DType::Q2_K: return {DType::Q8_K, k.q2_K, tile, extra};
    case DType::Q3_K: return {DType::Q8_K, k.q3_K, tile, extra};
    case DType::IQ4_XS: return {DType::Q8_K, k.iq4_xs, tile, extra};
    case DType::IQ4_NL: return {DType::Q8_0, k.iq4_nl, tile, extra};
    default: break;
  }
  fail(ErrorCode::Unsupported,
       std::string("matmul weights of type ") + type_name(static_cast<int32_t>(t)) + " are not supported");
}

void convert_activations(DType act_type, const float* x, void* dst, int64_t n) {
#if defined(MM_HAVE_AVX2_KERNELS)
  if (act_type == DType::Q8_0 && cpu_use_avx2()) return avx2::quantize_row_q8_0(x, dst, n);
  if (act_type == DType::Q8_K && cpu_use_avx2()) return avx2::quantize_row_q8_K(x, dst, n);
  if (act_type == DType::Q8_1 && cpu_use_avx2()) return avx2::quantize_row_q8_1(x, dst, n);
#endif
  quantize_row(act_type, x, dst, n);
}

namespace {
// The panel GEMM for this CPU (AVX-512 VNNI, else AVX-VNNI / AVX2; arm64:
// i8mm, else sdot), or null.
const PanelKernels* panel_kernels() {
#if defined(MM_HAVE_AVX512_KERNELS)
  if (cpu_use_avx512()) return &avx512::panel_kernels();
#endif
#if defined(MM_HAVE_AVX2_KERNELS)
  if (cpu_use_avx2()) return &avx2::panel_kernels();
#endif
#if defined(MM_HAVE_NEON_PANELS)
  if (cpu_use_neon_i8mm()) return &neon::panel_kernels_i8mm();
  if (cpu_use_neon_dotprod()) return &neon::panel_kernels_dotprod();
#endif
  return nullptr;
}

// Prefill on repacked weight panels: activations are laid out once, then each
// thread claims panels, packs one into its own scratch and runs every
// activation row over it.
void matmul_panels(CpuContext& ctx, const PanelKernels& pk, const TensorDesc& x, const TensorDesc& W,
                   const uint8_t* packed, const TensorDesc& d, const float* bias, int64_t N, int64_t K, int64_t M,
                   DType act_type) {
  const int nth = ctx.pool.size();
  const bool float_act = act_type == DType::F32;  // float weights: f32 rows
  const DType rounding = act_rounding(W.type);    // f32 rows rounded to f16 / bf16 first
  const bool in_place = float_act && rounding == DType::F32;
  const size_t q_bytes = float_act ? 0 : round_up(row_bytes(act_type, K), 64);  // one quantized row, per thread
  // One laid-out activation row: the panel layout, or the rounded f32 row.
  const size_t as_bytes = in_place    ? 0
                          : float_act ? round_up(static_cast<size_t>(K) * sizeof(float), 64)
                                      : round_up(panel_act_row_bytes(K), 64);
  const size_t pb = round_up(pk.panel_bytes(W.type, K), 64);  // one packed panel
  const size_t per_thread = pk.gemm_pair ? 2 * pb : pb;       // the panels a thread multiplies at once
  uint8_t* ws = ctx.scratch(as_bytes * static_cast<size_t>(N) + (per_thread + q_bytes) * static_cast<size_t>(nth) + 64);
  ws += (64 - reinterpret_cast<uintptr_t>(ws) % 64) % 64;
  uint8_t* panels = ws;                                            // [nth, per_thread]
  uint8_t* qtmp = panels + per_thread * static_cast<size_t>(nth);  // [nth, q_bytes]
  uint8_t* laid = qtmp + q_bytes * static_cast<size_t>(nth);       // [N, as_bytes]
  const uint8_t* act = in_place ? x.row(0) : laid;
  const size_t as = in_place ? x.row_stride : as_bytes;

  if (!in_place) {
    const int64_t rper = (N + 4 * nth - 1) / (4 * nth);
    ctx.pool.run_chunks((N + rper - 1) / rper, [&](int64_t c, int ith) {
      uint8_t* q = qtmp + q_bytes * static_cast<size_t>(ith);
      for (int64_t r = c * rper, r1 = std::min(N, r + rper); r < r1; r++) {
        uint8_t* row = laid + as * static_cast<size_t>(r);
        if (float_act) {
          round_activations(rounding, x.row_as<float>(r), reinterpret_cast<float*>(row), K);
          continue;
        }
        convert_activations(act_type, x.row_as<float>(r), q, K);
        panel_layout_act_row(W.type, K, q, row);
      }
    });
  }

  const int64_t P = (M + pk.rows - 1) / pk.rows;
  const int64_t chunks = nth == 1 ? 1 : std::min<int64_t>(P, 8 * nth), per = (P + chunks - 1) / chunks;
  const size_t out_stride = d.row_stride / sizeof(float);
  // Packs panel p into `panel`; returns its real rows.
  const auto pack = [&](int64_t p, uint8_t* panel) {
    const int64_t m0 = p * pk.rows;
    const int nr = static_cast<int>(std::min<int64_t>(pk.rows, M - m0));
    if (packed && x4_type(W.type)) {  // interleaved (regroup_x4.h): a panel's rows are whole groups of 4
      pk.pack_x4(W.type, K, packed + static_cast<size_t>(m0 / kX4Rows) * x4_group_bytes(W.type, K), nr, panel);
      return nr;
    }
    if (packed) {  // the regrouped weights (regroup_x8.h): a panel's rows are one or two groups
      pk.pack_x8(W.type, K, packed + static_cast<size_t>(m0 / kX8Rows) * x8_group_bytes(W.type, K), nr, panel);
      return nr;
    }
    pk.pack(W.type, K, W.row(m0), W.row_stride, nr, panel);
    return nr;
  };
  ctx.pool.run_chunks((P + per - 1) / per, [&](int64_t c, int ith) {
    uint8_t* panel = panels + per_thread * static_cast<size_t>(ith);
    for (int64_t p = c * per, p1 = std::min(P, p + per); p < p1;) {
      const int64_t m0 = p * pk.rows;
      float* out = d.row_as<float>(0) + m0;
      const float* b = bias ? bias + m0 : nullptr;
      const int nr = pack(p, panel);
      if (pk.gemm_pair && p + 1 < p1) {
        const int nr1 = pack(p + 1, panel + pb);
        pk.gemm_pair(W.type, K, panel, nr, panel + pb, nr1, act, as, N, out, out_stride, b);
        p += 2;
      } else {
        pk.gemm(W.type, K, panel, nr, act, as, N, out, out_stride, b);
        p += 1;
      }
    }
  });
}
}  // namespace

namespace {
// Activation rows in the row/tile kernels' format: [n, row_bytes(act_type, k)],
// or f32 rows, rounded to f16 / bf16 for F16 / BF16 weights: [n, k] f32 (the
// source rows themselves when nothing needs converting).
struct Activations {
  const uint8_t* data;
  size_t stride;
};
Activations prepare_activations(CpuContext& ctx, const TensorDesc& x, DType act_type, DType rounding, ActExtra extra,
                                int64_t N, int64_t K) {
  if (act_type == DType::F32 && rounding == DType::F32) return {x.row(0), x.row_stride};
  if (act_type == DType::F32) {
    const size_t stride = static_cast<size_t>(K) * sizeof(float);
    uint8_t* ws = ctx.scratch(stride * static_cast<size_t>(N));
    ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++)
        round_activations(rounding, x.row_as<float>(r), reinterpret_cast<float*>(ws + stride * r), K);
    });
    return {ws, stride};
  }
  if (extra.fill) {
    // [N, stride]: the act_type row, padding to 64 bytes, the kernel's extra (64-byte aligned, see ActExtra)
    const size_t off = round_up(row_bytes(act_type, K), 64), stride = off + round_up(extra.bytes(K), 64);
    uint8_t* ws = ctx.scratch(stride * static_cast<size_t>(N) + 64);
    ws += (64 - reinterpret_cast<uintptr_t>(ws) % 64) % 64;
    ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; r++) {
        uint8_t* row = ws + stride * r;
        convert_activations(act_type, x.row_as<float>(r), row, K);
        extra.fill(K, row, row + off);
      }
    });
    return {ws, stride};
  }
  const size_t stride = row_bytes(act_type, K);
  uint8_t* ws = ctx.scratch(stride * static_cast<size_t>(N));
  ctx.pool.parallel_for(N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) convert_activations(act_type, x.row_as<float>(r), ws + stride * r, K);
  });
  return {ws, stride};
}

// One matmul of the row/tile kernels: its weights, output and kernel.
struct RowJob {
  const TensorDesc* W;
  const TensorDesc* d;
  const float* bias;  // [m] or null
  MatmulKernel kern;
  int64_t M;
  // W regrouped: groups of 8 q4_0 / q8_0 rows for x8_tile (regroup_x8.h), or of 4 q4_K / q5_K / q6_K rows
  // interleaved for x4_tile (regroup_x4.h)
  const uint8_t* packed = nullptr;
  X8Tile x8_tile = nullptr;     // with packed: the decode tile for W's type
  DotTileFn x4_tile = nullptr;  // (one or the other)
  // Weight rows per unit of work: a group of 8 rows regrouped (4 interleaved), tiles of kTileW rows for the
  // register-blocked kernel, else tiles of kTileRows rows that stay in L1 while every activation row passes over them.
  int64_t unit() const { return x4_tile ? kX4Rows : packed ? kX8Rows : kern.tile ? kTileW : kTileRows; }
  int64_t units() const { return (M + unit() - 1) / unit(); }
};

// out[n][m] += bias[m] for the job's rows [m_begin, m_end) of every activation row.
void add_bias(const RowJob& j, int64_t N, int64_t m_begin, int64_t m_end) {
  if (!j.bias) return;
  for (int64_t n = 0; n < N; n++) {
    float* out = j.d->row_as<float>(n);
    for (int64_t m = m_begin; m < m_end; m++) out[m] += j.bias[m];
  }
}

// Rows [m_begin, m_end) of one job over all N activation rows.
void matmul_rows(const RowJob& j, Activations act, int64_t N, int64_t K, int64_t m_begin, int64_t m_end) {
  const TensorDesc& W = *j.W;
  const TensorDesc& d = *j.d;
  if (j.packed) {
    // Regrouped (regroup_x8.h: 8 rows) or interleaved (regroup_x4.h: 4 rows, the in-place tile's arithmetic):
    // one group (m_begin and m_end on group bounds) x up to kTileA activation rows per call.
    const int64_t rows = j.unit();
    const size_t out_stride = d.row_stride / sizeof(float);
    const size_t gb = j.x4_tile ? x4_group_bytes(W.type, K) : x8_group_bytes(W.type, K);
    for (int64_t n0 = 0; n0 < N; n0 += kActChunk) {
      const int64_t n1 = std::min<int64_t>(N, n0 + kActChunk);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += rows)
        for (int64_t c0 = n0; c0 < n1; c0 += kTileA) {
          const uint8_t* group = j.packed + static_cast<size_t>(m0 / rows) * gb;
          const uint8_t* a = act.data + act.stride * c0;
          const int nc = static_cast<int>(std::min<int64_t>(kTileA, n1 - c0));
          float* out = d.row_as<float>(c0) + m0;
          if (j.x4_tile)
            j.x4_tile(K, group, gb, kX4Rows, a, act.stride, nc, out, out_stride);
          else
            j.x8_tile(K, group, a, act.stride, nc, out, out_stride);
        }
    }
    add_bias(j, N, m_begin, m_end);
    return;
  }
  if (j.kern.tile) {
    // Register-blocked: kTileW weight rows x kTileA activation rows per kernel call.
    const size_t out_stride = d.row_stride / sizeof(float);
    for (int64_t n0 = 0; n0 < N; n0 += kActChunk) {
      const int64_t n1 = std::min<int64_t>(N, n0 + kActChunk);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += kTileW) {
        const int nr = static_cast<int>(std::min<int64_t>(kTileW, m_end - m0));
        for (int64_t c0 = n0; c0 < n1; c0 += kTileA) {
          const int nc = static_cast<int>(std::min<int64_t>(kTileA, n1 - c0));
          j.kern.tile(K, W.row(m0), W.row_stride, nr, act.data + act.stride * c0, act.stride, nc,
                      d.row_as<float>(c0) + m0, out_stride);
        }
      }
    }
    add_bias(j, N, m_begin, m_end);
    return;
  }
  for (int64_t m0 = m_begin; m0 < m_end; m0 += kTileRows) {
    const int64_t m1 = std::min<int64_t>(m_end, m0 + kTileRows);
    for (int64_t n = 0; n < N; n++) {
      const uint8_t* ar = act.data + act.stride * n;
      float* out = d.row_as<float>(n);
      for (int64_t m = m0; m < m1; m++) {
        const float v = j.kern.dot(K, W.row(m), ar);
        out[m] = j.bias ? v + j.bias[m] : v;
      }
    }
  }
}

// Jobs sharing one activation matrix in one pool handoff: the units of all
// jobs form one range, cut into one contiguous range per thread
// (ThreadPool::run_ranges), each run in pieces of about 1/8 of it, smaller
// near its end, at least kMinChunkWeights weights: every thread streams one
// run of weight rows, and the threads finish within a piece of each other (a
// thread done early takes pieces from the back of another's range). Against chunks claimed in turn from
// one shared range (each thread's stream restarting at every chunk), on a Zen 5
// VM at 2 threads, decode matmuls from memory: q8_0 576 x 576 29-36 -> 39-43
// GB/s, q4_0 512 x 2048 43-45 -> 54-62 (regrouped weights, alternating runs).
constexpr int64_t kMinChunkWeights = 32 * 1024;
constexpr int64_t kPiecesPerRange = 8;
void run_row_jobs(CpuContext& ctx, const RowJob* jobs, size_t count, Activations act, int64_t N, int64_t K) {
  int64_t units = 0, weights = 0;
  for (size_t i = 0; i < count; i++) {
    units += jobs[i].units();
    weights += jobs[i].M * K;
  }
  const int nth = ctx.pool.size();
  const auto run = [&](int64_t u0, int64_t u1) {
    int64_t base = 0;  // the first unit of job i in the joint range
    for (size_t i = 0; i < count && base < u1; i++) {
      const RowJob& j = jobs[i];
      const int64_t n_units = j.units();
      const int64_t a = std::max(u0, base) - base, b = std::min(u1, base + n_units) - base;
      if (a < b) matmul_rows(j, act, N, K, a * j.unit(), std::min(j.M, b * j.unit()));
      base += n_units;
    }
  };
  if (weights < kMinParallelWeights || nth == 1) return run(0, units);
  const int64_t min_units = std::max<int64_t>(1, kMinChunkWeights * units / weights);
  const int64_t grain = std::max(min_units, (units + nth * kPiecesPerRange - 1) / (nth * kPiecesPerRange));
  ctx.pool.run_ranges(units, grain, min_units, [&](int64_t u0, int64_t u1, int) { run(u0, u1); });
}

// The panel GEMM for these weights and this many activation rows, or null.
// rowwise (batched decoding): never, the row/tile kernels' result for a row does not depend on N.
const PanelKernels* panels_for(const TensorDesc& W, int64_t N, int64_t K, bool rowwise) {
  if (N < kPanelMinRows || rowwise) return nullptr;
  const PanelKernels* pk = panel_kernels();
  // (32-bit gather offsets: a panel's rows must span less than 2 GiB.)
  if (pk && pk->supports(W.type, K) && W.row_stride * static_cast<size_t>(pk->rows) < (size_t(1) << 31)) return pk;
  return nullptr;
}

RowJob row_job(const OpArgs& a) {
  const TensorDesc& W = a.weights();
  RowJob j{&W, &a.dst(), a.has_src(2) ? a.src(2).row_as<float>(0) : nullptr, matmul_kernel(W.type), W.rows};
#if defined(MM_HAVE_AVX2_KERNELS)
  if (a.packed && x4_type(W.type)) {  // (whole groups of 4 q4_K / q5_K / q6_K rows, at the x86 levels)
    j.packed = a.packed;
    const TileKernels& t = level_tiles();
    j.x4_tile = W.type == DType::Q4_K ? t.q4_K_x4 : W.type == DType::Q5_K ? t.q5_K_x4 : t.q6_K_x4;
  } else if (a.packed) {  // (the backend regroups only at the x86 levels, whole groups of q4_0 / q8_0 rows)
    j.packed = a.packed;
    const bool q4 = W.type == DType::Q4_0;
    j.x8_tile = q4 ? avx2::q4_0_x8_tile : avx2::q8_0_x8_tile;
#if defined(MM_HAVE_AVX512_KERNELS)
    if (cpu_use_avx512()) j.x8_tile = q4 ? avx512::q4_0_x8_tile : avx512::q8_0_x8_tile;  // (the same bits)
#endif
    if (q4) j.kern.extra = avx2::q4_0_x8_extra();  // (q8_0 rows as they are; no extra)
  }
#endif
  return j;
}
}  // namespace

void op_matmul(CpuContext& ctx, const OpArgs& a) {
  const TensorDesc& x = a.src(0);     // [n, k] f32
  const TensorDesc& W = a.weights();  // [m, k] any type
  const TensorDesc& d = a.dst();      // [n, m] f32
  const int64_t N = x.rows_at(a.step.n_tokens), K = x.cols;
  const RowJob j = row_job(a);  // bias: [m]
  if (const PanelKernels* pk = panels_for(W, N, K, a.node.p.rowwise)) {
    // (panel kernels without pack_x8 pack from the original, which stays mapped)
    const uint8_t* packed = (x4_type(W.type) ? pk->pack_x4 : pk->pack_x8) ? j.packed : nullptr;
    return matmul_panels(ctx, *pk, x, W, packed, d, j.bias, N, K, j.M, j.kern.act_type);
  }
  const Activations act = prepare_activations(ctx, x, j.kern.act_type, act_rounding(W.type), j.kern.extra, N, K);
  run_row_jobs(ctx, &j, 1, act, N, K);
}

void op_matmul_group(CpuContext& ctx, const OpArgs* ops, size_t count) {
  const TensorDesc& x = ops[0].src(0);  // [n, k] f32, shared by all
  const int64_t N = x.rows_at(ops[0].step.n_tokens), K = x.cols;
  std::vector<RowJob> jobs;
  jobs.reserve(count);
  bool fuse = true;
  for (size_t i = 0; i < count; i++) {
    jobs.push_back(row_job(ops[i]));
    const DType wt = ops[i].weights().type;
    fuse = fuse && !panels_for(ops[i].weights(), N, K, ops[i].node.p.rowwise) &&
           jobs[i].kern.act_type == jobs[0].kern.act_type && act_rounding(wt) == act_rounding(ops[0].weights().type);
  }
  // One layout for all: the extra of the kernels that read one (kernels without ignore it); two different extras
  // (q4_0 and iq4_nl weights in one group) run apart.
  ActExtra extra{};
  for (const RowJob& j : jobs) {
    if (!j.kern.extra.fill) continue;
    if (extra.fill && extra.fill != j.kern.extra.fill) fuse = false;
    extra = j.kern.extra;
  }
  if (!fuse) {  // prefill (panel GEMMs, bound by compute) or activation formats that differ
    for (size_t i = 0; i < count; i++) op_matmul(ctx, ops[i]);
    return;
  }
  const Activations act =
      prepare_activations(ctx, x, jobs[0].kern.act_type, act_rounding(ops[0].weights().type), extra, N, K);
  run_row_jobs(ctx, jobs.data(), count, act, N, K);
}

}  // namespace mm
