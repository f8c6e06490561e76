// A stand-in for Apple's <metal_stdlib>, for the strict kernel check in
// test/metal-strict.test.ts: clang (C++17, -nostdinc, no exceptions, no RTTI)
// compiles the embedded kernel library against it with -Werror. Unlike the
// metal-sim shim (native/metal_sim/msl_shim.h), which must RUN the kernels and
// so erases address spaces, this header only declares, and declares things the
// way MSL constrains them:
//  - device, constant, threadgroup are clang address spaces 1, 2, 3; thread is
//    the default one (where automatic variables live, as in MSL). A pointer or
//    reference never converts implicitly between them, a method cannot be
//    called on an object in another space, and the test rejects every explicit
//    address-space cast it finds in the AST (MSL has none).
//  - half is _Float16 (arithmetic in half, as on the GPU); vectors are classes
//    with MSL's constructors and explicit conversions only.
//  - Constructs MSL forbids are compile errors: double (and long double), new,
//    delete, virtual, goto (macros below), exceptions and RTTI (-fno-exceptions,
//    -fno-rtti). Function pointers, recursion, address-space casts and
//    program-scope variables outside `constant` are rejected by the test from
//    clang's AST; [[attributes]] are checked against MSL's set (and their
//    parameter types) before this header is seen.
//  - Only functions MSL provides are declared, with the argument types MSL
//    takes (simdgroup matrices: one element type, or half inputs with float
//    accumulators; loads and stores from device or threadgroup memory of the
//    matrix's own element type).
// Declarations follow Apple's Metal Shading Language Specification (version
// 3.1, sections 2 (types), 6.5 (math), 6.9 (synchronization), 6.9.2 (SIMD-group
// functions), 6.7 (SIMD-group matrices)); nothing here has a body that runs.
#ifndef MM_STRICT_METAL_STDLIB_H
#define MM_STRICT_METAL_STDLIB_H

#define device __attribute__((address_space(1)))
#define constant __attribute__((address_space(2))) const
#define threadgroup __attribute__((address_space(3)))
#define thread
#define kernel __attribute__((annotate("msl-kernel")))

#define double MSL_forbids_double
#define new MSL_forbids_new
#define delete MSL_forbids_delete
#define virtual MSL_forbids_virtual
#define goto MSL_forbids_goto

#define FLT_MAX 0x1.fffffep127f
#define FLT_MIN 0x1p-126f
#define FLT_EPSILON 0x1p-23f
#define INFINITY __builtin_inff()
#define HUGE_VALF __builtin_huge_valf()
#define NAN __builtin_nanf("")

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long int64_t;
typedef unsigned long uint64_t;
typedef unsigned long size_t;
typedef long ptrdiff_t;
typedef _Float16 half;

namespace metal {

template <typename T, typename U>
struct is_same {
  static constexpr bool value = false;
};
template <typename T>
struct is_same<T, T> {
  static constexpr bool value = true;
};
template <bool B, typename T = void>
struct enable_if {};
template <typename T>
struct enable_if<true, T> {
  typedef T type;
};
template <typename T>
struct is_scalar_num {
  static constexpr bool value = is_same<T, float>::value || is_same<T, half>::value || is_same<T, int>::value ||
                                is_same<T, uint>::value || is_same<T, short>::value || is_same<T, ushort>::value ||
                                is_same<T, char>::value || is_same<T, uchar>::value || is_same<T, int8_t>::value ||
                                is_same<T, long>::value || is_same<T, ulong>::value || is_same<T, bool>::value;
};
template <typename T>
struct is_float_num {
  static constexpr bool value = is_same<T, float>::value || is_same<T, half>::value;
};

// ---- vectors (2.2) ----------------------------------------------------------------------
template <typename T, int N>
struct vec;
template <typename T, int N>
struct vec_base {
  static_assert(is_scalar_num<T>::value, "vector element types are MSL scalars");
  T& operator[](int i);
  const T& operator[](int i) const;
  vec<T, N>& operator+=(vec<T, N>);
  vec<T, N>& operator-=(vec<T, N>);
  vec<T, N>& operator*=(vec<T, N>);
  vec<T, N>& operator/=(vec<T, N>);
  vec<T, N>& operator*=(T);
  vec<T, N>& operator/=(T);
};
template <typename T>
struct vec<T, 2> : vec_base<T, 2> {
  T x, y;
  vec() = default;
  vec(T s);
  vec(T a, T b);
  template <typename U>
  explicit vec(vec<U, 2> v);
};
template <typename T>
struct vec<T, 3> : vec_base<T, 3> {
  T x, y, z;
  vec() = default;
  vec(T s);
  vec(T a, T b, T c);
  template <typename U>
  explicit vec(vec<U, 3> v);
};
template <typename T>
struct vec<T, 4> : vec_base<T, 4> {
  T x, y, z, w;
  vec() = default;
  vec(T s);
  vec(T a, T b, T c, T d);
  template <typename U>
  explicit vec(vec<U, 4> v);
};
template <typename T, int N>
vec<T, N> operator+(vec<T, N>, vec<T, N>);
template <typename T, int N>
vec<T, N> operator-(vec<T, N>, vec<T, N>);
template <typename T, int N>
vec<T, N> operator-(vec<T, N>);
template <typename T, int N>
vec<T, N> operator*(vec<T, N>, vec<T, N>);
template <typename T, int N>
vec<T, N> operator/(vec<T, N>, vec<T, N>);
template <typename T, int N>
vec<T, N> operator*(vec<T, N>, T);
template <typename T, int N>
vec<T, N> operator*(T, vec<T, N>);
template <typename T, int N>
vec<T, N> operator/(vec<T, N>, T);
template <typename T, int N>
vec<T, N> operator+(vec<T, N>, T);
template <typename T, int N>
vec<T, N> operator-(vec<T, N>, T);

#define MM_STRICT_VEC(T, NAME) \
  typedef vec<T, 2> NAME##2;   \
  typedef vec<T, 3> NAME##3;   \
  typedef vec<T, 4> NAME##4;
MM_STRICT_VEC(float, float)
MM_STRICT_VEC(half, half)
MM_STRICT_VEC(int, int)
MM_STRICT_VEC(uint, uint)
MM_STRICT_VEC(short, short)
MM_STRICT_VEC(ushort, ushort)
MM_STRICT_VEC(char, char)
MM_STRICT_VEC(uchar, uchar)
MM_STRICT_VEC(long, long)
MM_STRICT_VEC(ulong, ulong)
MM_STRICT_VEC(bool, bool)
#undef MM_STRICT_VEC

// ---- as_type (2.9.2): between types of equal size ------------------------------------------
template <typename T, typename U>
T as_type(U v) {
  static_assert(sizeof(T) == sizeof(U), "as_type needs types of the same size");
  return __builtin_bit_cast(T, v);
}

// ---- math (6.5): float and half scalars and vectors -------------------------------------------
#define MM_STRICT_UNARY(F)     \
  float F(float);              \
  half F(half);                \
  template <typename T, int N> \
  typename enable_if<is_float_num<T>::value, vec<T, N>>::type F(vec<T, N>);
#define MM_STRICT_BINARY(F)    \
  float F(float, float);       \
  half F(half, half);          \
  template <typename T, int N> \
  typename enable_if<is_float_num<T>::value, vec<T, N>>::type F(vec<T, N>, vec<T, N>);
#define MM_STRICT_MATH            \
  MM_STRICT_UNARY(exp)            \
  MM_STRICT_UNARY(exp2)           \
  MM_STRICT_UNARY(exp10)          \
  MM_STRICT_UNARY(log)            \
  MM_STRICT_UNARY(log2)           \
  MM_STRICT_UNARY(sqrt)           \
  MM_STRICT_UNARY(rsqrt)          \
  MM_STRICT_UNARY(sin)            \
  MM_STRICT_UNARY(cos)            \
  MM_STRICT_UNARY(tan)            \
  MM_STRICT_UNARY(tanh)           \
  MM_STRICT_UNARY(fabs)           \
  MM_STRICT_UNARY(floor)          \
  MM_STRICT_UNARY(ceil)           \
  MM_STRICT_UNARY(round)          \
  MM_STRICT_UNARY(rint)           \
  MM_STRICT_UNARY(trunc)          \
  MM_STRICT_BINARY(pow)           \
  MM_STRICT_BINARY(powr)          \
  MM_STRICT_BINARY(fmax)          \
  MM_STRICT_BINARY(fmin)          \
  MM_STRICT_BINARY(fmod)          \
  MM_STRICT_BINARY(copysign)      \
  float fma(float, float, float); \
  half fma(half, half, half);
MM_STRICT_MATH
namespace precise {
MM_STRICT_MATH
}
namespace fast {
MM_STRICT_MATH
}
#undef MM_STRICT_MATH
#undef MM_STRICT_UNARY
#undef MM_STRICT_BINARY

template <typename T>
typename enable_if<is_scalar_num<T>::value, T>::type abs(T);
template <typename T>
typename enable_if<is_scalar_num<T>::value, T>::type max(T, T);
template <typename T>
typename enable_if<is_scalar_num<T>::value, T>::type min(T, T);
template <typename T>
typename enable_if<is_scalar_num<T>::value, T>::type clamp(T, T, T);
template <typename T, int N>
vec<T, N> max(vec<T, N>, vec<T, N>);
template <typename T, int N>
vec<T, N> min(vec<T, N>, vec<T, N>);
template <typename T>
typename enable_if<is_float_num<T>::value, T>::type mix(T, T, T);
template <typename T>
typename enable_if<is_scalar_num<T>::value, T>::type select(T, T, bool);
bool isnan(float);
bool isnan(half);
bool isinf(float);
bool isinf(half);
bool isfinite(float);
bool isfinite(half);
template <typename T, int N>
typename enable_if<is_float_num<T>::value, T>::type dot(vec<T, N>, vec<T, N>);

// ---- synchronization (6.9) ---------------------------------------------------------------------
enum class mem_flags {
  mem_none = 0,
  mem_device = 1,
  mem_threadgroup = 2,
  mem_texture = 4,
  mem_threadgroup_imageblock = 8
};
constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(int(a) | int(b)); }
void threadgroup_barrier(mem_flags);
void simdgroup_barrier(mem_flags);

// ---- SIMD-group functions (6.9.2): scalars and vectors of float, half, int, uint, short, ushort --
template <typename T>
struct is_simd_scalar {
  static constexpr bool value = is_same<T, float>::value || is_same<T, half>::value || is_same<T, int>::value ||
                                is_same<T, uint>::value || is_same<T, short>::value || is_same<T, ushort>::value;
};
template <typename T>
struct is_simd_value : is_simd_scalar<T> {};
template <typename T, int N>
struct is_simd_value<vec<T, N>> : is_simd_scalar<T> {};
#define MM_STRICT_SIMD1(F) \
  template <typename T>    \
  typename enable_if<is_simd_value<T>::value, T>::type F(T);
#define MM_STRICT_SIMD2(F, A) \
  template <typename T>       \
  typename enable_if<is_simd_value<T>::value, T>::type F(T, A);
MM_STRICT_SIMD1(simd_sum)
MM_STRICT_SIMD1(simd_max)
MM_STRICT_SIMD1(simd_min)
MM_STRICT_SIMD1(simd_product)
MM_STRICT_SIMD1(simd_prefix_inclusive_sum)
MM_STRICT_SIMD1(simd_prefix_exclusive_sum)
MM_STRICT_SIMD1(simd_broadcast_first)
MM_STRICT_SIMD2(simd_shuffle, ushort)
MM_STRICT_SIMD2(simd_broadcast, ushort)
MM_STRICT_SIMD2(simd_shuffle_down, ushort)
MM_STRICT_SIMD2(simd_shuffle_up, ushort)
MM_STRICT_SIMD2(simd_shuffle_xor, ushort)
#undef MM_STRICT_SIMD1
#undef MM_STRICT_SIMD2
bool simd_all(bool);
bool simd_any(bool);

// ---- SIMD-group matrices (6.7) ------------------------------------------------------------------
template <typename T, int Cols, int Rows>
struct simdgroup_matrix {
  static_assert(is_float_num<T>::value, "simdgroup matrices hold float or half");
  static_assert(Cols == 8 && Rows == 8, "simdgroup matrices are 8 x 8");
  simdgroup_matrix() = default;
  simdgroup_matrix(T diagonal);
};
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;
typedef simdgroup_matrix<half, 8, 8> simdgroup_half8x8;

template <typename T, int Cols, int Rows = Cols>
simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(T value);
template <typename T, int C, int R>
void simdgroup_load(thread simdgroup_matrix<T, C, R>& d, const device T* src, ulong elements_per_row = C,
                    ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false);
template <typename T, int C, int R>
void simdgroup_load(thread simdgroup_matrix<T, C, R>& d, const threadgroup T* src, ulong elements_per_row = C,
                    ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false);
template <typename T, int C, int R>
void simdgroup_store(thread simdgroup_matrix<T, C, R> a, device T* dst, ulong elements_per_row = C,
                     ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false);
template <typename T, int C, int R>
void simdgroup_store(thread simdgroup_matrix<T, C, R> a, threadgroup T* dst, ulong elements_per_row = C,
                     ulong2 matrix_origin = ulong2(0), bool transpose_matrix = false);
// d = a * b + c: one element type, or half a, b with float c, d (f16 inputs, f32 accumulation).
template <typename T, typename U>
struct mma_types {
  static constexpr bool value = is_same<T, U>::value || (is_same<T, float>::value && is_same<U, half>::value);
};
template <typename T, typename U, int C, int R, int K>
typename enable_if<mma_types<T, U>::value>::type simdgroup_multiply_accumulate(
    thread simdgroup_matrix<T, C, R>& d, thread const simdgroup_matrix<U, K, R>& a,
    thread const simdgroup_matrix<U, C, K>& b, thread const simdgroup_matrix<T, C, R>& c);
template <typename T, int C, int R, int K>
void simdgroup_multiply(thread simdgroup_matrix<T, C, R>& d, thread const simdgroup_matrix<T, K, R>& a,
                        thread const simdgroup_matrix<T, C, K>& b);

}  // namespace metal

#endif  // MM_STRICT_METAL_STDLIB_H
