#include "op_table.h"

namespace mm {

namespace {

#define MM_PARAM_F(NAME, FIELD)                                                                    \
  ParamInfo {                                                                                      \
    NAME, ParamKind::Number, 0, 0, [](OpParams& p, double v) { p.FIELD = static_cast<float>(v); }, \
        [](const OpParams& p) { return static_cast<double>(p.FIELD); }                             \
  }
#define MM_PARAM_I(NAME, FIELD, LO, HI)                                                                 \
  ParamInfo {                                                                                           \
    NAME, ParamKind::Integer, LO, HI, [](OpParams& p, double v) { p.FIELD = static_cast<int32_t>(v); }, \
        [](const OpParams& p) { return static_cast<double>(p.FIELD); }                                  \
  }

const std::vector<ParamInfo>& params_table() {
  static const std::vector<ParamInfo> params = {
      MM_PARAM_F("eps", eps),
      MM_PARAM_F("scale", scale),
      ParamInfo{"causal", ParamKind::Boolean, 0, 1, [](OpParams& p, double v) { p.causal = v != 0; },
                [](const OpParams& p) { return p.causal ? 1.0 : 0.0; }},
      MM_PARAM_I("nHead", n_head, 0, 1 << 16),
      MM_PARAM_I("nKvHead", n_kv_head, 0, 1 << 16),
      MM_PARAM_I("headDim", head_dim, 0, 1 << 16),
      MM_PARAM_I("nRot", n_rot, 0, 1 << 16),  // absent: head_dim
      MM_PARAM_I("ropeMode", rope_mode, 0, 2),
      MM_PARAM_F("freqBase", freq_base),
      MM_PARAM_F("freqScale", freq_scale),
      MM_PARAM_F("attnFactor", attn_factor),
      MM_PARAM_I("window", window, 0, INT32_MAX),
      MM_PARAM_F("softcap", softcap),
      MM_PARAM_I("ring", ring, 0, INT32_MAX),
      MM_PARAM_I("pooling", pooling, 1, 3),
      ParamInfo{"rowwise", ParamKind::Boolean, 0, 1, [](OpParams& p, double v) { p.rowwise = v != 0; },
                [](const OpParams& p) { return p.rowwise ? 1.0 : 0.0; }},
  };
  return params;
}
#undef MM_PARAM_F
#undef MM_PARAM_I

// Indexed by OpKind.
const OpInfo* ops_table() {
  static const OpInfo ops[] = {
      {"get_rows", 2, 2, {}},
      {"rms_norm", 1, 2, {"eps"}},
      {"matmul", 2, 3, {"rowwise"}},
      {"rope", 2, 3, {"nHead", "headDim", "nRot", "ropeMode", "freqBase", "freqScale", "attnFactor"}},
      {"softmax", 1, 1, {"scale", "causal"}},
      {"attention", 3, 4, {"nHead", "nKvHead", "headDim", "scale", "window", "softcap", "ring"}},
      {"store_rows", 1, 2, {"ring"}},
      {"swiglu", 2, 2, {}},
      {"add", 2, 2, {}},
      {"mul", 2, 2, {}},
      {"last_row", 1, 1, {}},
      {"geglu", 2, 2, {}},
      {"scale", 1, 1, {"scale"}},
      {"softcap", 1, 1, {"softcap"}},
      {"pool", 1, 1, {"pooling"}},
  };
  static_assert(sizeof(ops) / sizeof(ops[0]) == static_cast<size_t>(OpKind::Count), "one row per op");
  return ops;
}

}  // namespace

const std::vector<ParamInfo>& op_params() { return params_table(); }

const OpInfo& op_info(OpKind op) {
  static const OpInfo unknown = {"unknown", 0, 0, {}};
  const auto i = static_cast<size_t>(op);
  return i < static_cast<size_t>(OpKind::Count) ? ops_table()[i] : unknown;
}

}  // namespace mm
