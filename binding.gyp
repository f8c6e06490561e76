{
  "variables": {
    "mm_cpu_sources": [
      "native/core/error.cc",
      "native/core/dtype.cc",
      "native/core/quants.cc",
      "native/core/op_table.cc",
      "native/core/buffer.cc",
      "native/core/mapped_file.cc",
      "native/core/graph.cc",
      "native/core/backend.cc",
      "native/core/scheduler.cc",
      "native/core/registry.cc",
      "native/cpu/cpu_features.cc",
      "native/cpu/thread_pool.cc",
      "native/cpu/vec_dot_scalar.cc",
      "native/cpu/vec_dot_neon.cc",
      "native/cpu/vec_ops_neon.cc",
      "native/cpu/attention_rows_neon.cc",
      "native/cpu/matmul.cc",
      "native/cpu/gemm_panel.cc",
      "native/cpu/regroup_x8.cc",
      "native/cpu/regroup_x4.cc",
      "native/cpu/gemm_neon.cc",
      "native/cpu/get_rows.cc",
      "native/cpu/rms_norm.cc",
      "native/cpu/rope.cc",
      "native/cpu/softmax.cc",
      "native/cpu/attention.cc",
      "native/cpu/store_rows.cc",
      "native/cpu/elementwise.cc",
      "native/cpu/cpu_backend.cc",
      "native/cpu/device_test_backend.cc",
      "native/cpu/probe.cc",
      "native/cpu/sampler.cc",
      "native/cpu/host.cc"
    ],
    # metal-sim: the Metal dispatch plans + every kernels/*.metal compiled as
    # C++ through native/metal_sim/msl_shim.h, run by the threadgroup emulator.
    "mm_metal_sim_sources": [
      "native/metal/plan.cc",
      "native/metal/buffer_views.cc",
      "native/metal_sim/fiber.cc",
      "native/metal_sim/emulator.cc",
      "native/metal_sim/sim_backend.cc",
      "native/metal_sim/kernels_attention.cc",
      "native/metal_sim/kernels_elementwise.cc",
      "native/metal_sim/kernels_get_rows.cc",
      "native/metal_sim/kernels_matmul.cc",
      "native/metal_sim/kernels_matmul_fused.cc",
      "native/metal_sim/kernels_quantize_act.cc",
      "native/metal_sim/kernels_rms_norm.cc",
      "native/metal_sim/kernels_rope.cc",
      "native/metal_sim/kernels_softmax.cc",
      "native/metal_sim/kernels_store_rows.cc"
    ],
    # Everything the embedded Metal library is made of (the gyp action's inputs).
    "mm_metal_kernel_files": [
      "kernels/args.h",
      "kernels/common.h",
      "kernels/quant_blocks.h",
      "kernels/dequant.h",
      "kernels/matvec.h",
      "kernels/attention.metal",
      "kernels/elementwise.metal",
      "kernels/get_rows.metal",
      "kernels/matmul.metal",
      "kernels/matmul_fused.metal",
      "kernels/rms_norm.metal",
      "kernels/rope.metal",
      "kernels/softmax.metal",
      "kernels/store_rows.metal"
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
      ["target_arch=='x64'", { "defines": ["MM_HAVE_AVX2_KERNELS", "MM_HAVE_AVX512_KERNELS"] }],
      # arm64 prefill panels (gemm_neon.h), gcc / clang: Linux (native or cross) and macOS
      ["target_arch=='arm64' and OS!='win'", { "defines": ["MM_HAVE_NEON_PANELS"] }]
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
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        # the addon's `version`: package.json's, as a C string literal
        "MM_PACKAGE_VERSION=<!(node -p \"JSON.stringify(require('./package.json').version)\")"
      ],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["mm_cpu_avx2", "mm_cpu_avx512"] }],
        ["target_arch=='arm64' and OS!='win'", { "dependencies": ["mm_cpu_neon_dotprod", "mm_cpu_neon_i8mm"] }],
        ["OS!='win'", {
          "sources": ["<@(mm_metal_sim_sources)"],
          "defines": ["MM_HAVE_METAL_SIM"]
        }],
        ["OS=='mac'", {
          # The Metal host: Objective-C++ (ARC) only in native/metal/*.mm; the
          # kernel sources are embedded as a C++ string at build time.
          "sources": ["native/metal/metal_backend.mm"],
          "defines": ["MM_HAVE_METAL"],
          "xcode_settings": {
            # gyp adds -fobjc-arc to Objective-C(++) sources only
            "CLANG_ENABLE_OBJC_ARC": "YES"
          },
          "link_settings": {
            "libraries": [
              "$(SDKROOT)/System/Library/Frameworks/Metal.framework",
              "$(SDKROOT)/System/Library/Frameworks/Foundation.framework",
              # MTLCreateSystemDefaultDevice returns nil in processes not linked
              # with CoreGraphics (Apple's documentation of the function)
              "$(SDKROOT)/System/Library/Frameworks/CoreGraphics.framework"
            ]
          },
          "actions": [
            {
              "action_name": "embed_metal_kernels",
              "inputs": ["scripts/embed-kernels.js", "<@(mm_metal_kernel_files)"],
              "outputs": ["<(INTERMEDIATE_DIR)/mm_metal_kernels.cc"],
              "action": ["node", "scripts/embed-kernels.js", "<(INTERMEDIATE_DIR)/mm_metal_kernels.cc"],
              "message": "Embedding kernels/*.metal",
              "process_outputs_as_sources": 1
            }
          ]
        }]
      ]
    }
  ],
  # The x86-64 kernel libraries exist only on x64 (an arm64 build, native or cross, has no -mavx2).
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          # The AVX2/FMA/F16C kernels: the only sources compiled with those
          # instructions enabled; the CPU backend calls them only after checking
          # the CPU supports them, so one binary runs on any x86-64.
          "target_name": "mm_cpu_avx2",
          "type": "static_library",
          "sources": ["native/cpu/vec_dot_avx2.cc", "native/cpu/vec_dot_lowbit_avx2.cc", "native/cpu/gemm_avx2.cc",
                      "native/cpu/attention_avx2.cc", "native/cpu/attention_rows_avx2.cc",
                      "native/cpu/probe_avx2.cc", "native/cpu/regroup_x8_avx2.cc"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX2"] } }
        },
        {
          # The AVX-512 VNNI prefill panels (gemm_panel.h), likewise used only
          # after a run-time check (cpu_use_avx512).
          "target_name": "mm_cpu_avx512",
          "type": "static_library",
          "sources": ["native/cpu/gemm_avx512.cc", "native/cpu/vec_dot_avx512.cc", "native/cpu/attention_rows_avx512.cc",
                      "native/cpu/attention_block_avx512.cc", "native/cpu/regroup_x8_avx512.cc",
                      "native/cpu/sampler_avx512.cc", "native/cpu/probe_avx512.cc"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"],
          "xcode_settings": {
            "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni"]
          },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX512"] } }
        }
      ]
    }],
    # The arm64 panel kernels that need extensions beyond Armv8.0, one library
    # per level like the x86 ones, used only after cpu_use_neon_dotprod /
    # cpu_use_neon_i8mm: the rest of the addon stays plain Armv8 (Graviton 1,
    # Raspberry Pi, Apple M1 all load it).
    ["target_arch=='arm64' and OS!='win'", {
      "targets": [
        {
          "target_name": "mm_cpu_neon_dotprod",
          "type": "static_library",
          "sources": ["native/cpu/gemm_neon_dotprod.cc", "native/cpu/attention_rows_neon_dotprod.cc"],
          "cflags_cc": ["-march=armv8.2-a+dotprod"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-march=armv8.2-a+dotprod"] }
        },
        {
          "target_name": "mm_cpu_neon_i8mm",
          "type": "static_library",
          "sources": ["native/cpu/gemm_neon_i8mm.cc"],
          "cflags_cc": ["-march=armv8.2-a+dotprod+i8mm"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-march=armv8.2-a+dotprod+i8mm"] }
        }
      ]
    }]
  ]
}
