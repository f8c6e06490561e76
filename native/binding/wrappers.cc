#include "wrappers.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/host.h"
#include "../core/op_table.h"
#include "napi_util.h"

namespace mm::js {

namespace {

constexpr int64_t kMaxSafe = (int64_t(1) << 53) - 1;

AddonData& data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// ---- step arguments ---------------------------------------------------------

struct StepInput {
  int32_t tensor;
  std::vector<uint8_t> bytes;
};
struct StepOutput {
  int32_t tensor;
  Napi::ObjectReference target;  // the caller's typed array
  // The rows copied out of the graph on the worker thread, delivered to target
  // on the JS thread; not zero-filled first (the copy writes every byte).
  std::unique_ptr<uint8_t[]> bytes;
  size_t size = 0;
};
struct ParsedStep {
  StepArgs args;
  std::vector<StepInput> inputs;
  std::vector<StepOutput> outputs;
};

size_t step_bytes(const TensorDesc& t, int64_t n_tokens) {
  return static_cast<size_t>(t.rows_at(n_tokens)) * row_bytes(t.type, t.cols);
}

ParsedStep parse_step(Napi::Env env, const Graph& g, const Napi::Value& v) {
  Napi::Object o = to_object(v, "step");
  ParsedStep s;
  s.args.n_tokens = require_int(o, "nTokens", 1, g.max_tokens, "step");
  s.args.n_past = get_int(o, "nPast", 0, int64_t(1) << 40, 0);
  const auto n_tensors = static_cast<int64_t>(g.tensors.size()) - 1;
  auto each = [&](const char* key, auto&& fn) {
    Napi::Value list = o.Get(key);
    if (list.IsUndefined()) return;
    if (!list.IsArray()) throw_error(env, "ERR_INVALID_ARG", std::string("step.") + key + " must be an array");
    Napi::Array arr = list.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      const std::string what = std::string("step.") + key + "[" + std::to_string(i) + "]";
      Napi::Object e = to_object(arr.Get(i), what);
      const auto t = static_cast<int32_t>(require_int(e, "tensor", 0, n_tensors, what));
      Napi::Value data = e.Get("data");
      fn(what, t, data, typed_array_bytes(data, what + ".data"));
    }
  };
  each("inputs", [&](const std::string& what, int32_t t, const Napi::Value&, const Bytes& a) {
    const TensorDesc& td = g.tensors[t];
    if (td.buffer->read_only()) throw_error(env, "ERR_INVALID_ARG", what + ": tensor is read-only");
    const size_t need = step_bytes(td, s.args.n_tokens);
    if (a.size != need)
      throw_error(env, "ERR_INVALID_ARG",
                  what + ".data has " + std::to_string(a.size) + " bytes, the tensor's rows for this step need " +
                      std::to_string(need));
    s.inputs.push_back({t, std::vector<uint8_t>(a.data, a.data + need)});
  });
  each("outputs", [&](const std::string& what, int32_t t, const Napi::Value& v, const Bytes& a) {
    const size_t need = step_bytes(g.tensors[t], s.args.n_tokens);
    if (a.size < need)
      throw_error(env, "ERR_INVALID_ARG",
                  what + ".data has " + std::to_string(a.size) + " bytes, the tensor's rows for this step need " +
                      std::to_string(need));
    s.outputs.push_back({t, Napi::Persistent(v.As<Napi::Object>()), nullptr, 0});
  });
  validate_step(g, s.args);
  return s;
}

// Runs on any thread: inputs in, the graph, outputs out to host vectors.
// First the mapped weight files are checked: running over a truncated file
// would fault (SIGBUS) instead of failing.
void execute_step(Scheduler& sched, Schedule& sg, const std::vector<std::shared_ptr<MappedFile>>& files,
                  ParsedStep& s) {
  for (const auto& f : files) f->check_unchanged();
  const Graph& g = sg.graph;
  for (const StepInput& in : s.inputs) {
    const TensorDesc& t = g.tensors[in.tensor];
    const size_t rb = row_bytes(t.type, t.cols);
    const int64_t rows = t.rows_at(s.args.n_tokens);
    for (int64_t r = 0; r < rows; r++) t.buffer->set(t.offset + r * t.row_stride, in.bytes.data() + r * rb, rb);
  }
  sched.run(sg, s.args);
  for (StepOutput& out : s.outputs) {
    const TensorDesc& t = g.tensors[out.tensor];
    const size_t rb = row_bytes(t.type, t.cols);
    const int64_t rows = t.rows_at(s.args.n_tokens);
    out.size = rb * static_cast<size_t>(rows);
    out.bytes.reset(new uint8_t[out.size]);
    for (int64_t r = 0; r < rows; r++) t.buffer->get(t.offset + r * t.row_stride, out.bytes.get() + r * rb, rb);
  }
}

void deliver_outputs(ParsedStep& s) {
  for (StepOutput& out : s.outputs) {
    // The caller may have detached (transferred) or shrunk (a resizable
    // ArrayBuffer) the target while the step ran: then it gets nothing.
    Bytes a;
    if (try_typed_array_bytes(out.target.Value(), &a) && a.size >= out.size && out.size > 0)
      std::memcpy(a.data, out.bytes.get(), out.size);
  }
}

// Runs a step of a graph off the main thread, or (warm_only) makes what its first run would (Scheduler::warm).
class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<BackendState> state, std::shared_ptr<Schedule> graph,
            std::vector<std::shared_ptr<MappedFile>> files, ParsedStep step, bool warm_only = false)
      : Napi::AsyncWorker(env, "minimacllm:run"),
        warm_only_(warm_only),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        backend_(state_->backend),
        graph_(std::move(graph)),
        files_(std::move(files)),
        step_(std::move(step)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    std::string message;
    const auto work = [&] {
      if (!warm_only_) return execute_step(*backend_, *graph_, files_, step_);
      for (const auto& f : files_) f->check_unchanged();
      backend_->warm(*graph_);
    };
    if (const char* code = capture_error(work, &message)) {
      code_ = code;
      SetError(message);
    }
  }
  void OnOK() override {
    deliver_outputs(step_);
    release();
    deferred_.Resolve(Env().Undefined());
    state_->finish_one();
  }
  void OnError(const Napi::Error& e) override {
    release();
    deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
    state_->finish_one();
  }

 private:
  bool warm_only_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BackendState> state_;
  std::shared_ptr<Scheduler> backend_;
  std::shared_ptr<Schedule> graph_;
  std::vector<std::shared_ptr<MappedFile>> files_;
  ParsedStep step_;
  const char* code_ = "ERR_INTERNAL";

  // Drops the references now (the worker object itself is deleted later), so
  // a dispose() waiting on this run frees everything at once.
  void release() {
    backend_.reset();
    graph_.reset();
    files_.clear();
    step_ = ParsedStep();
  }
};

// ---- graph spec -----------------------------------------------------------------

TensorDesc parse_tensor(Napi::Env env, const Napi::Value& v, const std::string& what,
                        std::vector<std::shared_ptr<MappedFile>>* files) {
  Napi::Object o = to_object(v, what);
  TensorDesc t;
  BufferWrap* bw = BufferWrap::Get(o.Get("buffer"), what + ".buffer");
  t.buffer = bw->buffer();
  if (bw->file() && std::find(files->begin(), files->end(), bw->file()) == files->end()) files->push_back(bw->file());
  t.offset = static_cast<size_t>(require_int(o, "offset", 0, kMaxSafe, what));
  const auto type = static_cast<int32_t>(require_int(o, "type", 0, 1000, what));
  if (!type_traits(type)) throw_error(env, "ERR_UNSUPPORTED", what + ": unsupported type " + type_name(type));
  t.type = static_cast<DType>(type);
  t.cols = require_int(o, "cols", 1, int64_t(1) << 40, what);
  t.rows = require_int(o, "rows", 0, int64_t(1) << 40, what);
  t.rows_per_token = get_int(o, "rowsPerToken", 0, 1 << 20, 0);
  const TypeTraits& tt = traits(t.type);
  if (t.cols % tt.block_size != 0)
    throw_error(env, "ERR_INVALID_ARG",
                what + ": cols " + std::to_string(t.cols) + " is not a multiple of the " + tt.name + " block size " +
                    std::to_string(tt.block_size));
  t.row_stride =
      static_cast<size_t>(get_int(o, "rowStride", 0, kMaxSafe, static_cast<int64_t>(row_bytes(t.type, t.cols))));
  return t;
}

Node parse_node(Napi::Env env, const Napi::Value& v, const std::string& what) {
  Napi::Object o = to_object(v, what);
  Node n;
  Napi::Value op = o.Get("op");
  if (!op.IsString()) throw_error(env, "ERR_INVALID_ARG", what + ".op must be a string");
  const std::string name = op.As<Napi::String>().Utf8Value();
  if (!op_from_name(name, &n.op)) throw_error(env, "ERR_UNSUPPORTED", what + ": unknown op '" + name + "'");
  Napi::Value src = o.Get("src");
  if (!src.IsArray()) throw_error(env, "ERR_INVALID_ARG", what + ".src must be an array of tensor indices");
  Napi::Array sa = src.As<Napi::Array>();
  if (sa.Length() > 8) throw_error(env, "ERR_INVALID_ARG", what + ".src has too many entries");
  for (uint32_t i = 0; i < sa.Length(); i++)
    n.src.push_back(static_cast<int32_t>(to_int(sa.Get(i), what + ".src[" + std::to_string(i) + "]", 0, INT32_MAX)));
  n.dst = static_cast<int32_t>(require_int(o, "dst", 0, INT32_MAX, what));
  Napi::Value pv = o.Get("params");
  if (!pv.IsUndefined()) {
    // Every parameter of the op table (native/core/op_table.h), by its name.
    Napi::Object p = to_object(pv, what + ".params");
    const std::string pw = what + ".params";
    for (const ParamInfo& pi : op_params()) {
      switch (pi.kind) {
        case ParamKind::Number: pi.set(n.p, get_number(p, pi.name, pi.get(n.p), pw)); break;
        case ParamKind::Integer:
          pi.set(n.p, static_cast<double>(get_int(p, pi.name, static_cast<int64_t>(pi.min),
                                                  static_cast<int64_t>(pi.max), static_cast<int64_t>(pi.get(n.p)))));
          break;
        case ParamKind::Boolean: pi.set(n.p, get_bool(p, pi.name, pi.get(n.p) != 0, pw) ? 1 : 0); break;
      }
    }
    if (p.Get("nRot").IsUndefined()) n.p.n_rot = n.p.head_dim;  // rope rotates the whole head by default
  }
  return n;
}

}  // namespace

// ---- MappedFile --------------------------------------------------------------------

Napi::Function MappedFileWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "MappedFile",
      {InstanceAccessor<&MappedFileWrap::Size>("size"), InstanceAccessor<&MappedFileWrap::Path>("path"),
       InstanceAccessor<&MappedFileWrap::HugePages>("hugePages"), InstanceMethod<&MappedFileWrap::View>("view"),
       InstanceMethod<&MappedFileWrap::ResidentBytes>("residentBytes"),
       InstanceMethod<&MappedFileWrap::Close>("close")});
}

Napi::Object MappedFileWrap::New(Napi::Env env, std::shared_ptr<MappedFile> file) {
  Napi::Object o = data(env).mapped_file.New({});
  MappedFileWrap::Unwrap(o)->file_ = std::move(file);
  return o;
}

MappedFileWrap::MappedFileWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappedFileWrap>(info) {}

std::shared_ptr<MappedFile> MappedFileWrap::file(Napi::Env env) const {
  if (!file_) throw_error(env, "ERR_DISPOSED", "the mapped file has been closed");
  return file_;
}

Napi::Value MappedFileWrap::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(file(info.Env())->size()));
}
Napi::Value MappedFileWrap::Path(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), file(info.Env())->path());
}

Napi::Value MappedFileWrap::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto f = file(env);
  const int64_t off = to_int(info[0], "offset", 0, static_cast<int64_t>(f->size()));
  const int64_t len = to_int(info[1], "length", 0, static_cast<int64_t>(f->size()) - off);
  if (len == 0) return Napi::Uint8Array::New(env, 0);
  // The view keeps the mapping alive until close() or GC; the pages are
  // copy-on-write, so writes are harmless.
  auto hold = std::make_shared<std::shared_ptr<MappedFile>>(f);
  auto* finalizer_hold = new std::shared_ptr<std::shared_ptr<MappedFile>>(hold);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, const_cast<uint8_t*>(f->data()) + off, static_cast<size_t>(len),
      [](Napi::Env, void*, std::shared_ptr<std::shared_ptr<MappedFile>>* h) { delete h; }, finalizer_hold);
  // Forget views already collected, so the list stays as small as the live ones.
  views_.erase(
      std::remove_if(views_.begin(), views_.end(), [](const LiveView& v) { return v.buffer.Value().IsEmpty(); }),
      views_.end());
  views_.push_back({Napi::Weak(ab), hold});
  return Napi::Uint8Array::New(env, static_cast<size_t>(len), ab, 0);
}

Napi::Value MappedFileWrap::ResidentBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(file(info.Env())->resident_bytes()));
}

Napi::Value MappedFileWrap::HugePages(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), file(info.Env())->huge_pages());
}

Napi::Value MappedFileWrap::Close(const Napi::CallbackInfo& info) {
  // Live views are detached (their length becomes 0): nothing in JS can reach
  // the mapping afterwards. Wrapped buffers and graphs keep their own references.
  for (LiveView& v : views_) {
    Napi::ArrayBuffer ab = v.buffer.Value();
    if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    v.hold->reset();
  }
  views_.clear();
  file_.reset();
  return info.Env().Undefined();
}

// ---- Buffer ------------------------------------------------------------------------

Napi::Function BufferWrap::Init(Napi::Env env) {
  return DefineClass(env, "Buffer",
                     {InstanceAccessor<&BufferWrap::Size>("size"), InstanceMethod<&BufferWrap::Dispose>("dispose")});
}

Napi::Object BufferWrap::New(Napi::Env env, BufferPtr buffer) {
  Napi::Object o = data(env).buffer.New({});
  BufferWrap::Unwrap(o)->buffer_ = std::move(buffer);
  return o;
}

BufferWrap::BufferWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BufferWrap>(info) {}

// What all buffers currently report to V8, summed over every environment: V8's
// own counter also moves with ArrayBuffers that its sweeper frees meanwhile.
static std::atomic<int64_t> g_reported{0};

int64_t reported_memory() { return g_reported.load(); }

static void adjust(Napi::Env env, int64_t bytes) {
  g_reported += bytes;
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
}

BufferWrap::~BufferWrap() {
  if (reported_ != 0) adjust(Env(), -reported_);
}

void BufferWrap::report(Napi::Env env, int64_t bytes) {
  reported_ += bytes;
  adjust(env, bytes);
}

void BufferWrap::release(Napi::Env env) {
  disposed_ = true;
  buffer_.reset();
  file_.reset();
  if (reported_ != 0) adjust(env, -reported_);
  reported_ = 0;
}

BufferWrap* BufferWrap::Get(const Napi::Value& v, const std::string& what) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data(env).buffer.Value()))
    throw_error(env, "ERR_INVALID_ARG", what + " must be a Buffer from backend.allocate() or backend.wrap()");
  BufferWrap* w = Napi::ObjectWrap<BufferWrap>::Unwrap(v.As<Napi::Object>());
  if (w->disposed_) throw_error(env, "ERR_DISPOSED", what + " has been disposed");
  if (!w->buffer_) throw_error(env, "ERR_INVALID_ARG", what + " is not an initialized buffer");
  return w;
}

BufferPtr BufferWrap::From(const Napi::Value& v, const std::string& what) { return Get(v, what)->buffer_; }

Napi::Value BufferWrap::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), buffer_ ? static_cast<double>(buffer_->size()) : 0);
}

// Drops this object's reference to the memory now; graphs that use the buffer
// keep theirs until they are disposed too. Idempotent.
Napi::Value BufferWrap::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

// ---- Backend -----------------------------------------------------------------------

void BackendState::finish_one() {
  inflight--;
  if (disposed && inflight == 0) {
    backend.reset();
    for (auto& d : dispose_waiters) d.Resolve(d.Env().Undefined());
    dispose_waiters.clear();
  }
}

Napi::Function BackendWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "Backend",
      {InstanceAccessor<&BackendWrap::Name>("name"), InstanceAccessor<&BackendWrap::Threads>("threads"),
       InstanceMethod<&BackendWrap::Allocate>("allocate"), InstanceMethod<&BackendWrap::Wrap>("wrap"),
       InstanceMethod<&BackendWrap::Upload>("upload"), InstanceMethod<&BackendWrap::Download>("download"),
       InstanceMethod<&BackendWrap::Supports>("supports"), InstanceMethod<&BackendWrap::CreateGraph>("createGraph"),
       InstanceMethod<&BackendWrap::SampleLogits>("sampleLogits"), InstanceMethod<&BackendWrap::Dispose>("dispose")});
}

Napi::Object BackendWrap::New(Napi::Env env, std::shared_ptr<Scheduler> backend) {
  Napi::Object o = data(env).backend.New({});
  auto st = std::make_shared<BackendState>();
  st->backend = std::move(backend);
  BackendWrap::Unwrap(o)->state_ = st;
  return o;
}

BackendWrap::BackendWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BackendWrap>(info) {}

Scheduler& BackendWrap::live(Napi::Env env) {
  if (!state_ || state_->disposed || !state_->backend)
    throw_error(env, "ERR_DISPOSED", "the backend has been disposed");
  return *state_->backend;
}

Napi::Value BackendWrap::Name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info.Env()).backend().name());
}
Napi::Value BackendWrap::Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), live(info.Env()).threads());
}

Napi::Value BackendWrap::Allocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Backend& be = live(env).backend();
  const int64_t bytes = to_int(info[0], "bytes", 1, kMaxSafe);
  return guard(env, [&] {
    Napi::Object o = BufferWrap::New(env, be.allocate(static_cast<size_t>(bytes)));
    BufferWrap::Unwrap(o)->report(env, bytes);
    return o;
  });
}

Napi::Value BackendWrap::Wrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Backend& be = live(env).backend();
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(data(env).mapped_file.Value()))
    throw_error(env, "ERR_INVALID_ARG", "file must be a MappedFile from mapFile()");
  auto f = MappedFileWrap::Unwrap(info[0].As<Napi::Object>())->file(env);
  const int64_t off = to_int(info[1], "offset", 0, static_cast<int64_t>(f->size()));
  const int64_t len = to_int(info[2], "length", 1, static_cast<int64_t>(f->size()) - off);
  return guard(env, [&] {
    BufferPtr b = be.wrap(const_cast<uint8_t*>(f->read_only_data()) + off, static_cast<size_t>(len), f);
    // (the huge-page copy is anonymous memory: its dropped pages would read back as zeros)
    if (b->host_data() == f->read_only_data() + off) b->set_file_pages(!f->huge_pages());
    Napi::Object o = BufferWrap::New(env, std::move(b));
    BufferWrap::Unwrap(o)->set_file(f);
    return o;
  });
}

Napi::Value BackendWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  BufferPtr b = BufferWrap::From(info[0], "buffer");
  const int64_t off = to_int(info[1], "offset", 0, kMaxSafe);
  const Bytes a = typed_array_bytes(info[2], "data");
  guard(env, [&] { b->set(static_cast<size_t>(off), a.data, a.size); });
  return env.Undefined();
}

Napi::Value BackendWrap::Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  BufferPtr b = BufferWrap::From(info[0], "buffer");
  const int64_t off = to_int(info[1], "offset", 0, kMaxSafe);
  const Bytes a = typed_array_bytes(info[2], "data");
  guard(env, [&] { b->get(static_cast<size_t>(off), a.data, a.size); });
  return env.Undefined();
}

Napi::Value BackendWrap::Supports(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Backend& be = live(env).backend();
  if (!info[0].IsString()) throw_error(env, "ERR_INVALID_ARG", "op must be a string");
  OpKind op;
  if (!op_from_name(info[0].As<Napi::String>().Utf8Value(), &op)) return Napi::Boolean::New(env, false);
  std::vector<DType> types;
  if (info[1].IsArray()) {
    Napi::Array a = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      const auto t = static_cast<int32_t>(to_int(a.Get(i), "types[" + std::to_string(i) + "]", 0, 1000));
      if (!type_traits(t)) return Napi::Boolean::New(env, false);
      types.push_back(static_cast<DType>(t));
    }
  }
  return Napi::Boolean::New(env, be.supports(op, types));
}

Napi::Value BackendWrap::CreateGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Scheduler& sched = live(env);
  Napi::Object spec = to_object(info[0], "graph spec");
  auto g = std::make_shared<Graph>();
  g->max_tokens = require_int(spec, "maxTokens", 1, 1 << 20, "graph spec");
  Napi::Value tv = spec.Get("tensors"), nv = spec.Get("nodes");
  if (!tv.IsArray() || !nv.IsArray()) throw_error(env, "ERR_INVALID_ARG", "graph spec needs tensors and nodes arrays");
  Napi::Array ta = tv.As<Napi::Array>(), na = nv.As<Napi::Array>();
  std::vector<std::shared_ptr<MappedFile>> files;
  for (uint32_t i = 0; i < ta.Length(); i++)
    g->tensors.push_back(parse_tensor(env, ta.Get(i), "tensors[" + std::to_string(i) + "]", &files));
  for (uint32_t i = 0; i < na.Length(); i++)
    g->nodes.push_back(parse_node(env, na.Get(i), "nodes[" + std::to_string(i) + "]"));
  guard(env, [&] { g->validate(); });
  std::shared_ptr<Schedule> s = guard(env, [&] { return sched.prepare(g); });
  Napi::Object o = GraphWrap::New(env, state_, s);
  GraphWrap::Unwrap(o)->files_ = std::move(files);
  return o;
}

Napi::Value BackendWrap::SampleLogits(const Napi::CallbackInfo& info) { return sample_row(info, &live(info.Env())); }

Napi::Value BackendWrap::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto d = Napi::Promise::Deferred::New(env);
  if (!state_ || (state_->disposed && !state_->backend)) {
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  state_->disposed = true;
  if (state_->inflight == 0) {
    state_->backend.reset();
    d.Resolve(env.Undefined());
  } else {
    state_->dispose_waiters.push_back(d);
  }
  return d.Promise();
}

// ---- Graph -------------------------------------------------------------------------

Napi::Function GraphWrap::Init(Napi::Env env) {
  return DefineClass(env, "Graph",
                     {InstanceMethod<&GraphWrap::Run>("run"), InstanceMethod<&GraphWrap::RunSync>("runSync"),
                      InstanceMethod<&GraphWrap::Warm>("warm"), InstanceMethod<&GraphWrap::Segments>("segments"),
                      InstanceMethod<&GraphWrap::Dispose>("dispose")});
}

Napi::Object GraphWrap::New(Napi::Env env, std::shared_ptr<BackendState> state, std::shared_ptr<Schedule> graph) {
  Napi::Object o = data(env).graph.New({});
  GraphWrap* w = GraphWrap::Unwrap(o);
  w->state_ = std::move(state);
  w->graph_ = std::move(graph);
  return o;
}

GraphWrap::GraphWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GraphWrap>(info) {}

std::shared_ptr<Schedule> GraphWrap::live(Napi::Env env) const {
  if (disposed_) throw_error(env, "ERR_DISPOSED", "the graph has been disposed");
  if (!graph_) throw_error(env, "ERR_INVALID_ARG", "not an initialized graph");
  if (!state_ || state_->disposed || !state_->backend)
    throw_error(env, "ERR_DISPOSED", "the backend has been disposed");
  return graph_;
}

Napi::Value GraphWrap::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Schedule> g = live(env);
  ParsedStep step = guard(env, [&] { return parse_step(env, g->graph, info[0]); });
  auto* w = new RunWorker(env, state_, g, files_, std::move(step));
  Napi::Promise p = w->promise();
  state_->inflight++;
  w->Queue();
  return p;
}

// warm() -> Promise: makes off the main thread what the first run would make for itself (the CPU's
// regrouped q4_0 and q8_0 weights), so that run does not pay for it.
Napi::Value GraphWrap::Warm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Schedule> g = live(env);
  auto* w = new RunWorker(env, state_, g, files_, ParsedStep(), true);
  Napi::Promise p = w->promise();
  state_->inflight++;
  w->Queue();
  return p;
}

Napi::Value GraphWrap::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Schedule> g = live(env);
  ParsedStep step = guard(env, [&] { return parse_step(env, g->graph, info[0]); });
  std::shared_ptr<Scheduler> be = state_->backend;
  guard(env, [&] { execute_step(*be, *g, files_, step); });
  deliver_outputs(step);
  return env.Undefined();
}

// segments() -> [{backend, nodes, copiesIn, copiesOut}]: how the scheduler
// split the graph (tests, diagnostics).
Napi::Value GraphWrap::Segments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Schedule> g = live(env);
  Napi::Array out = Napi::Array::New(env, g->segments.size());
  for (uint32_t i = 0; i < g->segments.size(); i++) {
    const ScheduledSegment& seg = g->segments[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", state_->backend->backend(seg.backend).name());
    Napi::Array nodes = Napi::Array::New(env, seg.nodes.size());
    for (uint32_t k = 0; k < seg.nodes.size(); k++) nodes.Set(k, seg.nodes[k]);
    o.Set("nodes", nodes);
    const std::vector<std::vector<int32_t>> fused =
        seg.prepared ? seg.prepared->fused() : std::vector<std::vector<int32_t>>{};
    Napi::Array fa = Napi::Array::New(env, fused.size());
    for (uint32_t f = 0; f < fused.size(); f++) {
      Napi::Array one = Napi::Array::New(env, fused[f].size());
      for (uint32_t k = 0; k < fused[f].size(); k++) one.Set(k, fused[f][k]);
      fa.Set(f, one);
    }
    o.Set("fused", fa);
    const std::vector<int32_t> regrouped = seg.prepared ? seg.prepared->regrouped() : std::vector<int32_t>{};
    Napi::Array ra = Napi::Array::New(env, regrouped.size());
    for (uint32_t k = 0; k < regrouped.size(); k++) ra.Set(k, regrouped[k]);
    o.Set("regrouped", ra);
    const std::vector<int32_t> copied = seg.prepared ? seg.prepared->copied() : std::vector<int32_t>{};
    Napi::Array ca = Napi::Array::New(env, copied.size());
    for (uint32_t k = 0; k < copied.size(); k++) ca.Set(k, copied[k]);
    o.Set("copied", ca);
    o.Set("copiesIn", static_cast<double>(seg.copy_in.size()));
    o.Set("copiesOut", static_cast<double>(seg.copy_out.size()));
    out.Set(i, o);
  }
  return out;
}

// Drops the graph (and through it the tensors' buffers) now; a run in flight
// keeps its own reference until it finishes. Idempotent.
Napi::Value GraphWrap::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  graph_.reset();
  files_.clear();
  return info.Env().Undefined();
}

Napi::Value sample_row(const Napi::CallbackInfo& info, Scheduler* threads) {
  Napi::Env env = info.Env();
  const Bytes src = typed_array_bytes(info[0], "logits");
  if (src.type != napi_float32_array || src.size == 0)
    throw_error(env, "ERR_INVALID_ARG", "logits must be a non-empty Float32Array");
  const auto n = static_cast<int64_t>(src.size / sizeof(float));
  if (n > INT32_MAX) throw_error(env, "ERR_INVALID_ARG", "logits has more than 2^31 - 1 entries");
  auto number = [&](size_t i, const char* what, double lo, double hi) {
    const double v = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
    if (!(v >= lo && v <= hi))
      throw_error(env, "ERR_INVALID_ARG",
                  std::string(what) + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
  };
  SampleParams p;
  p.top_k = to_int(info[1], "topK", 0, INT32_MAX);
  p.top_p = number(2, "topP", 0, 1);
  p.min_p = number(3, "minP", 0, 1);
  p.temperature = number(4, "temperature", 0, 1e30);
  const double r = number(5, "r", 0, 1);
  // Shared memory is copied first: the passes must all see the same values.
  std::vector<float> copy;
  const float* x = reinterpret_cast<const float*>(src.data);
  if (src.shared) {
    copy.assign(x, x + n);
    x = copy.data();
  }
  // The backend's threads when no step holds them (the JS thread never waits for one), else the caller alone.
  const ParallelFor par = [threads](int64_t chunks, const std::function<void(int64_t)>& fn) {
    if (!threads->try_run_host(chunks, fn))
      for (int64_t c = 0; c < chunks; c++) fn(c);
  };
  return guard(env, [&] { return Napi::Number::New(env, sample_logits(x, n, p, r, threads ? &par : nullptr)); });
}

}  // namespace mm::js
