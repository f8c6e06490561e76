// kernels/rms_norm.metal compiled as C++ for metal-sim (see msl_shim.h).
#include "msl_shim.h"
#include "../../kernels/rms_norm.metal"
