{
  "targets": [{
    "target_name": "simclr_onednn",
    "sources": ["native/onednn.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "libraries": ["-ldnnl", "-fopenmp"],
    "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fopenmp", "-march=x86-64-v2", "-mtune=generic"],
    "cflags_cc!": ["-fno-exceptions"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"]
  }]
}
