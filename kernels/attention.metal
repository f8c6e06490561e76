// Causal grouped-query attention over the KV cache. Query row i (token
// i % n_tokens, position n_past + i % n_tokens) of head h sees cache rows
// [0, p = n_past + i % n_tokens] of KV head h / (n_head / n_kv_head), or with
// a sliding window (window > 0) rows (p - window, p]; scores are soft-capped
// (softcap * tanh(s / softcap), precise::tanh) when softcap > 0. With ring > 0
// the cache is a ring (a sliding-window layer's): key position j is at row
// j % ring; the keys are taken in the same order, so the sums are the same. Scores never
// touch device memory: online softmax (running max M, running sum S, rescaled
// accumulators). exp is precise:: (Metal's fast exp is 3 + 2|x| ulp).
//
// attn_decode_<kv>_d<DMAX> (few query rows; DMAX = 32, 64, 128, 256 >= head_dim):
//   one threadgroup per (KV head, chunk of G query heads of its group, query
//   row, key split). Lanes split the head dimension (DMAX / 32 contiguous values
//   each), so one key row is one coalesced read by a simdgroup; the threadgroup's
//   NSG = ntg / 32 simdgroups (8-32) take keys sg, sg + NSG, ...; each K/V row is
//   loaded once for all G heads of the chunk (GQA: G = 16 / (DMAX / 32), at most 8).
//   The simdgroups' partial (M, S, acc) merge through threadgroup memory. With
//   n_splits > 1 (long caches and few heads x rows: more threadgroups than that
//   to fill the GPU) split z takes the z-th of n_splits equal key ranges, each at
//   least MM_ATTN_SPLIT_MIN_KEYS long (later splits of a short context are
//   empty), and writes its unnormalized partial (M, S, acc[D]) to dst = a
//   scratch buffer [n_rows][n_head][n_splits][D + 2], which attn_combine_f32
//   merges into the output.
//   grid: (n_kv_head * ceil(group / G), n_rows, n_splits), threads: 32 * NSG,
//   shmem: (NSG * D + 2 * NSG) floats.
// attn_combine_f32 (after a split attn_decode): out[i][h * D + d] =
//   sum_z w_z acc_z[d] / sum_z w_z S_z with w_z = exp(M_z - max_z M_z); an empty
//   split (M = MM_NEG_BIG, S = 0) weighs 0.
//   grid: (n_head, n_rows), threads: 32 * k (any), no threadgroup memory.
// attn_prefill_<kv>_d<DMAX> (8 or more query rows, head_dim a multiple of 8): one
//   threadgroup per (head, 8 * NSG consecutive query rows), 8 rows per simdgroup;
//   tiles of tile_keys keys of K and V staged once (as f32) in padded threadgroup
//   memory and shared by all the rows. Per tile each simdgroup computes its 8 x
//   tile_keys scores with simdgroup_matrix multiply-accumulates (Q read straight
//   from device memory), runs the online softmax on them (4 lanes per row, the
//   causal limit compared per row, no division per element), rescales its
//   8 x D output accumulators by a diagonal matrix and adds P . V. A simdgroup
//   whose 8 rows would pass n_rows takes the last 8 rows instead (computed twice,
//   identical bits), so every load and store is of whole valid rows.
//   grid: (n_head, ceil(n_rows / (8 * NSG))), threads: 32 * NSG,
//   shmem: mm_attn_prefill_shmem (args.h).
#include "common.h"

// Masked scores and the initial running max: finite, because Metal compiles
// with fast math, which may assume there are no infinities.
#define MM_NEG_BIG (-FLT_MAX / 2.0f)

// ---- decode ----------------------------------------------------------------------------------
// `DPL` contiguous values of a head row at lane l (dims l * DPL ..), zeros past D.
template <typename KV, int DPL>
inline void load_lane_dims(device const KV * row, uint lane, int D, thread float * out) {
  const int d0 = int(lane) * DPL;
  for (int t = 0; t < DPL; t++) out[t] = d0 + t < D ? float(row[d0 + t]) : 0.0f;
}

template <typename KV, int DPL>
inline void attn_decode_impl(constant AttentionArgs & args, device const char * src0, device const char * src1,
                             device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                             uint3 tpitg, uint3 ntg, uint3 tgpg, uint tiisg, uint sgitg) {
  constexpr int G = MM_ATTN_DECODE_HEADS(DPL);  // query heads sharing each K/V load
  const int D = args.head_dim, group = args.n_head / args.n_kv_head;
  const int nchunks = (group + G - 1) / G;
  const int kvh = int(tgpig.x) / nchunks, h0 = kvh * group + (int(tgpig.x) % nchunks) * G;
  const int ng = min(G, kvh * group + group - h0);  // heads of this chunk (uniform)
  const int i = int(tgpig.y), z = int(tgpig.z), nsplit = int(tgpg.z);
  const int nsg = int(ntg.x) / MM_SIMD_WIDTH;

  // This split's keys: the z-th of nsplit equal ranges of the row's keys [kv_lo, n_kv).
  const int n_kv = args.n_past + i % args.n_tokens + 1;
  const int kv_lo = args.window > 0 ? max(0, n_kv - args.window) : 0;
  const int per = max((n_kv - kv_lo + nsplit - 1) / nsplit, nsplit > 1 ? MM_ATTN_SPLIT_MIN_KEYS : 0);
  const int j_begin = min(n_kv, kv_lo + z * per), j_end = min(n_kv, j_begin + per);

  float q[G][DPL], acc[G][DPL], M[G], S[G];
  for (int g = 0; g < G; g++) {
    device const float * qh = (device const float *)(src0 + i * args.q_stride) + min(h0 + g, args.n_head - 1) * D;
    load_lane_dims<float, DPL>(qh, tiisg, D, q[g]);
    for (int t = 0; t < DPL; t++) {
      q[g][t] *= args.scale;
      acc[g][t] = 0.0f;
    }
    M[g] = MM_NEG_BIG;
    S[g] = 0.0f;
  }
  for (int j = j_begin + int(sgitg); j < j_end; j += nsg) {
    float k[DPL], v[DPL];
    const int row = args.ring > 0 ? j % args.ring : j;
    load_lane_dims<KV, DPL>((device const KV *)(src1 + row * args.k_stride) + kvh * D, tiisg, D, k);
    load_lane_dims<KV, DPL>((device const KV *)(src2 + row * args.v_stride) + kvh * D, tiisg, D, v);
    for (int g0 = 0; g0 < G; g0 += 4) {
      if (g0 >= ng) break;  // uniform: the chunk's heads only
      float4 part = float4(0.0f);
      for (int gg = 0; gg < 4 && g0 + gg < ng; gg++)
        for (int t = 0; t < DPL; t++) part[gg] += q[g0 + gg][t] * k[t];
      const float4 s4 = simd_sum(part);  // up to 4 heads' scores in one reduction
      for (int gg = 0; gg < 4 && g0 + gg < ng; gg++) {
        const int g = g0 + gg;
        const float s = args.softcap > 0.0f ? args.softcap * precise::tanh(s4[gg] / args.softcap) : s4[gg];
        const float newM = fmax(M[g], s);
        const float c = precise::exp(M[g] - newM), p = precise::exp(s - newM);
        S[g] = S[g] * c + p;
        for (int t = 0; t < DPL; t++) acc[g][t] = acc[g][t] * c + p * v[t];
        M[g] = newM;
      }
    }
  }

  // Merge the simdgroups, one head at a time: ms[sg] = (M, S), o[sg][D] = acc.
  threadgroup float * o = (threadgroup float *)shmem;  // [nsg][D]
  threadgroup float * ms = o + nsg * D;                // [nsg][2]
  const int tid = int(tpitg.x);
  for (int g = 0; g < ng; g++) {
    if (tiisg == 0) {
      ms[2 * sgitg] = M[g];
      ms[2 * sgitg + 1] = S[g];
    }
    for (int t = 0; t < DPL; t++) {
      const int d = int(tiisg) * DPL + t;
      if (d < D) o[int(sgitg) * D + d] = acc[g][t];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float gM = MM_NEG_BIG;
    for (int s = 0; s < nsg; s++) gM = fmax(gM, ms[2 * s]);
    const int h = h0 + g;
    for (int d = tid; d < D; d += int(ntg.x)) {
      float sum = 0.0f, od = 0.0f;
      for (int s = 0; s < nsg; s++) {
        const float w = precise::exp(ms[2 * s] - gM);  // 0 for simdgroups that saw no key
        sum += w * ms[2 * s + 1];
        od += w * o[s * D + d];
      }
      if (nsplit == 1) {
        ((device float *)(dst + i * args.d_stride))[h * D + d] = od / sum;
      } else {
        device float * part = (device float *)dst + ((i * args.n_head + h) * nsplit + z) * (D + 2);
        if (d == 0) {
          part[0] = gM;
          part[1] = sum;
        }
        part[2 + d] = od;
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // o and ms are rewritten for the next head
  }
}

// One (head, query row) per threadgroup: the splits' partials of attn_decode merged.
inline void attn_combine_impl(constant AttentionArgs & args, device const char * src0, device char * dst, uint3 tgpig,
                              uint3 tpitg, uint3 ntg) {
  const int h = int(tgpig.x), i = int(tgpig.y), D = args.head_dim, ns = args.n_splits;
  device const float * part = (device const float *)src0 + (i * args.n_head + h) * ns * (D + 2);  // [ns][D + 2]
  float gM = MM_NEG_BIG;
  for (int z = 0; z < ns; z++) gM = fmax(gM, part[z * (D + 2)]);
  float sum = 0.0f;
  for (int z = 0; z < ns; z++) sum += precise::exp(part[z * (D + 2)] - gM) * part[z * (D + 2) + 1];
  device float * out = (device float *)(dst + i * args.d_stride) + h * D;  // [D]
  for (int d = int(tpitg.x); d < D; d += int(ntg.x)) {
    float od = 0.0f;
    for (int z = 0; z < ns; z++) od += precise::exp(part[z * (D + 2)] - gM) * part[z * (D + 2) + 2 + d];
    out[d] = od / sum;
  }
}
MM_KERNEL(attn_combine_f32, AttentionArgs) { attn_combine_impl(args, src0, dst, tgpig, tpitg, ntg); }

// ---- prefill -------------------------------------------------------------------------------
template <typename KV, int DMAX>
inline void attn_prefill_impl(constant AttentionArgs & args, device const char * src0, device const char * src1,
                              device const char * src2, device char * dst, threadgroup char * shmem, uint3 tgpig,
                              uint3 tpitg, uint3 ntg, uint tiisg, uint sgitg) {
  const int D = args.head_dim, TK = args.tile_keys, h = int(tgpig.x);
  const int kvh = h / (args.n_head / args.n_kv_head);
  const int nsg = int(ntg.x) / MM_SIMD_WIDTH, nt = int(ntg.x), tid = int(tpitg.x);
  const int ldk = D + MM_ATTN_PAD, lds = TK + MM_ATTN_PAD;
  threadgroup float * sk = (threadgroup float *)shmem;                       // [TK][ldk] keys
  threadgroup float * sv = sk + TK * ldk;                                    // [TK][ldk] values
  threadgroup float * ss = sv + TK * ldk + int(sgitg) * 8 * lds;             // [8][lds] this simdgroup's scores / P
  threadgroup float * sd = sv + TK * ldk + nsg * 8 * lds + int(sgitg) * 64;  // [8][8] its diagonal

  // This simdgroup's 8 query rows (the last 8 when they would pass n_rows; n_rows >= 8).
  const int blk0 = int(tgpig.y) * 8 * nsg;
  const int r0 = min(blk0 + 8 * int(sgitg), args.n_rows - 8);
  // Lanes 4r .. 4r+3 own row r0 + r: its causal limit, M and S.
  const int myrow = r0 + int(tiisg) / 4;
  const int n_kv = args.n_past + myrow % args.n_tokens + 1;
  const int kv_lo = args.window > 0 ? max(0, n_kv - args.window) : 0;
  // Keys any row of the threadgroup sees (uniform, for the barriers).
  int kv_end = 0, kv_begin = 1 << 30;
  for (int s = 0; s < nsg; s++) {
    const int rs = min(blk0 + 8 * s, args.n_rows - 8);
    for (int r = rs; r < rs + 8; r++) {
      const int e = args.n_past + r % args.n_tokens + 1;
      kv_end = max(kv_end, e);
      kv_begin = min(kv_begin, args.window > 0 ? max(0, e - args.window) : 0);
    }
  }

  const ulong ldq = ulong(args.q_stride / 4), ldd = ulong(args.d_stride / 4);
  device const float * q = (device const float *)src0 + r0 * ldq + h * D;  // [8][D] at stride ldq
  simdgroup_float8x8 acc[DMAX / 8];                                        // the 8 x D output, 8 columns each
  for (int t = 0; t < DMAX / 8; t++) acc[t] = make_filled_simdgroup_matrix<float, 8>(0.0f);
  for (int e = int(tiisg); e < 64; e += MM_SIMD_WIDTH) sd[e] = 0.0f;
  float M = MM_NEG_BIG, S = 0.0f;
  const int cols = TK / 4, c0 = (int(tiisg) % 4) * cols;  // this lane's score columns

  // K / V tile loaders: tpr threads per key row, each copying 4 dims at a time; rows
  // tid / tpr, + rstep, ... (one division per thread, none per element).
  const int tpr = min(nt, D / 4), lr = tid / tpr, ld = (tid % tpr) * 4, rstep = nt / tpr;
  for (int j0 = kv_begin; j0 < kv_end; j0 += TK) {
    threadgroup_barrier(mem_flags::mem_threadgroup);  // the previous tile is consumed
    if (lr < rstep) {
      for (int jj = lr; jj < TK; jj += rstep) {
        const int j = j0 + jj, jr = min(j, kv_end - 1), row = args.ring > 0 ? jr % args.ring : jr;
        device const KV * kr = (device const KV *)(src1 + row * args.k_stride) + kvh * D;
        device const KV * vr = (device const KV *)(src2 + row * args.v_stride) + kvh * D;
        for (int d = ld; d < D; d += 4 * tpr)
          for (int e = 0; e < 4; e++) {
            // Keys past the block's last one: zeros (their P is 0, and 0 * NaN would not be).
            sk[jj * ldk + d + e] = j < kv_end ? float(kr[d + e]) : 0.0f;
            sv[jj * ldk + d + e] = j < kv_end ? float(vr[d + e]) : 0.0f;
          }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);

    // Scores: S[8][TK] = Q[8][D] . K^T, pre-scaled in the softmax below.
    for (int kt = 0; kt < TK / 8; kt++) {
      simdgroup_float8x8 s = make_filled_simdgroup_matrix<float, 8>(0.0f);
      for (int dc = 0; dc < DMAX / 8; dc++) {
        if (8 * dc >= D) break;
        simdgroup_float8x8 mq, mk;
        simdgroup_load(mq, q + 8 * dc, ldq);
        simdgroup_load(mk, sk + kt * 8 * ldk + 8 * dc, ulong(ldk), ulong2(0, 0), true);
        simdgroup_multiply_accumulate(s, mq, mk, s);
      }
      simdgroup_store(s, ss + 8 * kt, ulong(lds));
    }
    simdgroup_barrier(mem_flags::mem_threadgroup);

    // Online softmax of this lane's row over its columns; 4 lanes per row combine by shuffles.
    threadgroup float * srow = ss + (int(tiisg) / 4) * lds;
    float mx = MM_NEG_BIG;
    for (int c = c0; c < c0 + cols; c++) {
      const bool seen = j0 + c < n_kv && j0 + c >= kv_lo;
      float v = srow[c] * args.scale;
      if (args.softcap > 0.0f) v = args.softcap * precise::tanh(v / args.softcap);
      v = seen ? v : MM_NEG_BIG;
      srow[c] = v;
      mx = fmax(mx, v);
    }
    mx = fmax(mx, simd_shuffle_xor(mx, ushort(1)));
    mx = fmax(mx, simd_shuffle_xor(mx, ushort(2)));
    const float newM = fmax(M, mx);
    const float corr = precise::exp(M - newM);
    float sum = 0.0f;
    for (int c = c0; c < c0 + cols; c++) {
      const float p = j0 + c < n_kv && j0 + c >= kv_lo ? precise::exp(srow[c] - newM) : 0.0f;
      srow[c] = p;
      sum += p;
    }
    sum += simd_shuffle_xor(sum, ushort(1));
    sum += simd_shuffle_xor(sum, ushort(2));
    S = S * corr + sum;
    M = newM;
    if (tiisg % 4 == 0) sd[(tiisg / 4) * 9] = corr;  // diagonal element (r, r)
    simdgroup_barrier(mem_flags::mem_threadgroup);

    // acc = diag(corr) . acc + P . V
    simdgroup_float8x8 diag;
    simdgroup_load(diag, sd, 8);
    for (int t = 0; t < DMAX / 8; t++) {
      if (8 * t >= D) break;
      simdgroup_multiply(acc[t], diag, acc[t]);
      for (int kt = 0; kt < TK / 8; kt++) {
        simdgroup_float8x8 mp, mv;
        simdgroup_load(mp, ss + 8 * kt, ulong(lds));
        simdgroup_load(mv, sv + kt * 8 * ldk + 8 * t, ulong(ldk));
        simdgroup_multiply_accumulate(acc[t], mp, mv, acc[t]);
      }
    }
  }

  // out = diag(1 / S) . acc, stored straight to the 8 rows of dst.
  simdgroup_barrier(mem_flags::mem_threadgroup);  // every lane is done reading sd
  if (tiisg % 4 == 0) sd[(tiisg / 4) * 9] = 1.0f / S;
  simdgroup_barrier(mem_flags::mem_threadgroup);
  simdgroup_float8x8 inv;
  simdgroup_load(inv, sd, 8);
  device float * out = (device float *)dst + r0 * ldd + h * D;
  for (int t = 0; t < DMAX / 8; t++) {
    if (8 * t >= D) break;
    simdgroup_multiply(acc[t], inv, acc[t]);
    simdgroup_store(acc[t], out + 8 * t, ldd);
  }
}

#define MM_ATTN_DECODE_KERNEL(KVS, KV, DMAX)                                                                    \
  MM_KERNEL(attn_decode_##KVS##_d##DMAX, AttentionArgs) {                                                       \
    attn_decode_impl<KV, DMAX / 32>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, ntg, tgpg, tiisg, sgitg); \
  }
MM_ATTN_DECODE_KERNEL(f32, float, 32)
MM_ATTN_DECODE_KERNEL(f32, float, 64)
MM_ATTN_DECODE_KERNEL(f32, float, 128)
MM_ATTN_DECODE_KERNEL(f32, float, 256)
MM_ATTN_DECODE_KERNEL(f16, half, 32)
MM_ATTN_DECODE_KERNEL(f16, half, 64)
MM_ATTN_DECODE_KERNEL(f16, half, 128)
MM_ATTN_DECODE_KERNEL(f16, half, 256)

#define MM_ATTN_PREFILL_KERNEL(KVS, KV, DMAX)                                                         \
  MM_KERNEL(attn_prefill_##KVS##_d##DMAX, AttentionArgs) {                                            \
    attn_prefill_impl<KV, DMAX>(args, src0, src1, src2, dst, shmem, tgpig, tpitg, ntg, tiisg, sgitg); \
  }
MM_ATTN_PREFILL_KERNEL(f32, float, 32)
MM_ATTN_PREFILL_KERNEL(f32, float, 64)
MM_ATTN_PREFILL_KERNEL(f32, float, 128)
MM_ATTN_PREFILL_KERNEL(f32, float, 256)
MM_ATTN_PREFILL_KERNEL(f16, half, 32)
MM_ATTN_PREFILL_KERNEL(f16, half, 64)
MM_ATTN_PREFILL_KERNEL(f16, half, 128)
MM_ATTN_PREFILL_KERNEL(f16, half, 256)
