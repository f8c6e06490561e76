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

}  // namespace mm::js
