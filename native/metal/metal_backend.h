// The Metal backend's plain C++ face (implemented in metal_backend.mm, built
// on macOS only): the rest of the code never sees an Objective-C type.
#pragma once
#include <memory>
#include <string>

#include "../core/backend.h"

namespace mm {

// True when this Mac has a GPU with simdgroup matrices (Apple7 family: M1 or
// newer); otherwise false with the reason in *why.
bool metal_device_available(std::string* why);
// Throws ERR_UNSUPPORTED when metal_device_available() is false.
std::unique_ptr<Backend> create_metal_backend(const BackendOptions& opts);

}  // namespace mm
