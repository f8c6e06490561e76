// Binding host memory (a mapped model file, or a host allocation) to the GPU
// through no-copy buffer views no longer than the device's maxBufferLength
// (Apple guarantees only 256 MB), such that no tensor straddles two views:
// each tensor is bound as (a view that holds all of it, its offset in that
// view). Views start on a page boundary and are whole pages
// (newBufferWithBytesNoCopy's rules). Portable C++: the Metal host creates the
// views, the unit test (native/test/buffers_test.cc) checks the arithmetic
// with small pages and limits.
#pragma once
#include <cstddef>
#include <cstdint>

namespace mm {
namespace metal {

struct ByteRange {
  uintptr_t begin = 0, end = 0;  // absolute addresses, [begin, end)
  bool empty() const { return end <= begin; }
};

// The view through which the GPU sees `range` of the memory `region` (rounded
// out to pages: mapped pages are whole). Views come from one fixed set per
// region, whichever tensor asks first, so a model needs few of them:
//  - a region of at most max_length (whole pages): one view, all of it;
//  - else windows of exactly max_length starting every max_length / 2 (the last
//    one ending at the region's end), so every range up to half a view lies in
//    the window where it starts, and consecutive windows overlap by half;
//  - a longer range that no window holds gets a view of max_length from its
//    own first page (or ending at the region's end).
// Empty when the range, rounded to pages, is longer than max_length (its
// tensor cannot be one GPU buffer) or lies outside the region.
ByteRange view_for(ByteRange range, ByteRange region, size_t page, size_t max_length);

}  // namespace metal
}  // namespace mm
