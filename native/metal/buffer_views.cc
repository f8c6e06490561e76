#include "buffer_views.h"

#include <algorithm>
#include <numeric>

namespace mm {
namespace metal {

ViewPlan plan_views(const std::vector<ByteRange>& ranges, ByteRange region, size_t page, size_t max_length) {
  auto floor_page = [&](uintptr_t a) { return a / page * page; };
  auto ceil_page = [&](uintptr_t a) { return (a + page - 1) / page * page; };
  const uintptr_t lo = floor_page(region.begin), hi = ceil_page(region.end);
  const size_t max_len = max_length / page * page;  // whole pages only

  ViewPlan p;
  p.view_of.assign(ranges.size(), -1);
  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a].begin < ranges[b].begin; });

  bool open = false;
  ByteRange cur;
  std::vector<size_t> members;  // ranges of the open view
  auto close = [&] {
    if (!open) return;
    p.views.push_back(cur);
    for (size_t m : members) p.view_of[m] = static_cast<int32_t>(p.views.size() - 1);
    members.clear();
    open = false;
  };
  for (size_t i : order) {
    const ByteRange& r = ranges[i];
    if (r.begin < region.begin || r.end > region.end || r.end < r.begin) continue;  // outside the memory
    const uintptr_t b = floor_page(r.begin), e = std::max(ceil_page(r.end), b + page);
    if (e - b > max_len || b < lo || e > hi) continue;  // cannot be one view
    if (open && std::max(cur.end, e) - cur.begin <= max_len) {
      cur.end = std::max(cur.end, e);
    } else {
      close();
      cur = ByteRange{b, e};
      open = true;
    }
    members.push_back(i);
  }
  close();
  return p;
}

}  // namespace metal
}  // namespace mm
