{
  "variables": {
    "mm_cpu_sources": [
      "native/core/error.cc",
      "native/core/dtype.cc",
      "native/core/buffer.cc",
      "native/core/mapped_file.cc",
      "native/core/graph.cc",
      "native/core/backend.cc",
      "native/core/registry.cc",
      "native/cpu/cpu_features.cc",
      "native/cpu/thread_pool.cc",
      "native/cpu/quants.cc",
      "native/cpu/vec_dot_scalar.cc",
      "native/cpu/vec_dot_neon.cc",
      "native/cpu/matmul.cc",
      "native/cpu/get_rows.cc",
      "native/cpu/rms_norm.cc",
      "native/cpu/rope.cc",
      "native/cpu/softmax.cc",
      "native/cpu/attention.cc",
      "native/cpu/store_rows.cc",
      "native/cpu/elementwise.cc",
      "native/cpu/cpu_backend.cc",
      "native/cpu/probe.cc"
    ]
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
    "cflags!": ["-fno-exceptions"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_OPTIMIZATION_LEVEL": "3",
      "MACOSX_DEPLOYMENT_TARGET": "11.0"
    },
    "msvs_settings": {
      "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
    },
    "conditions": [
      ["target_arch=='x64'", { "defines": ["MM_HAVE_AVX2_KERNELS"] }]
    ]
  },
  "targets": [
    {
      "target_name": "minimacllm",
      "sources": [
        "<@(mm_cpu_sources)",
        "native/binding/napi_util.cc",
        "native/binding/wrappers.cc",
        "native/binding/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["mm_cpu_avx2"] }]
      ]
    },
    {
      # The AVX2/FMA/F16C kernels: the only sources compiled with those
      # instructions enabled; the CPU backend calls them only after checking
      # the CPU supports them, so one binary runs on any x86-64.
      "target_name": "mm_cpu_avx2",
      "type": "static_library",
      "sources": ["native/cpu/vec_dot_avx2.cc", "native/cpu/probe_avx2.cc"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"] },
      "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX2"] } }
    }
  ]
}
