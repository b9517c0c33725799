{
  "targets": [{
    "target_name": "simclr_onednn",
    "sources": ["native/onednn.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "libraries": ["-ldnnl", "-fopenmp"],
    "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fopenmp"],
    "cflags_cc!": ["-fno-exceptions"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
    "conditions": [
      ["target_arch == 'x64'", { "cflags_cc": ["-march=x86-64-v2", "-mtune=generic"] }],
      ["target_arch == 'arm64'", { "cflags_cc": ["-march=armv8-a", "-mtune=generic"] }]
    ]
  }]
}
