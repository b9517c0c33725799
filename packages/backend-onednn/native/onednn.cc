// @simclr/backend-onednn: TensorFlow.js kernels on oneDNN (convolutions, matmul, pooling) and OpenMP
// loops (element-wise, reductions, strided copies). Every function reads and writes the typed arrays the
// TF.js cpu backend stores tensors in; the caller allocates the output. Shapes are NHWC / row-major.
#include <napi.h>
#include <omp.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dims_t = std::vector<int64_t>;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

engine& eng() {
  static engine e(engine::kind::cpu, 0);
  return e;
}
stream& strm() {
  static stream s(eng());
  return s;
}

// ---- argument helpers -------------------------------------------------------------------------------
// Every array argument is checked against the size its shapes imply before any native code touches it: a
// caller's mistake becomes a thrown RangeError or TypeError naming the argument, never a read or write
// outside the array. (The cost is a few multiplications per call.)
[[noreturn]] void fail(const Napi::Value& v, const std::string& message, bool range = true) {
  if (range) throw Napi::RangeError::New(v.Env(), message);
  throw Napi::TypeError::New(v.Env(), message);
}
int64_t num(const Napi::Value& v) {
  if (!v.IsNumber()) fail(v, "expected a number", false);
  return v.As<Napi::Number>().Int64Value();
}
int64_t product(const dims_t& d) {
  int64_t n = 1;
  for (auto x : d) n *= x;
  return n;
}
// The elements a typed array argument may hold: float32 only, or any 4-byte element (float32 or int32,
// which the copies move bit for bit), or bool (uint8).
enum class Elem { F32, Word, U8, I32 };
// The data of typed array `v` (`what` names it in errors), which must hold exactly `n` elements of
// kind `e`; n < 0 accepts any length.
void* array(const Napi::Value& v, Elem e, int64_t n, const char* what) {
  if (!v.IsTypedArray()) fail(v, std::string(what) + ": expected a typed array", false);
  auto t = v.As<Napi::TypedArray>();
  auto type = t.TypedArrayType();
  bool ok = e == Elem::F32 ? type == napi_float32_array
          : e == Elem::Word ? (type == napi_float32_array || type == napi_int32_array)
          : e == Elem::U8 ? type == napi_uint8_array
                          : type == napi_int32_array;
  if (!ok) fail(v, std::string(what) + ": wrong element type", false);
  if (n >= 0 && (int64_t)t.ElementLength() != n)
    fail(v, std::string(what) + ": has " + std::to_string(t.ElementLength()) + " elements, the shapes need " + std::to_string(n));
  return static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
}
int64_t lengthOf(const Napi::Value& v) { return v.IsTypedArray() ? (int64_t)v.As<Napi::TypedArray>().ElementLength() : -1; }
float* f32(const Napi::Value& v, int64_t n, const char* what) { return static_cast<float*>(array(v, Elem::F32, n, what)); }
float* f32OrNull(const Napi::Value& v, int64_t n, const char* what) { return v.IsNull() || v.IsUndefined() ? nullptr : f32(v, n, what); }
// A shape or parameter list: `rank` non-negative integers (rank < 0: any count).
dims_t dimsOf(const Napi::Value& v, int rank, const char* what) {
  if (!v.IsArray()) fail(v, std::string(what) + ": expected an array", false);
  auto a = v.As<Napi::Array>();
  if (rank >= 0 && (int)a.Length() != rank) fail(v, std::string(what) + ": expected " + std::to_string(rank) + " values, got " + std::to_string(a.Length()));
  dims_t d(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    d[i] = num(a.Get(i));
    if (d[i] < 0 || d[i] > (int64_t(1) << 40)) fail(v, std::string(what) + ": " + std::to_string(d[i]) + " is not a size");
  }
  return d;
}
std::string key(const std::initializer_list<dims_t>& parts, const std::string& extra) {
  std::string k = extra;
  for (const auto& p : parts) {
    k += '|';
    for (auto x : p) k += std::to_string(x) + ',';
  }
  return k;
}
constexpr int64_t kParallelMin = 1 << 15;

// ---- convolutions -------------------------------------------------------------------------------------
// Shapes: x [n,h,w,ci] nhwc, filter [kh,kw,ci,co] hwio, y [n,oh,ow,co]; strides [sh,sw], dilations
// [dh,dw] (TF convention, 1 = none), pads [top,left,bottom,right].
struct ConvPrims {
  convolution_forward::primitive_desc fwd;
  convolution_forward fwdPrim;
  std::unique_ptr<convolution_backward_data::primitive_desc> bwdData;
  std::unique_ptr<convolution_backward_data> bwdDataPrim;
  std::unique_ptr<convolution_backward_weights::primitive_desc> bwdWeights;
  std::unique_ptr<convolution_backward_weights> bwdWeightsPrim;
  memory::desc src, wUser, dst, bias;
};
std::unordered_map<std::string, std::unique_ptr<ConvPrims>> convCache;

ConvPrims& convPrims(const dims_t& xs, const dims_t& ws, const dims_t& ys, const dims_t& st, const dims_t& dil,
                     const dims_t& pad, bool hasBias, bool relu) {
  auto k = key({xs, ws, ys, st, dil, pad}, std::string(hasBias ? "b" : "-") + (relu ? "r" : "-"));
  auto it = convCache.find(k);
  if (it != convCache.end()) return *it->second;
  memory::desc src({xs[0], xs[3], xs[1], xs[2]}, dt::f32, tag::nhwc);
  memory::desc dst({ys[0], ys[3], ys[1], ys[2]}, dt::f32, tag::nhwc);
  memory::desc wUser({ws[3], ws[2], ws[0], ws[1]}, dt::f32, tag::hwio);
  memory::desc wAny({ws[3], ws[2], ws[0], ws[1]}, dt::f32, tag::any);
  memory::desc bias({ws[3]}, dt::f32, tag::x);
  memory::dims strides = {st[0], st[1]}, dilates = {dil[0] - 1, dil[1] - 1}, padL = {pad[0], pad[1]},
               padR = {pad[2], pad[3]};
  auto d = hasBias ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                               wAny, bias, dst, strides, dilates, padL, padR)
                   : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src,
                                               wAny, dst, strides, dilates, padL, padR);
  primitive_attr attr;
  if (relu) {
    post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  auto fwd = convolution_forward::primitive_desc(d, attr, eng());
  auto p = std::unique_ptr<ConvPrims>(new ConvPrims{fwd, convolution_forward(fwd), nullptr, nullptr, nullptr,
                                                    nullptr, src, wUser, dst, bias});
  auto& ref = *p;
  convCache.emplace(k, std::move(p));
  return ref;
}

memory weightsFor(const memory::desc& wanted, const memory::desc& user, float* data) {
  memory u(user, eng(), data);
  if (wanted == user) return u;
  memory w(wanted, eng());
  reorder(u, w).execute(strm(), u, w);
  return w;
}

// The geometry arguments of every convolution: strides and dilations ≥ 1, four pads (their consistency
// with the shapes is oneDNN's to check: it throws, and the error reaches JavaScript).
struct ConvGeometry {
  dims_t st, dil, pad;
};
ConvGeometry convGeometry(const Napi::CallbackInfo& info, int at) {
  ConvGeometry g{dimsOf(info[at], 2, "strides"), dimsOf(info[at + 1], 2, "dilations"), dimsOf(info[at + 2], 4, "pads")};
  for (auto v : {g.st[0], g.st[1], g.dil[0], g.dil[1]})
    if (v < 1) fail(info[at], "strides and dilations must be at least 1");
  return g;
}

// conv2d(x, xShape, w, wShape, y, yShape, strides, dilations, pads, bias|null, relu)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  auto xs = dimsOf(info[1], 4, "x shape"), ws = dimsOf(info[3], 4, "filter shape"), ys = dimsOf(info[5], 4, "y shape");
  auto g = convGeometry(info, 6);
  float* x = f32(info[0], product(xs), "x");
  float* wv = f32(info[2], product(ws), "filter");
  float* y = f32(info[4], product(ys), "y");
  float* bias = f32OrNull(info[9], ws[3], "bias");
  bool relu = info[10].ToBoolean().Value();
  auto& c = convPrims(xs, ws, ys, g.st, g.dil, g.pad, bias != nullptr, relu);
  memory src(c.src, eng(), x), dst(c.dst, eng(), y);
  memory w = weightsFor(c.fwd.weights_desc(), c.wUser, wv);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
  if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, memory(c.bias, eng(), bias));
  c.fwdPrim.execute(strm(), args);
  strm().wait();
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, dyShape, w, wShape, dx, xShape, strides, dilations, pads)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  auto ys = dimsOf(info[1], 4, "dy shape"), ws = dimsOf(info[3], 4, "filter shape"), xs = dimsOf(info[5], 4, "dx shape");
  auto [st, dil, pad] = convGeometry(info, 6);
  float* dy = f32(info[0], product(ys), "dy");
  float* wv = f32(info[2], product(ws), "filter");
  float* dx = f32(info[4], product(xs), "dx");
  auto& c = convPrims(xs, ws, ys, st, dil, pad, false, false);
  if (!c.bwdData) {
    memory::desc wAny({ws[3], ws[2], ws[0], ws[1]}, dt::f32, tag::any);
    auto d = convolution_backward_data::desc(algorithm::convolution_direct, c.src, wAny, c.dst, {st[0], st[1]},
                                             {dil[0] - 1, dil[1] - 1}, {pad[0], pad[1]}, {pad[2], pad[3]});
    c.bwdData.reset(new convolution_backward_data::primitive_desc(d, eng(), c.fwd));
    c.bwdDataPrim.reset(new convolution_backward_data(*c.bwdData));
  }
  memory ddst(c.dst, eng(), dy), dsrc(c.src, eng(), dx);
  memory w = weightsFor(c.bwdData->weights_desc(), c.wUser, wv);
  c.bwdDataPrim->execute(strm(), {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dsrc}});
  strm().wait();
  return info.Env().Undefined();
}

// x[n, i·sh, j·sw, :] for i < oh, j < ow: the input rows and columns a 1×1 convolution with strides (sh, sw)
// and no padding reads, as an [n, oh, ow, ci] array.
std::vector<float> subsample(const float* x, const dims_t& xs, const dims_t& ys, const dims_t& st) {
  int64_t n = xs[0], h = xs[1], w = xs[2], ci = xs[3], oh = ys[1], ow = ys[2];
  std::vector<float> out((size_t)(n * oh * ow * ci));
  float* o = out.data();
#pragma omp parallel for schedule(static) if (n * oh * ow * ci >= kParallelMin)
  for (int64_t r = 0; r < n * oh; r++) {
    int64_t b = r / oh, i = r % oh;
    const float* src = x + ((b * h + i * st[0]) * w) * ci;
    for (int64_t j = 0; j < ow; j++) std::memcpy(o + (r * ow + j) * ci, src + j * st[1] * ci, ci * sizeof(float));
  }
  return out;
}

// conv2dBackwardFilter(x, xShape, dy, dyShape, dw, wShape, strides, dilations, pads)
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  auto xs = dimsOf(info[1], 4, "x shape"), ys = dimsOf(info[3], 4, "dy shape"), ws = dimsOf(info[5], 4, "dw shape");
  auto [st, dil, pad] = convGeometry(info, 6);
  const float* x = f32(info[0], product(xs), "x");
  float* dy = f32(info[2], product(ys), "dy");
  float* dwv = f32(info[4], product(ws), "dw");
  // A strided 1×1 convolution without padding is a stride-1 one over the subsampled input. oneDNN 2.6's
  // jit_1x1 filter gradient (avx2 below 8 input channels, avx512 below 16) copies the strided input into a
  // per-thread workspace sized for `ci` channels per pixel but writes whole channel blocks: it writes past
  // its buffer (heap corruption) and into the other threads' (nondeterministic results). Subsampling here
  // is the same copy that implementation makes, so it costs nothing extra, and the stride-1 primitive has
  // no such workspace.
  std::vector<float> sub;
  if (ws[0] == 1 && ws[1] == 1 && (st[0] > 1 || st[1] > 1) && pad[0] == 0 && pad[1] == 0 && pad[2] == 0 && pad[3] == 0 &&
      ys[1] == (xs[1] - 1) / st[0] + 1 && ys[2] == (xs[2] - 1) / st[1] + 1) {
    sub = subsample(x, xs, ys, st);
    x = sub.data();
    xs = {xs[0], ys[1], ys[2], xs[3]};
    st = {1, 1};
  }
  auto& c = convPrims(xs, ws, ys, st, dil, pad, false, false);
  if (!c.bwdWeights) {
    memory::desc wAny({ws[3], ws[2], ws[0], ws[1]}, dt::f32, tag::any);
    auto d = convolution_backward_weights::desc(algorithm::convolution_direct, c.src, wAny, c.dst, {st[0], st[1]},
                                                {dil[0] - 1, dil[1] - 1}, {pad[0], pad[1]}, {pad[2], pad[3]});
    c.bwdWeights.reset(new convolution_backward_weights::primitive_desc(d, eng(), c.fwd));
    c.bwdWeightsPrim.reset(new convolution_backward_weights(*c.bwdWeights));
  }
  memory src(c.src, eng(), const_cast<float*>(x)), ddst(c.dst, eng(), dy);
  memory user(c.wUser, eng(), dwv);
  bool direct = c.bwdWeights->diff_weights_desc() == c.wUser;
  memory dw = direct ? user : memory(c.bwdWeights->diff_weights_desc(), eng());
  c.bwdWeightsPrim->execute(strm(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
  if (!direct) reorder(dw, user).execute(strm(), dw, user);
  strm().wait();
  return info.Env().Undefined();
}

// ---- matmul -------------------------------------------------------------------------------------------
// matmul(a, [ba,m,k] (as stored: [ba,k,m] when transposeA), b, [bb,k,n] (stored [bb,n,k] when transposeB),
//        transposeA, transposeB, out [b,m,n], bias [n]|null, relu)
struct MatmulPrims {
  matmul::primitive_desc pd;
  matmul prim;
  memory::desc a, b, c, bias;
};
std::unordered_map<std::string, std::unique_ptr<MatmulPrims>> matmulCache;

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  auto as = dimsOf(info[1], 3, "a shape"), bs = dimsOf(info[3], 3, "b shape");  // logical [batch, m, k] and [batch, k, n]
  bool ta = info[4].ToBoolean().Value(), tb = info[5].ToBoolean().Value();
  bool relu = info[8].ToBoolean().Value();
  int64_t m = as[1], k = as[2], n = bs[2], batch = std::max(as[0], bs[0]);
  if (bs[1] != k) fail(info[3], "matmul: a is [" + std::to_string(m) + "×" + std::to_string(k) + "], b has " + std::to_string(bs[1]) + " rows");
  if (as[0] != bs[0] && as[0] != 1 && bs[0] != 1) fail(info[3], "matmul: batch sizes " + std::to_string(as[0]) + " and " + std::to_string(bs[0]) + " do not broadcast");
  float* av = f32(info[0], product(as), "a");
  float* bv = f32(info[2], product(bs), "b");
  float* out = f32(info[6], batch * m * n, "out");
  float* bias = f32OrNull(info[7], n, "bias");
  auto key_ = key({as, bs}, std::string(ta ? "T" : "N") + (tb ? "T" : "N") + (bias ? "b" : "-") + (relu ? "r" : "-"));
  auto it = matmulCache.find(key_);
  if (it == matmulCache.end()) {
    memory::desc a({as[0], m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
    memory::desc b({bs[0], k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
    memory::desc c({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
    memory::desc bmd({1, 1, n}, dt::f32, memory::dims{n, n, 1});
    primitive_attr attr;
    if (relu) {
      post_ops ops;
      ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    auto d = bias ? matmul::desc(a, b, bmd, c) : matmul::desc(a, b, c);
    auto pd = matmul::primitive_desc(d, attr, eng());
    it = matmulCache.emplace(key_, std::unique_ptr<MatmulPrims>(new MatmulPrims{pd, matmul(pd), a, b, c, bmd})).first;
  }
  auto& p = *it->second;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.a, eng(), av)},
                                       {DNNL_ARG_WEIGHTS, memory(p.b, eng(), bv)},
                                       {DNNL_ARG_DST, memory(p.c, eng(), out)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, eng(), bias));
  p.prim.execute(strm(), args);
  strm().wait();
  return info.Env().Undefined();
}

// ---- pooling ------------------------------------------------------------------------------------------
// pool2d(max, x, xShape, y, yShape, kernel, strides, pads) and
// pool2dBackward(max, dy, yShape, x, xShape, dx, kernel, strides, pads). Average pooling excludes padding
// from the count, as TF and the tfjs cpu backend do.
struct PoolPrims {
  pooling_forward::primitive_desc fwd;
  pooling_forward fwdPrim;
  std::unique_ptr<pooling_backward::primitive_desc> bwd;
  std::unique_ptr<pooling_backward> bwdPrim;
  memory::desc src, dst;
};
std::unordered_map<std::string, std::unique_ptr<PoolPrims>> poolCache;

PoolPrims& poolPrims(bool isMax, const dims_t& xs, const dims_t& ys, const dims_t& kern, const dims_t& st,
                     const dims_t& pad) {
  auto k = key({xs, ys, kern, st, pad}, isMax ? "max" : "avg");
  auto it = poolCache.find(k);
  if (it != poolCache.end()) return *it->second;
  memory::desc src({xs[0], xs[3], xs[1], xs[2]}, dt::f32, tag::nhwc);
  memory::desc dst({ys[0], ys[3], ys[1], ys[2]}, dt::f32, tag::nhwc);
  auto alg = isMax ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding;
  auto d = pooling_forward::desc(prop_kind::forward_training, alg, src, dst, {st[0], st[1]}, {kern[0], kern[1]},
                                 {pad[0], pad[1]}, {pad[2], pad[3]});
  auto fwd = pooling_forward::primitive_desc(d, eng());
  auto bd = pooling_backward::desc(alg, src, dst, {st[0], st[1]}, {kern[0], kern[1]}, {pad[0], pad[1]},
                                   {pad[2], pad[3]});
  auto p = std::unique_ptr<PoolPrims>(new PoolPrims{fwd, pooling_forward(fwd), nullptr, nullptr, src, dst});
  p->bwd.reset(new pooling_backward::primitive_desc(bd, eng(), fwd));
  p->bwdPrim.reset(new pooling_backward(*p->bwd));
  auto& ref = *p;
  poolCache.emplace(k, std::move(p));
  return ref;
}

Napi::Value Pool2d(const Napi::CallbackInfo& info) {
  bool isMax = info[0].ToBoolean().Value();
  auto xs = dimsOf(info[2], 4, "x shape"), ys = dimsOf(info[4], 4, "y shape");
  float* x = f32(info[1], product(xs), "x");
  float* y = f32(info[3], product(ys), "y");
  auto& p = poolPrims(isMax, xs, ys, dimsOf(info[5], 2, "kernel"), dimsOf(info[6], 2, "strides"), dimsOf(info[7], 4, "pads"));
  memory src(p.src, eng(), x), dst(p.dst, eng(), y);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  if (isMax) args.emplace(DNNL_ARG_WORKSPACE, memory(p.fwd.workspace_desc(), eng()));
  p.fwdPrim.execute(strm(), args);
  strm().wait();
  return info.Env().Undefined();
}

Napi::Value Pool2dBackward(const Napi::CallbackInfo& info) {
  bool isMax = info[0].ToBoolean().Value();
  auto ys = dimsOf(info[2], 4, "dy shape"), xs = dimsOf(info[4], 4, "x shape");
  float* dy = f32(info[1], product(ys), "dy");
  float* x = f32(info[3], product(xs), "x");
  float* dx = f32(info[5], product(xs), "dx");
  auto& p = poolPrims(isMax, xs, ys, dimsOf(info[6], 2, "kernel"), dimsOf(info[7], 2, "strides"), dimsOf(info[8], 4, "pads"));
  memory ddst(p.dst, eng(), dy), dsrc(p.src, eng(), dx);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_SRC, dsrc}};
  if (isMax) {
    // The workspace (where each maximum came from) is recomputed from x.
    memory ws(p.fwd.workspace_desc(), eng()), y(p.dst, eng());
    p.fwdPrim.execute(strm(), {{DNNL_ARG_SRC, memory(p.src, eng(), x)}, {DNNL_ARG_DST, y},
                               {DNNL_ARG_WORKSPACE, ws}});
    args.emplace(DNNL_ARG_WORKSPACE, ws);
  }
  p.bwdPrim->execute(strm(), args);
  strm().wait();
  return info.Env().Undefined();
}

// ---- broadcasting element-wise ops ---------------------------------------------------------------------
// Strides of `shape` broadcast to `out` (same rank): 0 where a dimension of 1 is stretched.
dims_t broadcastStrides(const dims_t& shape, const dims_t& out) {
  dims_t s(out.size());
  int64_t acc = 1;
  for (int i = (int)out.size() - 1; i >= 0; i--) {
    s[i] = (shape[i] == 1 && out[i] != 1) ? 0 : acc;
    acc *= shape[i];
  }
  return s;
}

// Merges adjacent dimensions whose strides stay contiguous in every operand; drops dimensions of 1.
void mergeDims(dims_t& shape, std::vector<dims_t*> strides) {
  dims_t ns;
  std::vector<dims_t> nst(strides.size());
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 1) continue;
    bool merge = !ns.empty();
    for (size_t j = 0; merge && j < strides.size(); j++) merge = nst[j].back() == (*strides[j])[i] * shape[i];
    if (merge) {
      ns.back() *= shape[i];
      for (size_t j = 0; j < strides.size(); j++) nst[j].back() = (*strides[j])[i];
    } else {
      ns.push_back(shape[i]);
      for (size_t j = 0; j < strides.size(); j++) nst[j].push_back((*strides[j])[i]);
    }
  }
  if (ns.empty()) {
    ns.push_back(1);
    for (auto& s : nst) s.push_back(1);
  }
  shape = ns;
  for (size_t j = 0; j < strides.size(); j++) *strides[j] = nst[j];
}

enum BinaryOp { ADD, SUB, MUL, DIV, MAX, MIN, SQDIFF, POW, GREATER, GREATER_EQUAL, LESS, LESS_EQUAL, EQUAL, NOT_EQUAL };

template <int OP>
inline float binaryArith(float a, float b) {
  if constexpr (OP == ADD) return a + b;
  if constexpr (OP == SUB) return a - b;
  if constexpr (OP == MUL) return a * b;
  if constexpr (OP == DIV) return a / b;
  if constexpr (OP == MAX) return (std::isnan(a) || std::isnan(b)) ? NAN : (a > b ? a : b);
  if constexpr (OP == MIN) return (std::isnan(a) || std::isnan(b)) ? NAN : (a < b ? a : b);
  if constexpr (OP == SQDIFF) return (a - b) * (a - b);
  // x² (LARS's and every norm's squares) as a multiply: std::pow is ~10× slower, and equal for it.
  if constexpr (OP == POW) return b == 2.f ? a * a : std::pow(a, b);
  return 0;
}

template <int OP>
inline auto binaryOp(float a, float b) {
  if constexpr (OP == GREATER) return (uint8_t)(a > b);
  if constexpr (OP == GREATER_EQUAL) return (uint8_t)(a >= b);
  if constexpr (OP == LESS) return (uint8_t)(a < b);
  if constexpr (OP == LESS_EQUAL) return (uint8_t)(a <= b);
  if constexpr (OP == EQUAL) return (uint8_t)(a == b);
  if constexpr (OP == NOT_EQUAL) return (uint8_t)(a != b);
  if constexpr (OP < GREATER) return binaryArith<OP>(a, b);
}

constexpr int64_t kChunk = 1 << 14;

// Offsets of row `row` of a (merged) shape for two operands with the given strides.
inline void rowOffsets(int64_t row, const dims_t& shape, const dims_t& s0, const dims_t& s1, int64_t& o0, int64_t& o1) {
  o0 = 0;
  o1 = 0;
  int64_t rem = row;
  for (int d = (int)shape.size() - 2; d >= 0; d--) {
    int64_t i = rem % shape[d];
    rem /= shape[d];
    o0 += i * s0[d];
    o1 += i * s1[d];
  }
}

// Work items: (row, chunk of the innermost dimension), so one long row is split across threads too.
template <typename F>
void forRowChunks(const dims_t& shape, F&& body) {
  int r = (int)shape.size();
  int64_t inner = shape[r - 1];
  int64_t rows = product(shape) / inner;
  int64_t chunks = (inner + kChunk - 1) / kChunk;
  int64_t items = rows * chunks;
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMin)
  for (int64_t item = 0; item < items; item++) {
    int64_t row = item / chunks, c = item % chunks;
    int64_t j0 = c * kChunk, j1 = std::min(inner, j0 + kChunk);
    body(row, j0, j1);
  }
}

template <int OP, typename Out = float>
void binaryLoop(const float* a, const float* b, Out* out, const dims_t& shape, const dims_t& sa, const dims_t& sb) {
  int r = (int)shape.size();
  int64_t inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  forRowChunks(shape, [&](int64_t row, int64_t j0, int64_t j1) {
    int64_t oa, ob;
    rowOffsets(row, shape, sa, sb, oa, ob);
    const float* pa = a + oa;
    const float* pb = b + ob;
    Out* po = out + row * inner;
    if (ia == 1 && ib == 1) {
      for (int64_t j = j0; j < j1; j++) po[j] = binaryOp<OP>(pa[j], pb[j]);
    } else if (ia == 1 && ib == 0) {
      float vb = pb[0];
      for (int64_t j = j0; j < j1; j++) po[j] = binaryOp<OP>(pa[j], vb);
    } else if (ia == 0 && ib == 1) {
      float va = pa[0];
      for (int64_t j = j0; j < j1; j++) po[j] = binaryOp<OP>(va, pb[j]);
    } else {
      for (int64_t j = j0; j < j1; j++) po[j] = binaryOp<OP>(pa[j * ia], pb[j * ib]);
    }
  });
}

// binary(op, a, aShape, b, bShape, out, outShape): shapes padded to the same rank by the caller.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  int op = (int)num(info[0]);
  auto os = dimsOf(info[6], -1, "out shape");
  int rank = (int)os.size();
  auto as = dimsOf(info[2], rank, "a shape"), bs = dimsOf(info[4], rank, "b shape");
  for (int i = 0; i < rank; i++)
    if ((as[i] != os[i] && as[i] != 1) || (bs[i] != os[i] && bs[i] != 1)) fail(info[6], "binary: the operands' shapes do not broadcast to the output's");
  const float* a = f32(info[1], product(as), "a");
  const float* b = f32(info[3], product(bs), "b");
  void* outv = array(info[5], op >= GREATER ? Elem::U8 : Elem::F32, product(os), "out");
  if (product(os) == 0) return info.Env().Undefined();
  auto sa = broadcastStrides(as, os), sb = broadcastStrides(bs, os);
  mergeDims(os, {&sa, &sb});
  if (op >= GREATER) {
    auto o8 = static_cast<uint8_t*>(outv);
    switch (op) {
      case GREATER: binaryLoop<GREATER, uint8_t>(a, b, o8, os, sa, sb); break;
      case GREATER_EQUAL: binaryLoop<GREATER_EQUAL, uint8_t>(a, b, o8, os, sa, sb); break;
      case LESS: binaryLoop<LESS, uint8_t>(a, b, o8, os, sa, sb); break;
      case LESS_EQUAL: binaryLoop<LESS_EQUAL, uint8_t>(a, b, o8, os, sa, sb); break;
      case EQUAL: binaryLoop<EQUAL, uint8_t>(a, b, o8, os, sa, sb); break;
      case NOT_EQUAL: binaryLoop<NOT_EQUAL, uint8_t>(a, b, o8, os, sa, sb); break;
      default: throw Napi::Error::New(info.Env(), "binary: unknown op " + std::to_string(op));
    }
    return info.Env().Undefined();
  }
  float* out = static_cast<float*>(outv);
  switch (op) {
    case ADD: binaryLoop<ADD>(a, b, out, os, sa, sb); break;
    case SUB: binaryLoop<SUB>(a, b, out, os, sa, sb); break;
    case MUL: binaryLoop<MUL>(a, b, out, os, sa, sb); break;
    case DIV: binaryLoop<DIV>(a, b, out, os, sa, sb); break;
    case MAX: binaryLoop<MAX>(a, b, out, os, sa, sb); break;
    case MIN: binaryLoop<MIN>(a, b, out, os, sa, sb); break;
    case SQDIFF: binaryLoop<SQDIFF>(a, b, out, os, sa, sb); break;
    case POW: binaryLoop<POW>(a, b, out, os, sa, sb); break;
    default: throw Napi::Error::New(info.Env(), "binary: unknown op " + std::to_string(op));
  }
  return info.Env().Undefined();
}

enum UnaryOp { RELU, STEP, SQRT, RSQRT, EXP, LOG, NEG, ABS, SQUARE, RECIPROCAL, SIGMOID, TANH, RELU6, ELU, CLIP };

template <int OP>
inline float unaryOp(float x, float alpha, float beta) {
  if constexpr (OP == CLIP) return x > beta ? beta : (x < alpha ? alpha : x);
  if constexpr (OP == RELU) return x < 0.f ? 0.f : x;
  if constexpr (OP == STEP) return std::isnan(x) ? NAN : (x > 0.f ? 1.f : alpha);
  if constexpr (OP == SQRT) return std::sqrt(x);
  if constexpr (OP == RSQRT) return 1.f / std::sqrt(x);
  if constexpr (OP == EXP) return std::exp(x);
  if constexpr (OP == LOG) return std::log(x);
  if constexpr (OP == NEG) return -x;
  if constexpr (OP == ABS) return std::fabs(x);
  if constexpr (OP == SQUARE) return x * x;
  if constexpr (OP == RECIPROCAL) return 1.f / x;
  if constexpr (OP == SIGMOID) return 1.f / (1.f + std::exp(-x));
  if constexpr (OP == TANH) return std::tanh(x);
  if constexpr (OP == RELU6) return x < 0.f ? 0.f : (x > 6.f ? 6.f : x);
  if constexpr (OP == ELU) return x >= 0.f ? x : std::expm1(x);
  return 0;
}

template <int OP>
void unaryLoop(const float* x, float* out, int64_t n, float alpha, float beta) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = unaryOp<OP>(x[i], alpha, beta);
}

// unary(op, x, out, alpha, beta)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int op = (int)num(info[0]);
  const float* x = f32(info[1], -1, "x");
  int64_t n = lengthOf(info[1]);
  float* out = f32(info[2], n, "out");
  float alpha = info[3].ToNumber().FloatValue();
  float beta = info[4].ToNumber().FloatValue();
  switch (op) {
    case CLIP: unaryLoop<CLIP>(x, out, n, alpha, beta); break;
    case RELU: unaryLoop<RELU>(x, out, n, alpha, beta); break;
    case STEP: unaryLoop<STEP>(x, out, n, alpha, beta); break;
    case SQRT: unaryLoop<SQRT>(x, out, n, alpha, beta); break;
    case RSQRT: unaryLoop<RSQRT>(x, out, n, alpha, beta); break;
    case EXP: unaryLoop<EXP>(x, out, n, alpha, beta); break;
    case LOG: unaryLoop<LOG>(x, out, n, alpha, beta); break;
    case NEG: unaryLoop<NEG>(x, out, n, alpha, beta); break;
    case ABS: unaryLoop<ABS>(x, out, n, alpha, beta); break;
    case SQUARE: unaryLoop<SQUARE>(x, out, n, alpha, beta); break;
    case RECIPROCAL: unaryLoop<RECIPROCAL>(x, out, n, alpha, beta); break;
    case SIGMOID: unaryLoop<SIGMOID>(x, out, n, alpha, beta); break;
    case TANH: unaryLoop<TANH>(x, out, n, alpha, beta); break;
    case RELU6: unaryLoop<RELU6>(x, out, n, alpha, beta); break;
    case ELU: unaryLoop<ELU>(x, out, n, alpha, beta); break;
    default: throw Napi::Error::New(info.Env(), "unary: unknown op " + std::to_string(op));
  }
  return info.Env().Undefined();
}

// out[r, c] = x[r, c]·mul[c] + add[c] over an [rows, C] array: batch norm once its per-channel
// factors are known.
void channelAffine(const float* x, float* out, int64_t rows, int64_t C, const std::vector<float>& mul, const std::vector<float>& add) {
  const float* pm = mul.data();
  const float* pa = add.data();
#pragma omp parallel for schedule(static) if (rows * C >= kParallelMin)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < C; c++) out[r * C + c] = x[r * C + c] * pm[c] + pa[c];
}

// ---- batch norm (the FusedBatchNorm kernel: normalise with given moments) ------------------------------
// batchNorm(x, out, channels, mean, variance, offset|null, scale|null, eps): every parameter has 1 or
// `channels` (the last dimension) values.
// A per-channel parameter of 1 or `c` values (or null: absent): its data and the step between channels
// (0 for one shared value).
struct PerChannel {
  const float* data;
  int64_t step;
  float at(int64_t j, float absent) const { return data ? data[j * step] : absent; }
};
PerChannel perChannel(const Napi::Value& v, int64_t c, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return {nullptr, 0};
  int64_t len = lengthOf(v);
  if (len != 1 && len != c) fail(v, std::string(what) + ": has " + std::to_string(len) + " values, expected 1 or " + std::to_string(c));
  return {f32(v, len, what), len == 1 ? 0 : 1};
}
// The number of channels (the last dimension) of an [rows, c] array of n values: c ≥ 1 and dividing n.
int64_t channelsOf(const Napi::Value& v, int64_t n) {
  int64_t c = num(v);
  if (c < 1 || n % c != 0) fail(v, "channels: " + std::to_string(c) + " does not divide the " + std::to_string(n) + " values");
  return c;
}

Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0], -1, "x");
  int64_t n = lengthOf(info[0]);
  float* out = f32(info[1], n, "out");
  int64_t c = channelsOf(info[2], n);
  auto mean = perChannel(info[3], c, "mean"), var = perChannel(info[4], c, "variance");
  if (!mean.data || !var.data) fail(info[3], "batchNorm: mean and variance are required", false);
  auto offset = perChannel(info[5], c, "offset"), scale = perChannel(info[6], c, "scale");
  float eps = info[7].ToNumber().FloatValue();
  std::vector<float> mul(c), add(c);
  for (int64_t j = 0; j < c; j++) {
    float m = mean.at(j, 0.f), v = var.at(j, 0.f);
    float s = scale.at(j, 1.f), o = offset.at(j, 0.f);
    mul[j] = s / std::sqrt(v + eps);
    add[j] = o - m * mul[j];
  }
  channelAffine(x, out, n / c, c, mul, add);
  return info.Env().Undefined();
}

// ---- batch norm in training: batch moments, normalisation and the whole gradient in two passes each ----
// Per-channel sums of f(row, c) over all rows of an [rows, C] array, in double, split across threads.
template <typename F>
void channelSums(int64_t rows, int64_t C, std::vector<double>& s0, std::vector<double>& s1, F&& f) {
  int threads = (rows * C >= kParallelMin) ? omp_get_max_threads() : 1;
  std::vector<double> part0((size_t)threads * C, 0.0), part1((size_t)threads * C, 0.0);
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
    double* a0 = part0.data() + (size_t)t * C;
    double* a1 = part1.data() + (size_t)t * C;
    for (int64_t r = r0; r < r1; r++) f(r, a0, a1);
  }
  s0.assign(C, 0.0);
  s1.assign(C, 0.0);
  for (int t = 0; t < threads; t++)
    for (int64_t c = 0; c < C; c++) {
      s0[c] += part0[(size_t)t * C + c];
      s1[c] += part1[(size_t)t * C + c];
    }
}

// bnTrain(x, channels, scale|null, offset|null, eps, y, mean, variance): mean and biased variance over
// every axis but the last, y = (x − mean)·scale/√(variance + eps) + offset.
Napi::Value BnTrain(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0], -1, "x");
  int64_t n = lengthOf(info[0]);
  if (n == 0) fail(info[0], "bnTrain: x is empty");
  int64_t C = channelsOf(info[1], n), rows = n / C;
  const float* scale = f32OrNull(info[2], C, "scale");
  const float* offset = f32OrNull(info[3], C, "offset");
  float eps = info[4].ToNumber().FloatValue();
  float* y = f32(info[5], n, "y");
  float* mean = f32(info[6], C, "mean");
  float* var = f32(info[7], C, "variance");
  // Sums shifted by the first row keep the variance accurate when |mean| ≫ std.
  std::vector<float> shift(x, x + C);
  const float* sh = shift.data();
  std::vector<double> s0, s1;
  channelSums(rows, C, s0, s1, [&](int64_t r, double* a0, double* a1) {
    const float* p = x + r * C;
    for (int64_t c = 0; c < C; c++) {
      double d = (double)p[c] - sh[c];
      a0[c] += d;
      a1[c] += d * d;
    }
  });
  std::vector<float> mul(C), add(C);
  for (int64_t c = 0; c < C; c++) {
    double m = s0[c] / rows;
    double v = std::max(0.0, s1[c] / rows - m * m);
    mean[c] = (float)(m + sh[c]);
    var[c] = (float)v;
    float g = scale ? scale[c] : 1.f, b = offset ? offset[c] : 0.f;
    mul[c] = g / std::sqrt(var[c] + eps);
    add[c] = b - mean[c] * mul[c];
  }
  channelAffine(x, y, rows, C, mul, add);
  return info.Env().Undefined();
}

// bnTrainGrad(dy, x, channels, scale|null, mean, variance, eps, dx, dscale, doffset): the gradient of
// bnTrain's y with respect to x (through the batch moments), scale and offset.
Napi::Value BnTrainGrad(const Napi::CallbackInfo& info) {
  const float* dy = f32(info[0], -1, "dy");
  int64_t n = lengthOf(info[0]);
  if (n == 0) fail(info[0], "bnTrainGrad: dy is empty");
  const float* x = f32(info[1], n, "x");
  int64_t C = channelsOf(info[2], n), rows = n / C;
  const float* scale = f32OrNull(info[3], C, "scale");
  const float* mean = f32(info[4], C, "mean");
  const float* var = f32(info[5], C, "variance");
  float eps = info[6].ToNumber().FloatValue();
  float* dx = f32(info[7], n, "dx");
  float* dscale = f32(info[8], C, "dscale");
  float* doffset = f32(info[9], C, "doffset");
  std::vector<double> sdy, sdyx;
  channelSums(rows, C, sdy, sdyx, [&](int64_t r, double* a0, double* a1) {
    const float* pd = dy + r * C;
    const float* px = x + r * C;
    for (int64_t c = 0; c < C; c++) {
      a0[c] += pd[c];
      a1[c] += (double)pd[c] * ((double)px[c] - mean[c]);
    }
  });
  // dx = g·rstd·(dy − Σdy/N − x̂·Σ(dy·x̂)/N), x̂ = (x − mean)·rstd; as dx = k·(dy − mdy) + kx·(x − mean)
  // with mdy = Σdy/N subtracted before the (possibly large) factor k, so that dy's own mean cancels exactly
  // (a single row's dx is exactly 0, as it should be).
  std::vector<float> k(C), kx(C), mdy(C);
  for (int64_t c = 0; c < C; c++) {
    double rstd = 1.0 / std::sqrt((double)var[c] + eps);
    double g = scale ? scale[c] : 1.0;
    double dbeta = sdy[c], dgamma = sdyx[c] * rstd;
    doffset[c] = (float)dbeta;
    dscale[c] = (float)dgamma;
    double kk = g * rstd, kxx = -g * rstd * rstd * dgamma / rows;
    k[c] = (float)kk;
    kx[c] = (float)kxx;
    mdy[c] = (float)(dbeta / rows);
  }
  const float *pk = k.data(), *pkx = kx.data(), *pm = mdy.data();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < C; c++) dx[r * C + c] = pk[c] * (dy[r * C + c] - pm[c]) + pkx[c] * (x[r * C + c] - mean[c]);
  return info.Env().Undefined();
}

// ---- reductions -------------------------------------------------------------------------------------
// reduce(op, x, [outer, reduced, inner], out): out[o, i] = op over r of x[o, r, i]. op: 0 sum, 1 mean,
// 2 max, 3 min. Accumulates in double.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  int op = (int)num(info[0]);
  auto s = dimsOf(info[2], 3, "reduce dims");
  int64_t O = s[0], R = s[1], I = s[2];
  const float* x = f32(info[1], O * R * I, "x");
  float* out = f32(info[3], O * I, "out");
  if (R == 0 || O * I == 0) fail(info[2], "reduce: nothing to reduce");
  auto finish = [&](double v) { return (float)(op == 1 ? v / (double)R : v); };
  if (I == 1) {
#pragma omp parallel for schedule(static) if (O * R >= kParallelMin)
    for (int64_t o = 0; o < O; o++) {
      const float* p = x + o * R;
      if (op <= 1) {
        double acc = 0;
        for (int64_t r = 0; r < R; r++) acc += p[r];
        out[o] = finish(acc);
      } else {
        float acc = p[0];
        for (int64_t r = 1; r < R; r++) acc = op == 2 ? (p[r] > acc || std::isnan(p[r]) ? p[r] : acc) : (p[r] < acc || std::isnan(p[r]) ? p[r] : acc);
        out[o] = acc;
      }
    }
    return info.Env().Undefined();
  }
  // Columns: each thread reduces a block of r into its own accumulators, then they are combined.
  int threads = (O * R * I >= kParallelMin) ? omp_get_max_threads() : 1;
  for (int64_t o = 0; o < O; o++) {
    const float* base = x + o * R * I;
    std::vector<double> part((size_t)threads * I, op <= 1 ? 0.0 : NAN);
    std::vector<char> seen(threads, 0);
#pragma omp parallel num_threads(threads)
    {
      int t = omp_get_thread_num();
      int nt = omp_get_num_threads();
      int64_t r0 = R * t / nt, r1 = R * (t + 1) / nt;
      double* acc = part.data() + (size_t)t * I;
      if (r1 > r0) {
        seen[t] = 1;
        if (op <= 1) {
          for (int64_t r = r0; r < r1; r++) {
            const float* p = base + r * I;
            for (int64_t i = 0; i < I; i++) acc[i] += p[i];
          }
        } else {
          for (int64_t i = 0; i < I; i++) acc[i] = base[r0 * I + i];
          for (int64_t r = r0 + 1; r < r1; r++) {
            const float* p = base + r * I;
            for (int64_t i = 0; i < I; i++) {
              double v = p[i];
              if (std::isnan(acc[i])) continue;
              if (std::isnan(v) || (op == 2 ? v > acc[i] : v < acc[i])) acc[i] = v;
            }
          }
        }
      }
    }
    for (int64_t i = 0; i < I; i++) {
      double v = 0;
      bool first = true;
      for (int t = 0; t < threads; t++) {
        if (!seen[t]) continue;
        double p = part[(size_t)t * I + i];
        if (op <= 1) v += p;
        else if (first || std::isnan(p) || (!std::isnan(v) && (op == 2 ? p > v : p < v))) v = p;
        first = false;
      }
      out[o * I + i] = op <= 1 ? finish(v) : (float)v;
    }
  }
  return info.Env().Undefined();
}

// ---- strided copies (slice, transpose, tile, reverse, pad, concat) -------------------------------------
// copy(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape): dst[dstOffset + Σ i·dstStride] =
// src[srcOffset + Σ i·srcStride] over `shape`; element strides, 4-byte elements (float32 or int32).
// Signed integers (strides, which are negative for a reversed axis), `rank` of them.
dims_t intsOf(const Napi::Value& v, int rank, const char* what) {
  if (!v.IsArray() || (int)v.As<Napi::Array>().Length() != rank) fail(v, std::string(what) + ": expected " + std::to_string(rank) + " integers");
  auto a = v.As<Napi::Array>();
  dims_t d(rank);
  for (int i = 0; i < rank; i++) d[i] = num(a.Get(i));
  return d;
}
// The element offset `offset` + Σ i·strides over `shape` stays inside an array of `length` elements.
void checkSpan(const Napi::Value& v, int64_t length, int64_t offset, const dims_t& strides, const dims_t& shape, const char* what) {
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); i++) {
    int64_t reach = (shape[i] - 1) * strides[i];
    (reach < 0 ? lo : hi) += reach;
  }
  if (lo < 0 || hi >= length) fail(v, std::string(what) + ": the copy reaches elements " + std::to_string(lo) + " to " + std::to_string(hi) + " of " + std::to_string(length));
}

Napi::Value Copy(const Napi::CallbackInfo& info) {
  auto shape = dimsOf(info[6], -1, "shape");
  int rank = (int)shape.size();
  auto ss = intsOf(info[2], rank, "source strides"), ds = intsOf(info[5], rank, "destination strides");
  auto srcBase = static_cast<const uint32_t*>(array(info[0], Elem::Word, -1, "source"));
  auto dstBase = static_cast<uint32_t*>(array(info[3], Elem::Word, -1, "destination"));
  if (product(shape) == 0) return info.Env().Undefined();
  int64_t so = num(info[1]), dso = num(info[4]);
  checkSpan(info[0], lengthOf(info[0]), so, ss, shape, "source");
  checkSpan(info[3], lengthOf(info[3]), dso, ds, shape, "destination");
  const uint32_t* src = srcBase + so;
  uint32_t* dst = dstBase + dso;
  mergeDims(shape, {&ss, &ds});
  int r = (int)shape.size();
  int64_t is = ss[r - 1], id = ds[r - 1];
  forRowChunks(shape, [&](int64_t row, int64_t j0, int64_t j1) {
    int64_t os, od;
    rowOffsets(row, shape, ss, ds, os, od);
    const uint32_t* ps = src + os;
    uint32_t* pd = dst + od;
    if (is == 1 && id == 1) {
      std::memcpy(pd + j0, ps + j0, (j1 - j0) * sizeof(uint32_t));
    } else {
      for (int64_t j = j0; j < j1; j++) pd[j * id] = ps[j * is];
    }
  });
  return info.Env().Undefined();
}

// gather(x, [outer, axisSize, inner], indices Int32Array, out): out[o, j, :] = x[o, indices[j], :] (4-byte
// elements). Throws on an index outside [0, axisSize).
Napi::Value Gather(const Napi::CallbackInfo& info) {
  auto d = dimsOf(info[1], 3, "gather dims");
  int64_t O = d[0], A = d[1], I = d[2], J = lengthOf(info[2]);
  auto x = static_cast<const uint32_t*>(array(info[0], Elem::Word, O * A * I, "x"));
  const int32_t* ip = static_cast<const int32_t*>(array(info[2], Elem::I32, -1, "indices"));
  auto out = static_cast<uint32_t*>(array(info[3], Elem::Word, O * J * I, "out"));
  for (int64_t j = 0; j < J; j++)
    if (ip[j] < 0 || ip[j] >= A)
      throw Napi::RangeError::New(info.Env(), "GatherV2: index " + std::to_string(ip[j]) + " is not in [0, " + std::to_string(A - 1) + "]");
#pragma omp parallel for schedule(static) if (O * J * I >= kParallelMin)
  for (int64_t oj = 0; oj < O * J; oj++) {
    int64_t o = oj / J, j = oj % J;
    std::memcpy(out + oj * I, x + (o * A + ip[j]) * I, I * sizeof(uint32_t));
  }
  return info.Env().Undefined();
}

// select(condition Uint8Array, a, b, out): out[i] = cond[i] ? a[i] : b[i] (4-byte elements; tf.where
// broadcasts the condition to the operands' shape first).
Napi::Value Select(const Napi::CallbackInfo& info) {
  int64_t n = lengthOf(info[1]);
  auto cond = static_cast<const uint8_t*>(array(info[0], Elem::U8, n, "condition"));
  auto a = static_cast<const uint32_t*>(array(info[1], Elem::Word, n, "a"));
  auto b = static_cast<const uint32_t*>(array(info[2], Elem::Word, n, "b"));
  auto out = static_cast<uint32_t*>(array(info[3], Elem::Word, n, "out"));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) out[i] = cond[i] ? a[i] : b[i];
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto v = dnnl_version();
  auto o = Napi::Object::New(env);
  o.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("threads", omp_get_max_threads());
  o.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other");
  // The instruction set oneDNN's kernels use here (the CPU's best, or lower under ONEDNN_MAX_CPU_ISA).
  const char* isa = "other";
  switch (get_effective_cpu_isa()) {
    case cpu_isa::sse41: isa = "SSE4.1"; break;
    case cpu_isa::avx: isa = "AVX"; break;
    case cpu_isa::avx2: isa = "AVX2"; break;
    case cpu_isa::avx2_vnni: isa = "AVX2-VNNI"; break;
    case cpu_isa::avx512_core: isa = "AVX-512"; break;
    case cpu_isa::avx512_core_vnni: isa = "AVX-512 VNNI"; break;
    case cpu_isa::avx512_core_bf16: isa = "AVX-512 BF16"; break;
    case cpu_isa::avx512_core_amx: isa = "AVX-512 AMX"; break;
    case cpu_isa::all: isa = "native"; break;
    default: break;
  }
  o.Set("isa", isa);
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t threads = num(info[0]);
  if (threads < 1 || threads > 4096) fail(info[0], "setThreads: expected 1 to 4096 threads, got " + std::to_string(threads));
  omp_set_num_threads((int)threads);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
  // Tensors are allocated and freed by the thousand per training step, most of them megabytes. With
  // glibc's defaults each one is a fresh mmap whose pages fault in (and are zeroed) on first touch:
  // 170,000 page faults and 0.35 s of system time per ResNet-18 ×0.25 step. Keeping freed memory in the
  // heap for reuse removes 90 % of them. SIMCLR_ONEDNN_MALLOC=default keeps glibc's settings.
  const char* keep = std::getenv("SIMCLR_ONEDNN_MALLOC");
  if (keep == nullptr || std::string(keep) != "default") {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    if (std::getenv("SIMCLR_ONEDNN_MMAP") == nullptr) mallopt(M_MMAP_MAX, 0);
  }
#endif
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardFilter", Napi::Function::New(env, Conv2dBackwardFilter));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("pool2d", Napi::Function::New(env, Pool2d));
  exports.Set("pool2dBackward", Napi::Function::New(env, Pool2dBackward));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("batchNorm", Napi::Function::New(env, BatchNorm));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("bnTrain", Napi::Function::New(env, BnTrain));
  exports.Set("bnTrainGrad", Napi::Function::New(env, BnTrainGrad));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("select", Napi::Function::New(env, Select));
  return exports;
}

NODE_API_MODULE(simclr_onednn, Init)
