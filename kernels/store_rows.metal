// store_rows_<type>: dst[n_past + r, :] = convert(src[r, :]) (row (n_past + r) % ring
// of a ring: a sliding-window layer's cache), how new keys and values enter the KV cache. f16 rounds to nearest even
// (Metal's conversion), bf16 likewise (same bit recipe as the CPU backend). grid: (ceil(cols / 256), rows), 256
// threads.
#include "common.h"

#define MM_STORE_PROLOGUE                                                         \
  const int c = int(tgpig.x * ntg.x + tpitg.x), r = int(tgpig.y);                 \
  if (c >= args.cols) return;                                                     \
  const float v = ((device const float *)(src0 + r * args.s_stride))[c];          \
  const int at = args.ring > 0 ? (args.n_past + r) % args.ring : args.n_past + r; \
  device char * drow = dst + at * args.d_stride;

MM_KERNEL(store_rows_f32, StoreRowsArgs) { MM_STORE_PROLOGUE((device float *)drow)[c] = v; }
MM_KERNEL(store_rows_f16, StoreRowsArgs) { MM_STORE_PROLOGUE((device half *)drow)[c] = half(v); }
MM_KERNEL(store_rows_bf16, StoreRowsArgs) { MM_STORE_PROLOGUE((device ushort *)drow)[c] = f32_to_bf16(v); }
