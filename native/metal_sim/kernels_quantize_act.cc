// kernels/quantize_act.metal compiled as C++ for metal-sim (see msl_shim.h).
#include "msl_shim.h"
#include "../../kernels/quantize_act.metal"
