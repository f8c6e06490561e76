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
  Napi::Value Close(const Napi::CallbackInfo& info);
  std::shared_ptr<MappedFile> file_;
};

class BufferWrap : public Napi::ObjectWrap<BufferWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, BufferPtr buffer);
  explicit BufferWrap(const Napi::CallbackInfo& info);
  const BufferPtr& buffer() const { return buffer_; }
  static BufferPtr From(const Napi::Value& v, const std::string& what);

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  BufferPtr buffer_;
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
  Napi::Value Segments(const Napi::CallbackInfo& info);
  std::shared_ptr<BackendState> state_;
  std::shared_ptr<Schedule> graph_;  // the graph as the scheduler split it
};

// Constructors are kept per-environment (worker threads get their own).
struct AddonData {
  Napi::FunctionReference mapped_file, buffer, backend, graph;
};

}  // namespace mm::js
