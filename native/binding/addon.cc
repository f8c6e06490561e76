// The addon's entry point: module-level functions and the wrapped classes.
// This directory is the only place that knows about N-API.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/dtype.h"
#include "../core/host.h"
#include "../core/mapped_file.h"
#include "../core/op_table.h"
#include "../core/quants.h"
#include "../core/scheduler.h"
#include "napi_util.h"
#include "wrappers.h"

namespace mm::js {
namespace {

constexpr int64_t kMaxElements = int64_t(1) << 40;

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const HostInfo f = host_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("physicalCores", f.physical_cores);
  o.Set("logicalCores", f.logical_cores);
  o.Set("simd", f.simd);
  Napi::Array names = Napi::Array::New(env, f.features.size());
  for (uint32_t i = 0; i < f.features.size(); i++) names.Set(i, f.features[i]);
  o.Set("features", names);
  return o;
}

// setCpuSimd('scalar' | 'avx2' | 'avx-vnni' | 'neon' | 'neon-dotprod' | 'auto'):
// tests run every kernel through each path ('avx2': plain AVX2 as on a Zen 3;
// 'avx-vnni': no AVX-512; 'neon-dotprod': arm64 sdot panels, no i8mm; 'neon':
// arm64 row kernels only; each means 'auto' on CPUs without those extensions).
Napi::Value SetCpuSimd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string mode = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (!set_cpu_kernel_level(mode))
    throw_error(env, "ERR_INVALID_ARG", "mode must be 'scalar', 'avx2', 'avx-vnni', 'neon', 'neon-dotprod' or 'auto'");
  return env.Undefined();
}

// probeHardware({bandwidthBytes, threads}) -> {readGBs, readGBsSmallPages, peakGflops}:
// the benchmarks' yardsticks (read bandwidth from a buffer in huge pages where the
// system gives them, and in 4 KB pages). Blocks the calling thread for about a second.
Napi::Value ProbeHardware(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].IsUndefined() ? Napi::Object::New(env) : to_object(info[0], "options");
  const int64_t bytes = get_int(o, "bandwidthBytes", int64_t(1) << 20, int64_t(1) << 34, int64_t(256) << 20);
  const int threads = static_cast<int>(get_int(o, "threads", 1, 1024, host_info().physical_cores));
  return guard(env, [&] {
    Napi::Object r = Napi::Object::New(env);
    r.Set("readGBs", measure_read_bandwidth(static_cast<size_t>(bytes), threads));
    r.Set("readGBsSmallPages", measure_read_bandwidth(static_cast<size_t>(bytes), threads, false));
    r.Set("peakGflops", measure_peak_gflops(threads));
    return r;
  });
}

Napi::Value TypeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TypeTraits* t = type_traits(static_cast<int32_t>(to_int(info[0], "type", -1, 1 << 20)));
  if (!t) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", t->name);
  o.Set("blockSize", static_cast<double>(t->block_size));
  o.Set("typeSize", static_cast<double>(t->type_size));
  o.Set("isQuantized", t->is_quantized);
  return o;
}

// The native tables lib/ mirrors (test/native-tables.test.ts compares them):
// tensor types, ops with their source counts and parameters, the parameters'
// kinds, and the kernels the GPU plans dispatch.
Napi::Object Tables(Napi::Env env) {
  Napi::Object t = Napi::Object::New(env);
  const std::vector<int32_t>& ids = known_types();
  Napi::Array types = Napi::Array::New(env, ids.size());
  for (uint32_t i = 0; i < ids.size(); i++) {
    const TypeTraits& tt = *type_traits(ids[i]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", ids[i]);
    o.Set("name", tt.name);
    o.Set("blockSize", static_cast<double>(tt.block_size));
    o.Set("typeSize", static_cast<double>(tt.type_size));
    o.Set("isQuantized", tt.is_quantized);
    types.Set(i, o);
  }
  t.Set("types", types);
  Napi::Array ops = Napi::Array::New(env, static_cast<size_t>(OpKind::Count));
  for (uint32_t i = 0; i < static_cast<uint32_t>(OpKind::Count); i++) {
    const OpInfo& oi = op_info(static_cast<OpKind>(i));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", oi.name);
    o.Set("minSrc", oi.min_src);
    o.Set("maxSrc", oi.max_src);
    Napi::Array ps = Napi::Array::New(env, oi.params.size());
    for (uint32_t k = 0; k < oi.params.size(); k++) ps.Set(k, oi.params[k]);
    o.Set("params", ps);
    ops.Set(i, o);
  }
  t.Set("ops", ops);
  const std::vector<ParamInfo>& params = op_params();
  Napi::Array ps = Napi::Array::New(env, params.size());
  for (uint32_t i = 0; i < params.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", params[i].name);
    o.Set("kind", params[i].kind == ParamKind::Number    ? "number"
                  : params[i].kind == ParamKind::Integer ? "integer"
                                                         : "boolean");
    ps.Set(i, o);
  }
  t.Set("params", ps);
  const std::vector<std::string> kernels = gpu_kernel_names();
  Napi::Array ks = Napi::Array::New(env, kernels.size());
  for (uint32_t i = 0; i < kernels.size(); i++) ks.Set(i, kernels[i]);
  t.Set("gpuKernels", ks);
  t.Freeze();
  return t;
}

Napi::Value AvailableBackends(const Napi::CallbackInfo& info) {
  auto names = available_backends();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (uint32_t i = 0; i < names.size(); i++) a.Set(i, names[i]);
  return a;
}

DType type_arg(const Napi::Value& v) {
  const auto t = static_cast<int32_t>(to_int(v, "type", 0, 1 << 20));
  if (!type_traits(t)) throw_error(v.Env(), "ERR_UNSUPPORTED", std::string("unsupported type ") + type_name(t));
  return static_cast<DType>(t);
}

// quantize(type, Float32Array, rowLength) -> Uint8Array of blocks
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType t = type_arg(info[0]);
  if (!can_quantize(t)) throw_error(env, "ERR_UNSUPPORTED", std::string("cannot quantize to ") + traits(t).name);
  const Bytes src = typed_array_bytes(info[1], "src");
  if (src.type != napi_float32_array) throw_error(env, "ERR_INVALID_ARG", "src must be a Float32Array");
  const int64_t row = to_int(info[2], "rowLength", 1, kMaxElements);
  const TypeTraits& tt = traits(t);
  if (row % tt.block_size != 0)
    throw_error(env, "ERR_INVALID_ARG",
                "rowLength " + std::to_string(row) + " is not a multiple of the " + tt.name + " block size " +
                    std::to_string(tt.block_size));
  const auto n = static_cast<int64_t>(src.size / sizeof(float));
  if (n % row != 0)
    throw_error(env, "ERR_INVALID_ARG",
                "src length " + std::to_string(n) + " is not a multiple of rowLength " + std::to_string(row));
  const size_t rb = row_bytes(t, row);
  const int64_t rows = n / row;
  Napi::Uint8Array out = Napi::Uint8Array::New(env, rb * static_cast<size_t>(rows));
  // Shared memory is copied first: the block search reads each value more than
  // once and must see the same value each time, whatever other threads write.
  std::vector<float> copy;
  const float* in = reinterpret_cast<const float*>(src.data);
  if (src.shared && n > 0) {
    copy.assign(in, in + n);
    in = copy.data();
  }
  guard(env, [&] {
    for (int64_t r = 0; r < rows; r++) quantize_row(t, in + r * row, out.Data() + rb * r, row);
  });
  return out;
}

// dequantize(type, Uint8Array, count) -> Float32Array
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType t = type_arg(info[0]);
  const Bytes src = typed_array_bytes(info[1], "src");
  const int64_t count = to_int(info[2], "count", 0, kMaxElements);
  const TypeTraits& tt = traits(t);
  if (count % tt.block_size != 0)
    throw_error(env, "ERR_INVALID_ARG",
                "count " + std::to_string(count) + " is not a multiple of the " + tt.name + " block size " +
                    std::to_string(tt.block_size));
  const size_t need = row_bytes(t, count);
  if (src.size < need)
    throw_error(env, "ERR_INVALID_ARG",
                "src has " + std::to_string(src.size) + " bytes, " + std::to_string(count) + " " + tt.name +
                    " elements need " + std::to_string(need));
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(count));
  guard(env, [&] { dequantize_row(t, src.data, out.Data(), count); });
  return out;
}

// sampleLogits(logits: Float32Array, topK, topP, minP, temperature, r) -> token id:
// the sampler's selection and draw over one row of logits on the JS thread
// alone (Backend's sampleLogits also uses the backend's idle threads).
Napi::Value SampleLogits(const Napi::CallbackInfo& info) { return sample_row(info, nullptr); }

// externalMemory() -> the isolate's externally allocated bytes as V8 counts
// them (what buffers report through AdjustExternalMemory adds up here).
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

// reportedMemory() -> the bytes this addon's buffers report to V8 now, its own
// share of externalMemory() (which also moves as V8 frees ArrayBuffers).
Napi::Value ReportedMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(reported_memory()));
}

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "ERR_INVALID_ARG", "path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  return guard(env, [&] { return MappedFileWrap::New(env, MappedFile::open(path)); });
}

// Maps (or with huge pages, reads: the whole file) on a worker thread.
class MapWorker : public Napi::AsyncWorker {
 public:
  MapWorker(Napi::Env env, std::string path, bool huge_pages)
      : Napi::AsyncWorker(env, "minimacllm:map"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        huge_pages_(huge_pages) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string message;
    if (const char* code = capture_error([&] { file_ = MappedFile::open(path_, huge_pages_); }, &message)) {
      code_ = code;
      SetError(message);
    }
  }
  void OnOK() override { deferred_.Resolve(MappedFileWrap::New(Env(), std::move(file_))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(make_error(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  bool huge_pages_;
  std::shared_ptr<MappedFile> file_;
  const char* code_ = "ERR_INTERNAL";
};

// mapFileAsync(path, hugePages) -> Promise<MappedFile>: hugePages asks for the
// weights' read-only view as a copy in transparent huge pages (MappedFile::open).
Napi::Value MapFileAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "ERR_INVALID_ARG", "path must be a string");
  if (!info[1].IsBoolean()) throw_error(env, "ERR_INVALID_ARG", "hugePages must be a boolean");
  auto* w = new MapWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Boolean>().Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// createBackend(name, {threads, fallback, skipOps, verifyPlans, maxGroupThreads}):
// the backend with the CPU as its fallback; the other options are for tests:
// fallback: false makes a node the backend doesn't run ERR_UNSUPPORTED, skipOps
// (op names) are never given to the backend, verifyPlans and maxGroupThreads
// see BackendOptions.
Napi::Value CreateBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "ERR_INVALID_ARG", "backend name must be a string");
  BackendOptions opts;
  SchedulerOptions sched;
  if (!info[1].IsUndefined()) {
    Napi::Object o = to_object(info[1], "options");
    opts.threads = static_cast<int>(get_int(o, "threads", 0, 1024, 0));
    sched.fallback = get_bool(o, "fallback", true, "options");
    opts.verify_plans = get_bool(o, "verifyPlans", false, "options");
    opts.max_group_threads = static_cast<int>(get_int(o, "maxGroupThreads", 0, 1024, 0));
    Napi::Value skip = o.Get("skipOps");
    if (!skip.IsUndefined()) {
      if (!skip.IsArray()) throw_error(env, "ERR_INVALID_ARG", "options.skipOps must be an array of op names");
      Napi::Array a = skip.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        OpKind op;
        Napi::Value v = a.Get(i);
        if (!v.IsString() || !op_from_name(v.As<Napi::String>().Utf8Value(), &op))
          throw_error(env, "ERR_INVALID_ARG", "options.skipOps[" + std::to_string(i) + "] is not an op name");
        sched.skip_ops.push_back(op);
      }
    }
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  return guard(env, [&] {
    return BackendWrap::New(env, std::shared_ptr<Scheduler>(create_scheduler(name, opts, std::move(sched))));
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* d = new AddonData();
  d->mapped_file = Napi::Persistent(MappedFileWrap::Init(env));
  d->buffer = Napi::Persistent(BufferWrap::Init(env));
  d->backend = Napi::Persistent(BackendWrap::Init(env));
  d->graph = Napi::Persistent(GraphWrap::Init(env));
  env.SetInstanceData(d);
  exports.Set("version", Napi::String::New(env, MM_PACKAGE_VERSION));  // package.json's, defined by binding.gyp
  exports.Set("tables", Tables(env));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("setCpuSimd", Napi::Function::New(env, SetCpuSimd, "setCpuSimd"));
  exports.Set("probeHardware", Napi::Function::New(env, ProbeHardware, "probeHardware"));
  exports.Set("typeInfo", Napi::Function::New(env, TypeInfo, "typeInfo"));
  exports.Set("availableBackends", Napi::Function::New(env, AvailableBackends, "availableBackends"));
  exports.Set("quantize", Napi::Function::New(env, Quantize, "quantize"));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize, "dequantize"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("mapFileAsync", Napi::Function::New(env, MapFileAsync, "mapFileAsync"));
  exports.Set("sampleLogits", Napi::Function::New(env, SampleLogits, "sampleLogits"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("reportedMemory", Napi::Function::New(env, ReportedMemory, "reportedMemory"));
  exports.Set("createBackend", Napi::Function::New(env, CreateBackend, "createBackend"));
  return exports;
}

}  // namespace
}  // namespace mm::js

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mm::js::Init(env, exports); }
NODE_API_MODULE(minimacllm, InitAddon)
