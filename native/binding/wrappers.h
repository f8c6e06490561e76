// JS classes over the native objects: MappedFile, Buffer, Backend, Graph.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "../core/mapped_file.h"
#include "../core/scheduler.h"

namespace mm::js {

class MappedFileWrap : public Napi::ObjectWrap<MappedFileWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<MappedFile> file);
  explicit MappedFileWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<MappedFile> file(Napi::Env env) const;

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value ResidentBytes(const Napi::CallbackInfo& info);
  Napi::Value HugePages(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  std::shared_ptr<MappedFile> file_;
  // Views handed out: close() detaches the live ones and drops their hold on
  // the mapping, so it is unmapped once buffers and graphs let go, not at GC.
  struct LiveView {
    Napi::Reference<Napi::ArrayBuffer> buffer;  // weak
    std::shared_ptr<std::shared_ptr<MappedFile>> hold;
  };
  std::vector<LiveView> views_;
};

class BufferWrap : public Napi::ObjectWrap<BufferWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, BufferPtr buffer);
  explicit BufferWrap(const Napi::CallbackInfo& info);
  ~BufferWrap() override;
  const BufferPtr& buffer() const { return buffer_; }
  static BufferPtr From(const Napi::Value& v, const std::string& what);
  // The wrapper itself, checked like From().
  static BufferWrap* Get(const Napi::Value& v, const std::string& what);
  // The mapped file a wrap()ped buffer borrows from (null for allocations).
  const std::shared_ptr<MappedFile>& file() const { return file_; }
  void set_file(std::shared_ptr<MappedFile> f) { file_ = std::move(f); }
  // Tells V8 about `bytes` of native memory held by this object (GC pressure).
  void report(Napi::Env env, int64_t bytes);

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void release(Napi::Env env);
  BufferPtr buffer_;
  std::shared_ptr<MappedFile> file_;
  int64_t reported_ = 0;
  bool disposed_ = false;
};

// Shared between a Backend object and the Graphs made from it: dispose()
// resolves once the in-flight runs are done, then drops the backend and its
// scheduler (joining their threads) even while graphs are still reachable
// from JS.
struct BackendState {
  std::shared_ptr<Scheduler> backend;
  int inflight = 0;  // touched on the JS thread only
  bool disposed = false;
  std::vector<Napi::Promise::Deferred> dispose_waiters;
  void finish_one();
};

class BackendWrap : public Napi::ObjectWrap<BackendWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<Scheduler> backend);
  explicit BackendWrap(const Napi::CallbackInfo& info);

 private:
  Scheduler& live(Napi::Env env);
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Threads(const Napi::CallbackInfo& info);
  Napi::Value Allocate(const Napi::CallbackInfo& info);
  Napi::Value Wrap(const Napi::CallbackInfo& info);
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Download(const Napi::CallbackInfo& info);
  Napi::Value Supports(const Napi::CallbackInfo& info);
  Napi::Value CreateGraph(const Napi::CallbackInfo& info);
  Napi::Value SampleLogits(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<BackendState> state_;
};

class GraphWrap : public Napi::ObjectWrap<GraphWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<BackendState> state, std::shared_ptr<Schedule> graph);
  explicit GraphWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value RunSync(const Napi::CallbackInfo& info);
  Napi::Value Warm(const Napi::CallbackInfo& info);
  Napi::Value Segments(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  std::shared_ptr<Schedule> live(Napi::Env env) const;
  std::shared_ptr<BackendState> state_;
  std::shared_ptr<Schedule> graph_;  // the graph as the scheduler split it
  bool disposed_ = false;

 public:
  // Mapped files the graph reads: checked unchanged before every run.
  std::vector<std::shared_ptr<MappedFile>> files_;
};

// Bytes of native memory the addon's buffers report to V8 now (all environments).
int64_t reported_memory();

// Constructors are kept per-environment (worker threads get their own).
struct AddonData {
  Napi::FunctionReference mapped_file, buffer, backend, graph;
};

// sampleLogits(logits: Float32Array, topK, topP, minP, temperature, r) -> token id,
// validated, synchronous (O(vocab)); `threads` (may be null): a scheduler whose
// CPU threads take part when no run holds them.
Napi::Value sample_row(const Napi::CallbackInfo& info, Scheduler* threads);

}  // namespace mm::js
