// Splitting one host memory range (a mapped model file, or a large host
// allocation) into GPU buffer views no longer than the device's
// maxBufferLength (Apple guarantees only 256 MB), such that no tensor
// straddles two views: each tensor is bound as (a view that holds all of it,
// its offset in that view). Views start on a page boundary and are whole pages
// (newBufferWithBytesNoCopy's rules) and may overlap. Portable C++: the Metal
// host creates the views, the unit test checks the arithmetic with small limits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mm {
namespace metal {

struct ByteRange {
  uintptr_t begin = 0, end = 0;  // absolute addresses, [begin, end)
};

struct ViewPlan {
  std::vector<ByteRange> views;  // page-aligned, lengths multiples of the page, <= max_length
  std::vector<int32_t> view_of;  // per input range: the index of a view holding it, -1 when none can
};

// Views covering every range of `ranges`, each range wholly inside one view.
// `region` is the memory the views may span (rounded out to pages: mapped
// pages are whole). A range longer than max_length once rounded to pages gets
// view_of -1 (its tensor cannot be bound as one buffer). Greedy by start
// address: each view grows while the next range still fits, so consecutive
// tensors share a view and a new view starts at the first one that does not.
ViewPlan plan_views(const std::vector<ByteRange>& ranges, ByteRange region, size_t page, size_t max_length);

}  // namespace metal
}  // namespace mm
