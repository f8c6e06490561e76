// Causal grouped-query attention over the KV cache. Query row i (token
// i % n_tokens, position n_past + i % n_tokens) of head h sees cache rows
// [0, n_past + i % n_tokens] of KV head h / (n_head / n_kv_head). Scores never
// touch memory: online softmax (running max M, running sum S, rescaled
// accumulators), lanes own output dims d = lane + 32 t (t < 8, head_dim <= 256).
//
// attn_decode_<kv type>: one threadgroup per (head, query row), flash-decoding
//   style: the keys are split in blocks of 32 over MM_ATTN_SIMDGROUPS
//   simdgroups (lane j scores key j of a block), each keeps its own (M, S, acc)
//   and the partial results are merged through threadgroup memory at the end.
//   grid: (n_head, n_rows), 32 * MM_ATTN_SIMDGROUPS threads,
//   shmem: (head_dim + MM_ATTN_SIMDGROUPS * (head_dim + 2)) floats.
// attn_prefill_<kv type>: many query rows. One threadgroup per (head, block of
//   MM_ATTN_SIMDGROUPS consecutive rows), a simdgroup per row; tiles of
//   tile_keys keys of K and V are staged once in threadgroup memory and shared
//   by all the rows of the block.
//   grid: (n_head, ceil(n_rows / MM_ATTN_SIMDGROUPS)), 32 * MM_ATTN_SIMDGROUPS threads,
//   shmem: (MM_ATTN_SIMDGROUPS + 2 * tile_keys) * head_dim floats.
#include "common.h"

// Masked scores and the initial running max: finite, because Metal compiles
// with fast math, which may assume there are no infinities.
#define MM_NEG_BIG (-FLT_MAX / 2.0f)

template <typename KV>
inline void attn_decode_impl(constant AttentionArgs & args, device const char * src0, device const char * src1,
                             device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                             uint3 tpitg, uint tiisg, uint sgitg) {
  const int h = int(tgpig.x), i = int(tgpig.y);
  const int D = args.head_dim, kvh = h / (args.n_head / args.n_kv_head);
  const int n_kv = args.n_past + i % args.n_tokens + 1;
  const int nt = MM_SIMD_WIDTH * MM_ATTN_SIMDGROUPS;
  threadgroup float * sq = (threadgroup float *)shmem;  // [D] the query, pre-scaled
  threadgroup float * part = sq + D;                    // [NSG][2 + D]: M, S, acc

  device const float * q = (device const float *)(src0 + i * args.q_stride) + h * D;
  for (int d = int(tpitg.x); d < D; d += nt) sq[d] = q[d] * args.scale;
  threadgroup_barrier(mem_flags::mem_threadgroup);

  float M = MM_NEG_BIG, S = 0.0f;
  float acc[8];
  for (int t = 0; t < 8; t++) acc[t] = 0.0f;
  const int nblocks = (n_kv + MM_SIMD_WIDTH - 1) / MM_SIMD_WIDTH;
  for (int b = int(sgitg); b < nblocks; b += MM_ATTN_SIMDGROUPS) {
    const int j = b * MM_SIMD_WIDTH + int(tiisg);
    float s = MM_NEG_BIG;
    if (j < n_kv) {
      device const KV * kr = (device const KV *)(src1 + j * args.k_stride) + kvh * D;
      s = 0.0f;
      for (int d = 0; d < D; d++) s += sq[d] * float(kr[d]);
    }
    const float newM = fmax(M, simd_max(s));  // finite: key b * 32 always exists
    const float c = exp(M - newM);
    const float p = j < n_kv ? exp(s - newM) : 0.0f;
    S = S * c + simd_sum(p);
    for (int t = 0; t < 8; t++) acc[t] *= c;
    const int nj = min(MM_SIMD_WIDTH, n_kv - b * MM_SIMD_WIDTH);
    for (int jj = 0; jj < nj; jj++) {
      const float pj = simd_shuffle(p, ushort(jj));
      device const KV * vr = (device const KV *)(src2 + (b * MM_SIMD_WIDTH + jj) * args.v_stride) + kvh * D;
      for (int t = 0; t < 8; t++) {
        const int d = int(tiisg) + MM_SIMD_WIDTH * t;
        if (d < D) acc[t] += pj * float(vr[d]);
      }
    }
    M = newM;
  }

  threadgroup float * mine = part + int(sgitg) * (D + 2);
  if (tiisg == 0) {
    mine[0] = M;
    mine[1] = S;
  }
  for (int t = 0; t < 8; t++) {
    const int d = int(tiisg) + MM_SIMD_WIDTH * t;
    if (d < D) mine[2 + d] = acc[t];
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  if (sgitg == 0) {
    float gM = MM_NEG_BIG;
    for (int g = 0; g < MM_ATTN_SIMDGROUPS; g++) gM = fmax(gM, part[g * (D + 2)]);
    float gS = 0.0f;
    for (int g = 0; g < MM_ATTN_SIMDGROUPS; g++) {
      const float m = part[g * (D + 2)];
      gS += exp(m - gM) * part[g * (D + 2) + 1];  // idle simdgroups: exp(NEG_BIG - gM) = 0
    }
    device float * out = (device float *)(dst + i * args.d_stride) + h * D;
    for (int d = int(tiisg); d < D; d += MM_SIMD_WIDTH) {
      float o = 0.0f;
      for (int g = 0; g < MM_ATTN_SIMDGROUPS; g++) {
        const float m = part[g * (D + 2)];
        o += exp(m - gM) * part[g * (D + 2) + 2 + d];
      }
      out[d] = o / gS;
    }
  }
}

template <typename KV>
inline void attn_prefill_impl(constant AttentionArgs & args, device const char * src0, device const char * src1,
                              device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                              uint3 tpitg, uint tiisg, uint sgitg) {
  const int h = int(tgpig.x);
  const int i = int(tgpig.y) * MM_ATTN_SIMDGROUPS + int(sgitg);  // this simdgroup's query row
  const bool valid = i < args.n_rows;
  const int D = args.head_dim, TK = args.tile_keys, kvh = h / (args.n_head / args.n_kv_head);
  const int nt = MM_SIMD_WIDTH * MM_ATTN_SIMDGROUPS;
  threadgroup float * sq = (threadgroup float *)shmem;   // [NSG][D] queries, pre-scaled
  threadgroup float * sk = sq + MM_ATTN_SIMDGROUPS * D;  // [TK][D]
  threadgroup float * sv = sk + TK * D;                  // [TK][D]

  // Keys any row of the block sees (uniform over the threadgroup, for the barriers).
  int kv_end = 0;
  for (int g = 0; g < MM_ATTN_SIMDGROUPS; g++) {
    const int ii = int(tgpig.y) * MM_ATTN_SIMDGROUPS + g;
    if (ii < args.n_rows) kv_end = max(kv_end, args.n_past + ii % args.n_tokens + 1);
  }
  const int n_kv = valid ? args.n_past + i % args.n_tokens + 1 : 0;

  threadgroup float * myq = sq + int(sgitg) * D;
  device const float * q = (device const float *)(src0 + (valid ? i : 0) * args.q_stride) + h * D;
  for (int d = int(tiisg); d < D; d += MM_SIMD_WIDTH) myq[d] = valid ? q[d] * args.scale : 0.0f;

  float M = MM_NEG_BIG, S = 0.0f;
  float acc[8];
  for (int t = 0; t < 8; t++) acc[t] = 0.0f;
  for (int j0 = 0; j0 < kv_end; j0 += TK) {
    threadgroup_barrier(mem_flags::mem_threadgroup);  // queries written / previous tile consumed
    for (int u = int(tpitg.x); u < TK * D; u += nt) {
      const int jj = u / D, d = u % D, j = j0 + jj;
      if (j < kv_end) {
        sk[u] = float(((device const KV *)(src1 + j * args.k_stride))[kvh * D + d]);
        sv[u] = float(((device const KV *)(src2 + j * args.v_stride))[kvh * D + d]);
      } else {
        sk[u] = 0.0f;
        sv[u] = 0.0f;
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    const int j = j0 + int(tiisg);
    const bool seen = int(tiisg) < TK && j < n_kv;
    float s = MM_NEG_BIG;
    if (seen) {
      s = 0.0f;
      for (int d = 0; d < D; d++) s += myq[d] * sk[int(tiisg) * D + d];
    }
    const float newM = fmax(M, simd_max(s));
    // A row may see none of this tile's keys (it ends before the block's last row):
    // then newM = M = NEG_BIG, c = 1 and every p = 0.
    const float c = exp(M - newM);
    const float p = seen ? exp(s - newM) : 0.0f;
    S = S * c + simd_sum(p);
    for (int t = 0; t < 8; t++) acc[t] *= c;
    for (int jj = 0; jj < TK; jj++) {
      const float pj = simd_shuffle(p, ushort(jj));
      for (int t = 0; t < 8; t++) {
        const int d = int(tiisg) + MM_SIMD_WIDTH * t;
        if (d < D) acc[t] += pj * sv[jj * D + d];
      }
    }
    M = newM;
  }
  if (valid) {
    device float * out = (device float *)(dst + i * args.d_stride) + h * D;
    for (int t = 0; t < 8; t++) {
      const int d = int(tiisg) + MM_SIMD_WIDTH * t;
      if (d < D) out[d] = acc[t] / S;
    }
  }
}

MM_KERNEL(attn_decode_f32, AttentionArgs) {
  attn_decode_impl<float>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, tiisg, sgitg);
}
MM_KERNEL(attn_decode_f16, AttentionArgs) {
  attn_decode_impl<half>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, tiisg, sgitg);
}
MM_KERNEL(attn_prefill_f32, AttentionArgs) {
  attn_prefill_impl<float>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, tiisg, sgitg);
}
MM_KERNEL(attn_prefill_f16, AttentionArgs) {
  attn_prefill_impl<half>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, tiisg, sgitg);
}
