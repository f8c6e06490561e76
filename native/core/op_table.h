// The one definition of every op's name, source count and parameters. The
// graph validator, the binding's graph-spec parser and the addon's exported
// tables (which test/native-tables.test.ts compares with lib/) all read it.
#pragma once
#include <cstdint>
#include <vector>

#include "graph.h"

namespace mm {

enum class ParamKind { Number, Integer, Boolean };

// A node parameter as graph specs spell it (lib/backend.ts OpParams).
struct ParamInfo {
  const char* name;
  ParamKind kind;
  double min, max;                     // accepted values (Integer)
  void (*set)(OpParams& p, double v);  // stores the value in OpParams
  double (*get)(const OpParams& p);
};
// Every parameter any op reads.
const std::vector<ParamInfo>& op_params();

struct OpInfo {
  const char* name;  // in graph specs ("rms_norm")
  int min_src, max_src;
  std::vector<const char*> params;  // the parameters it reads
};
// The op's row of the table (OpKind indexes it).
const OpInfo& op_info(OpKind op);

}  // namespace mm
