// "test-device": a backend for tests that behaves like a discrete GPU whose
// memory the CPU cannot address. Its buffers are device buffers (not host:
// reached only through Buffer::get/set/copy_to); it computes with the CPU
// backend's kernels on its own memory, so its results equal the CPU's bit for
// bit; and it refuses some ops (rope, attention, last_row), so the scheduler
// must run those on the CPU and copy tensors between the two memories. Not
// listed by available_backends().
#pragma once
#include <memory>

#include "../core/backend.h"

namespace mm {

std::unique_ptr<Backend> create_device_test_backend(const BackendOptions& opts);

}  // namespace mm
