#include "napi_util.h"

#include <limits>

namespace mm::js {

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

void throw_error(Napi::Env env, const char* code, const std::string& message) { throw make_error(env, code, message); }

int64_t to_int(const Napi::Value& v, const std::string& what, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) throw_error(v.Env(), "ERR_INVALID_ARG", what + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d))
    throw_error(v.Env(), "ERR_INVALID_ARG", what + " must be an integer, got " + std::to_string(d));
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw_error(v.Env(), "ERR_INVALID_ARG",
                what + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                    std::to_string(static_cast<long long>(d)));
  return static_cast<int64_t>(d);
}

int64_t get_int(const Napi::Object& o, const char* key, int64_t lo, int64_t hi, int64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  return to_int(v, key, lo, hi);
}

int64_t require_int(const Napi::Object& o, const char* key, int64_t lo, int64_t hi, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) throw_error(o.Env(), "ERR_INVALID_ARG", what + "." + key + " is required");
  return to_int(v, what + "." + key, lo, hi);
}

double get_number(const Napi::Object& o, const char* key, double fallback, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw_error(o.Env(), "ERR_INVALID_ARG", what + "." + key + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_error(o.Env(), "ERR_INVALID_ARG", what + "." + key + " must be finite");
  return d;
}

bool get_bool(const Napi::Object& o, const char* key, bool fallback, const std::string& what) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw_error(o.Env(), "ERR_INVALID_ARG", what + "." + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Napi::Object to_object(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || v.IsArray()) throw_error(v.Env(), "ERR_INVALID_ARG", what + " must be an object");
  return v.As<Napi::Object>();
}

Napi::TypedArray to_typed_array(const Napi::Value& v, const std::string& what) {
  if (!v.IsTypedArray()) throw_error(v.Env(), "ERR_INVALID_ARG", what + " must be a typed array");
  return v.As<Napi::TypedArray>();
}

namespace {

size_t element_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;  // float64, bigint64, biguint64
  }
}

// 1: ok, 0: detached, -1: not a typed array / N-API failure.
int read_typed_array(const Napi::Value& v, Bytes* out) {
  if (v.IsEmpty() || !v.IsTypedArray()) return -1;
  napi_env env = v.Env();
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return -1;
  bool detached = false;
  // False for SharedArrayBuffers, which cannot be detached.
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok) return -1;
  if (detached) return 0;
  out->data = static_cast<uint8_t*>(data);
  out->size = length * element_size(type);
  out->type = type;
  out->shared = !Napi::Value(env, ab).IsArrayBuffer();
  if (out->data == nullptr && out->size > 0) return 0;
  return 1;
}

}  // namespace

Bytes typed_array_bytes(const Napi::Value& v, const std::string& what) {
  Bytes b;
  const int r = read_typed_array(v, &b);
  if (r < 0) throw_error(v.Env(), "ERR_INVALID_ARG", what + " must be a typed array");
  if (r == 0) throw_error(v.Env(), "ERR_INVALID_ARG", what + " is a view of a detached ArrayBuffer");
  return b;
}

bool try_typed_array_bytes(const Napi::Value& v, Bytes* out) { return read_typed_array(v, out) == 1; }

}  // namespace mm::js
