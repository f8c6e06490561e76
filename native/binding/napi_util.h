// Helpers shared by the binding's files: argument readers that throw
// ERR_INVALID_ARG with precise messages, and the mm::Error -> JS Error bridge.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/error.h"

namespace mm::js {

// Throws a JS Error carrying `code` (e.g. "ERR_INVALID_ARG").
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);

// Runs fn, converting native exceptions into JS errors with a code.
template <typename F>
auto guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw_error(env, error_code_name(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    throw_error(env, "ERR_OUT_OF_MEMORY", "out of memory");
  } catch (const std::exception& e) {
    throw_error(env, "ERR_INTERNAL", e.what());
  }
}

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);

// guard() for an AsyncWorker's Execute() (off the JS thread: no Env): runs fn
// and returns nullptr, or the code of the native exception it threw with its
// message in *message (for SetError, then make_error in OnError).
template <typename F>
const char* capture_error(F&& fn, std::string* message) {
  try {
    fn();
    return nullptr;
  } catch (const Error& e) {
    *message = e.what();
    return error_code_name(e.code());
  } catch (const std::bad_alloc&) {
    *message = "out of memory";
    return "ERR_OUT_OF_MEMORY";
  } catch (const std::exception& e) {
    *message = e.what();
    return "ERR_INTERNAL";
  }
}

// Integer argument in [lo, hi]; `what` names it in the message.
int64_t to_int(const Napi::Value& v, const std::string& what, int64_t lo, int64_t hi);
int64_t get_int(const Napi::Object& o, const char* key, int64_t lo, int64_t hi, int64_t fallback);
int64_t require_int(const Napi::Object& o, const char* key, int64_t lo, int64_t hi, const std::string& what);
double get_number(const Napi::Object& o, const char* key, double fallback, const std::string& what);
bool get_bool(const Napi::Object& o, const char* key, bool fallback, const std::string& what);
Napi::Object to_object(const Napi::Value& v, const std::string& what);
Napi::TypedArray to_typed_array(const Napi::Value& v, const std::string& what);

// The bytes of a typed array: works for views of ArrayBuffers and of
// SharedArrayBuffers alike (napi_get_typedarray_info's data pointer; the
// ArrayBuffer accessors reject shared memory). A view of a detached buffer is
// ERR_INVALID_ARG naming `what`.
struct Bytes {
  uint8_t* data = nullptr;
  size_t size = 0;
  napi_typedarray_type type = napi_uint8_array;
  bool shared = false;  // a SharedArrayBuffer view: other threads may write it meanwhile
};
Bytes typed_array_bytes(const Napi::Value& v, const std::string& what);
// The same without throwing: false for a detached view (used where a JS
// exception cannot be raised, e.g. delivering a finished run's outputs).
bool try_typed_array_bytes(const Napi::Value& v, Bytes* out);

}  // namespace mm::js
