#include "scheduler.h"

#include <algorithm>
#include <map>
#include <utility>

#include "error.h"

namespace mm {

namespace {

std::string where(const Graph& g, size_t i) {
  return "node " + std::to_string(i) + " (" + op_name(g.nodes[i].op) + ")";
}

// Copies rows [r.begin, r.end) of `from` into `to` (the same rows of a tensor
// and its mirror: same offset, type and stride, different buffers). Row gaps
// are never written, so bytes of other tensors between rows stay untouched.
void copy_rows(const TensorDesc& from, const TensorDesc& to, RowRange r) {
  if (r.end <= r.begin) return;
  const size_t rb = row_bytes(from.type, from.cols);
  const size_t first = from.offset + static_cast<size_t>(r.begin) * from.row_stride;
  if (from.row_stride == rb) {
    from.buffer->copy_to(*to.buffer, first, first, static_cast<size_t>(r.end - r.begin) * rb);
    return;
  }
  for (int64_t i = 0; i < r.end - r.begin; i++) {
    const size_t at = first + static_cast<size_t>(i) * from.row_stride;
    from.buffer->copy_to(*to.buffer, at, at, rb);
  }
}

RowRange access_rows(const Graph& g, const TensorCopy::Access& a, const StepArgs& step) {
  const Node& n = g.nodes[a.node];
  return a.slot < 0 ? rows_written(g, n, step) : rows_read(g, n, static_cast<size_t>(a.slot), step);
}

void run_copy(const Graph& g, const TensorCopy& c, const StepArgs& step) {
  RowRange r{0, 0};
  bool first = true;
  for (const TensorCopy::Access& a : c.accesses) {
    const RowRange ar = access_rows(g, a, step);
    if (ar.end <= ar.begin) continue;
    r = first ? ar : RowRange{std::min(r.begin, ar.begin), std::max(r.end, ar.end)};
    first = false;
  }
  copy_rows(g.tensors[c.from], g.tensors[c.to], r);
}

}  // namespace

Scheduler::Scheduler(std::unique_ptr<Backend> backend, std::unique_ptr<Backend> cpu, SchedulerOptions options)
    : options_(std::move(options)) {
  backends_[0] = std::move(backend);
  backends_[1] = std::move(cpu);
}

Scheduler::~Scheduler() = default;

int Scheduler::threads() const { return std::max(backends_[0]->threads(), backends_[1] ? backends_[1]->threads() : 0); }

std::shared_ptr<Schedule> Scheduler::prepare(std::shared_ptr<const Graph> g) {
  auto s = std::make_shared<Schedule>();
  s->source = g;
  s->graph = *g;
  Graph& sg = s->graph;

  // 1. Each node's backend, asked once.
  std::vector<int> owner(g->nodes.size());
  for (size_t i = 0; i < g->nodes.size(); i++) {
    const OpKind op = g->nodes[i].op;
    std::string why;
    const bool skipped = std::find(options_.skip_ops.begin(), options_.skip_ops.end(), op) != options_.skip_ops.end();
    if (skipped) why = "op skipped by the scheduler options";
    if (!skipped && backends_[0]->supports_node(*g, i, &why)) {
      owner[i] = 0;
      continue;
    }
    std::string cpu_why;
    if (backends_[1] && backends_[1]->supports_node(*g, i, &cpu_why)) {
      owner[i] = 1;
      continue;
    }
    fail(ErrorCode::Unsupported, backends_[0]->name() + ": " + where(*g, i) + " cannot run here: " + why +
                                     (backends_[1] ? "; nor on the CPU: " + cpu_why : ""));
  }

  // 2. Segments: maximal runs of one backend.
  for (size_t i = 0; i < g->nodes.size(); i++) {
    if (s->segments.empty() || s->segments.back().backend != owner[i]) {
      s->segments.emplace_back();
      s->segments.back().backend = owner[i];
    }
    s->segments.back().nodes.push_back(static_cast<int32_t>(i));
  }

  // 3. Mirrors and the copies around each segment.
  std::map<std::pair<int, int32_t>, int32_t> mirror_of;
  std::map<std::pair<int, const Buffer*>, BufferPtr> mirror_buffer;
  for (ScheduledSegment& seg : s->segments) {
    Backend& be = *backends_[seg.backend];
    auto use = [&](int32_t t) -> int32_t {
      const TensorDesc& td = sg.tensors[t];
      if (be.can_use(*td.buffer)) return t;
      auto it = mirror_of.find({seg.backend, t});
      if (it != mirror_of.end()) return it->second;
      BufferPtr& mb = mirror_buffer[{seg.backend, td.buffer.get()}];
      if (!mb) {
        mb = be.allocate(td.buffer->size());
        if (!be.can_use(*mb)) fail(ErrorCode::Internal, be.name() + ": cannot use the memory it allocates");
        s->mirrors.push_back(mb);
      }
      TensorDesc m = td;
      m.buffer = mb;
      sg.tensors.push_back(std::move(m));
      const auto mi = static_cast<int32_t>(sg.tensors.size() - 1);
      mirror_of[{seg.backend, t}] = mi;
      // Read-only tensors (weights) are copied once, whole, right here.
      if (sg.tensors[t].buffer->read_only()) copy_rows(sg.tensors[t], sg.tensors[mi], RowRange{0, sg.tensors[t].rows});
      return mi;
    };
    auto add = [](std::vector<TensorCopy>& list, int32_t from, int32_t to, TensorCopy::Access a) {
      for (TensorCopy& c : list)
        if (c.from == from && c.to == to) {
          c.accesses.push_back(a);
          return;
        }
      list.push_back(TensorCopy{from, to, {a}});
    };
    for (int32_t ni : seg.nodes) {
      Node& n = sg.nodes[ni];
      for (size_t k = 0; k < n.src.size(); k++) {
        const int32_t t = n.src[k];
        const int32_t m = use(t);
        if (m != t && !sg.tensors[t].buffer->read_only()) add(seg.copy_in, t, m, {ni, static_cast<int32_t>(k)});
        n.src[k] = m;
      }
      const int32_t t = n.dst;
      const int32_t m = use(t);
      if (m != t) add(seg.copy_out, m, t, {ni, -1});
      n.dst = m;
    }
  }
  // 4. Each backend prepares its segments over the scheduled graph.
  for (ScheduledSegment& seg : s->segments) {
    seg.prepared = backends_[seg.backend]->prepare(sg, seg.nodes);
  }
  return s;
}

void Scheduler::warm(Schedule& s) {
  std::lock_guard<std::mutex> lock(mu_);
  for (ScheduledSegment& seg : s.segments) backends_[seg.backend]->warm(*seg.prepared);
}

bool Scheduler::try_run_host(int64_t n_chunks, const std::function<void(int64_t chunk)>& fn) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  // The CPU fallback's threads, else the backend's own (the CPU backend's).
  return (backends_[1] ? backends_[1] : backends_[0])->run_host(n_chunks, fn);
}

void Scheduler::run(Schedule& s, const StepArgs& step) {
  std::lock_guard<std::mutex> lock(mu_);
  validate_step(s.graph, step);
  int prev = -1;
  try {
    for (ScheduledSegment& seg : s.segments) {
      Backend& be = *backends_[seg.backend];
      // What the other backend wrote must be complete before this one reads it.
      if (prev >= 0 && prev != seg.backend) backends_[prev]->synchronize();
      for (const TensorCopy& c : seg.copy_in) run_copy(s.graph, c, step);
      be.run(*seg.prepared, step);
      if (!seg.copy_out.empty()) {
        be.synchronize();
        for (const TensorCopy& c : seg.copy_out) run_copy(s.graph, c, step);
      }
      prev = seg.backend;
    }
    if (prev >= 0) backends_[prev]->synchronize();
  } catch (...) {
    // Leave no work in flight on either backend, then report the first error.
    for (auto& b : backends_) {
      if (!b) continue;
      try {
        b->synchronize();
      } catch (...) {}
    }
    throw;
  }
}

}  // namespace mm
