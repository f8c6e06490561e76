// kernels/matmul_fused.metal compiled as C++ for metal-sim (see msl_shim.h).
#include "msl_shim.h"
#include "../../kernels/matmul_fused.metal"
