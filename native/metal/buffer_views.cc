#include "buffer_views.h"

#include <algorithm>

namespace mm {
namespace metal {

ByteRange view_for(ByteRange r, ByteRange region, size_t page, size_t max_length) {
  if (page == 0 || r.end < r.begin || r.begin < region.begin || r.end > region.end) return {};
  auto floor_page = [&](uintptr_t a) { return a / page * page; };
  auto ceil_page = [&](uintptr_t a) { return (a + page - 1) / page * page; };
  const uintptr_t lo = floor_page(region.begin), hi = std::max(ceil_page(region.end), lo + page);
  const uintptr_t w = max_length / page * page;  // whole pages only
  const uintptr_t b = floor_page(r.begin), e = std::max(ceil_page(r.end), b + page);
  if (w == 0 || e - b > w) return {};
  if (hi - lo <= w) return {lo, hi};  // the whole memory is one view
  // Windows of w every `stride` bytes; the one where the range starts, moved
  // back to end at hi when it would pass it.
  const uintptr_t stride = std::max<uintptr_t>(page, w / 2 / page * page);
  const uintptr_t start = std::min(lo + (b - lo) / stride * stride, hi - w);
  if (e <= start + w) return {start, start + w};
  // Longer than what remains of its window: a view from its own first page.
  const uintptr_t own = std::min(b, hi - w);
  return {own, own + w};
}

}  // namespace metal
}  // namespace mm
