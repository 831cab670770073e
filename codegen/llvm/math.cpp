// Polynomial exp/log/tanh/sigmoid and Philox emitted as LLVM IR (see math.h).
//
// exp(x):  n = rint(x / ln2), r = x - n*ln2 (two-constant Cody-Waite with FMA),
//          e^r by its Taylor polynomial (|r| <= ln2/2: degree 7 for f32, 13 for f64,
//          truncation < 0.5 ulp), times 2^n applied as two exponent-bit scalings
//          2^(n>>1) * 2^(n - (n>>1)) so that overflow to inf and gradual underflow to
//          denormals round once. x above/below the range gives inf/0, NaN passes through.
// log(x):  x = m * 2^e with m in [sqrt(1/2), sqrt(2)) (denormals pre-scaled by 2^25),
//          f = m - 1, s = f/(2+f), log(1+f) = f - hfsq + s*(hfsq + R(s^2)) (fdlibm's
//          formulation) with R the atanh series 2/3 z + 2/5 z^2 + ... (5 / 11 terms);
//          x<0 -> NaN, 0 -> -inf, inf -> inf, NaN -> NaN.
// tanh(x): |x| < 0.625: odd polynomial (f32, Cephes tanhf) or rational (f64, Cephes
//          tanh); else sign(x) * (1 - 2/(e^{2|x|} + 1)), which is 1 for large |x|.
// sigmoid: t = e^{-|x|}, r = 1/(1+t): x >= 0 ? r : t*r (no overflow, exact tails).
#include "codegen/llvm/math.h"

#include <cmath>
#include <string>

#include "ir/philox.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::llvmgen {

using llvm::IRBuilder;
using llvm::Type;
using llvm::Value;

namespace {

Value* cf(Type* t, double v) { return llvm::ConstantFP::get(t, v); }

Value* fma(IRBuilder<>& b, Value* x, Value* y, Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fma, {x->getType()}, {x, y, z});
}

// Horner: c[0] + x*(c[1] + x*(c[2] + ...)).
Value* horner(IRBuilder<>& b, Value* x, const double* c, int n) {
  Type* t = x->getType();
  Value* acc = cf(t, c[n - 1]);
  for (int i = n - 2; i >= 0; --i) acc = fma(b, acc, x, cf(t, c[i]));
  return acc;
}

Value* emit_exp(IRBuilder<>& b, Value* x) {
  Type* t = x->getType();
  bool f32 = t->isFloatTy();
  Type* it = f32 ? b.getInt32Ty() : b.getInt64Ty();
  const double hi = f32 ? 88.72283935546875 : 709.782712893384;
  const double lo = f32 ? -103.97208404541015625 : -745.1332191019412;
  const double ln2_hi = f32 ? 0.693145751953125 : 6.93147180369123816490e-01;
  const double ln2_lo = f32 ? 1.428606765330187045e-06 : 1.90821492927058770002e-10;
  Value* xc = b.CreateIntrinsic(llvm::Intrinsic::minnum, {t}, {x, cf(t, hi)});
  xc = b.CreateIntrinsic(llvm::Intrinsic::maxnum, {t}, {xc, cf(t, lo)});
  Value* nf = b.CreateIntrinsic(llvm::Intrinsic::rint, {t}, {b.CreateFMul(xc, cf(t, 1.4426950408889634))});
  Value* r = fma(b, b.CreateFNeg(nf), cf(t, ln2_hi), xc);
  r = fma(b, b.CreateFNeg(nf), cf(t, ln2_lo), r);
  double c[14];
  int deg = f32 ? 7 : 13;
  double fact = 1;
  for (int i = 0; i <= deg; ++i) {
    if (i > 0) fact *= i;
    c[i] = 1.0 / fact;
  }
  Value* p = horner(b, r, c, deg + 1);
  Value* n = b.CreateFPToSI(nf, it);
  Value* n1 = b.CreateAShr(n, llvm::ConstantInt::get(it, 1));
  Value* n2 = b.CreateSub(n, n1);
  int mant = f32 ? 23 : 52;
  int bias = f32 ? 127 : 1023;
  auto pow2 = [&](Value* e) {
    Value* bits = b.CreateShl(b.CreateAdd(e, llvm::ConstantInt::get(it, bias)),
                              llvm::ConstantInt::get(it, mant));
    return b.CreateBitCast(bits, t);
  };
  Value* res = b.CreateFMul(b.CreateFMul(p, pow2(n1)), pow2(n2));
  res = b.CreateSelect(b.CreateFCmpOGT(x, cf(t, hi)), cf(t, INFINITY), res);
  res = b.CreateSelect(b.CreateFCmpOLT(x, cf(t, lo)), cf(t, 0.0), res);
  res = b.CreateSelect(b.CreateFCmpUNO(x, x), x, res);
  return res;
}

Value* emit_log(IRBuilder<>& b, Value* x) {
  Type* t = x->getType();
  bool f32 = t->isFloatTy();
  Type* it = f32 ? b.getInt32Ty() : b.getInt64Ty();
  int mant = f32 ? 23 : 52;
  int bias = f32 ? 127 : 1023;
  double min_normal = f32 ? 1.17549435082228750797e-38 : 2.2250738585072014e-308;
  auto ic = [&](uint64_t v) { return llvm::ConstantInt::get(it, v); };
  // Denormals: scale up by 2^25 (f32) / 2^54 (f64) and correct the exponent.
  Value* tiny = b.CreateFCmpOLT(x, cf(t, min_normal));
  int scale_bits = f32 ? 25 : 54;
  Value* xs = b.CreateSelect(tiny, b.CreateFMul(x, cf(t, std::ldexp(1.0, scale_bits))), x);
  Value* eadj = b.CreateSelect(tiny, ic(static_cast<uint64_t>(-scale_bits)), ic(0));
  Value* bits = b.CreateBitCast(xs, it);
  Value* e = b.CreateSub(b.CreateLShr(bits, ic(mant)), ic(bias));
  e = b.CreateAnd(e, ic(f32 ? 0xffffffffull : ~0ull));
  Value* mbits = b.CreateOr(b.CreateAnd(bits, ic((1ull << mant) - 1)),
                            ic(static_cast<uint64_t>(bias) << mant));
  Value* m = b.CreateBitCast(mbits, t);
  Value* big = b.CreateFCmpOGT(m, cf(t, 1.41421356237309504880));
  m = b.CreateSelect(big, b.CreateFMul(m, cf(t, 0.5)), m);
  e = b.CreateAdd(b.CreateAdd(e, eadj), b.CreateSelect(big, ic(1), ic(0)));
  Value* ef = b.CreateSIToFP(e, t);
  Value* f = b.CreateFSub(m, cf(t, 1.0));
  Value* s = b.CreateFDiv(f, b.CreateFAdd(f, cf(t, 2.0)));
  Value* z = b.CreateFMul(s, s);
  double c[12];
  int terms = f32 ? 5 : 11;
  for (int k = 1; k <= terms; ++k) c[k - 1] = 2.0 / (2 * k + 1);
  Value* R = b.CreateFMul(z, horner(b, z, c, terms));
  Value* hfsq = b.CreateFMul(cf(t, 0.5), b.CreateFMul(f, f));
  const double ln2_hi = f32 ? 0.693145751953125 : 6.93147180369123816490e-01;
  const double ln2_lo = f32 ? 1.428606765330187045e-06 : 1.90821492927058770002e-10;
  // log = e*ln2_hi - ((hfsq - (s*(hfsq+R) + e*ln2_lo)) - f)
  Value* inner = fma(b, s, b.CreateFAdd(hfsq, R), b.CreateFMul(ef, cf(t, ln2_lo)));
  Value* res = b.CreateFSub(b.CreateFMul(ef, cf(t, ln2_hi)),
                            b.CreateFSub(b.CreateFSub(hfsq, inner), f));
  res = b.CreateSelect(b.CreateFCmpOEQ(x, cf(t, INFINITY)), x, res);
  res = b.CreateSelect(b.CreateFCmpOEQ(x, cf(t, 0.0)), cf(t, -INFINITY), res);
  res = b.CreateSelect(b.CreateFCmpOLT(x, cf(t, 0.0)), cf(t, NAN), res);
  res = b.CreateSelect(b.CreateFCmpUNO(x, x), x, res);
  return res;
}

Value* emit_tanh(llvm::Module& mod, IRBuilder<>& b, Value* x) {
  Type* t = x->getType();
  bool f32 = t->isFloatTy();
  Value* ax = b.CreateIntrinsic(llvm::Intrinsic::fabs, {t}, {x});
  Value* z = b.CreateFMul(x, x);
  Value* small;
  if (f32) {
    const double c[] = {-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2,
                        2.06390887954e-2, -5.70498872745e-3};
    small = fma(b, b.CreateFMul(horner(b, z, c, 5), z), x, x);
  } else {
    const double P[] = {-1.61468768441708447952e3, -9.92877231001918586564e1,
                        -9.64399179425052238628e-1};
    const double Q[] = {4.84406305325125486048e3, 2.23548839060100448583e3,
                        1.12811678491632931402e2, 1.0};
    Value* r = b.CreateFDiv(horner(b, z, P, 3), horner(b, z, Q, 4));
    small = fma(b, b.CreateFMul(x, z), r, x);
  }
  llvm::Function* expf = math_function(mod, MathFn::Exp, t);
  Value* e2 = b.CreateCall(expf, {b.CreateFMul(ax, cf(t, 2.0))});
  Value* large = b.CreateFSub(cf(t, 1.0), b.CreateFDiv(cf(t, 2.0), b.CreateFAdd(e2, cf(t, 1.0))));
  large = b.CreateIntrinsic(llvm::Intrinsic::copysign, {t}, {large, x});
  Value* res = b.CreateSelect(b.CreateFCmpOLT(ax, cf(t, 0.625)), small, large);
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, res);
}

Value* emit_sigmoid(llvm::Module& mod, IRBuilder<>& b, Value* x) {
  Type* t = x->getType();
  Value* ax = b.CreateIntrinsic(llvm::Intrinsic::fabs, {t}, {x});
  llvm::Function* expf = math_function(mod, MathFn::Exp, t);
  Value* e = b.CreateCall(expf, {b.CreateFNeg(ax)});
  Value* r = b.CreateFDiv(cf(t, 1.0), b.CreateFAdd(cf(t, 1.0), e));
  Value* res = b.CreateSelect(b.CreateFCmpOGE(x, cf(t, 0.0)), r, b.CreateFMul(e, r));
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, res);
}

}  // namespace

llvm::Function* math_function(llvm::Module& m, MathFn fn, Type* type) {
  static const char* names[] = {"exp", "log", "tanh", "sigmoid"};
  std::string name = std::string("kiln.") + names[static_cast<int>(fn)] +
                     (type->isFloatTy() ? ".f32" : ".f64");
  if (llvm::Function* f = m.getFunction(name)) return f;
  auto* fty = llvm::FunctionType::get(type, {type}, false);
  llvm::Function* f = llvm::Function::Create(fty, llvm::Function::InternalLinkage, name, m);
  f->addFnAttr(llvm::Attribute::AlwaysInline);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  f->setDoesNotAccessMemory();
  auto* bb = llvm::BasicBlock::Create(m.getContext(), "entry", f);
  IRBuilder<> b(bb);
  Value* x = f->getArg(0);
  Value* r = nullptr;
  switch (fn) {
    case MathFn::Exp: r = emit_exp(b, x); break;
    case MathFn::Log: r = emit_log(b, x); break;
    case MathFn::Tanh: r = emit_tanh(m, b, x); break;
    case MathFn::Sigmoid: r = emit_sigmoid(m, b, x); break;
  }
  b.CreateRet(r);
  return f;
}

void emit_philox(IRBuilder<>& b, Value* index, Value* counter, int64_t seed, int64_t key,
                 Value* out[4]) {
  Type* i32 = b.getInt32Ty();
  Type* i64 = b.getInt64Ty();
  Value* c[4] = {b.CreateTrunc(index, i32), b.CreateTrunc(b.CreateLShr(index, 32), i32),
                 b.CreateTrunc(counter, i32), b.CreateTrunc(b.CreateLShr(counter, 32), i32)};
  philox::Key k = philox::make_key(seed, key);
  for (int r = 0; r < philox::kRounds; ++r) {
    if (r > 0) {
      k[0] += philox::kBump0;
      k[1] += philox::kBump1;
    }
    Value* p0 = b.CreateMul(b.CreateZExt(c[0], i64), b.getInt64(philox::kMul0));
    Value* p1 = b.CreateMul(b.CreateZExt(c[2], i64), b.getInt64(philox::kMul1));
    Value* hi0 = b.CreateTrunc(b.CreateLShr(p0, 32), i32);
    Value* lo0 = b.CreateTrunc(p0, i32);
    Value* hi1 = b.CreateTrunc(b.CreateLShr(p1, 32), i32);
    Value* lo1 = b.CreateTrunc(p1, i32);
    Value* n0 = b.CreateXor(b.CreateXor(hi1, c[1]), b.getInt32(k[0]));
    Value* n2 = b.CreateXor(b.CreateXor(hi0, c[3]), b.getInt32(k[1]));
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
  }
  for (int i = 0; i < 4; ++i) out[i] = c[i];
}

Value* emit_rng_value(llvm::Module& m, IRBuilder<>& b, bool normal, bool f32, Value* const w[4]) {
  Type* f = b.getFloatTy();
  Type* d = b.getDoubleTy();
  Type* i64 = b.getInt64Ty();
  const double inv24 = 1.0 / philox::kTwoPow24, inv53 = 1.0 / philox::kTwoPow53;
  if (!normal) {
    if (f32) {
      // (w0 >> 8) * 2^-24: exact in f32.
      return b.CreateFMul(b.CreateUIToFP(b.CreateLShr(w[0], 8), f), cf(f, inv24));
    }
    Value* bits = b.CreateOr(b.CreateShl(b.CreateZExt(w[0], i64), 32), b.CreateZExt(w[1], i64));
    return b.CreateFMul(b.CreateUIToFP(b.CreateLShr(bits, 11), d), cf(d, inv53));
  }
  Value* u1 = b.CreateFMul(b.CreateUIToFP(b.CreateAdd(b.CreateLShr(w[0], 8), b.getInt32(1)), d),
                           cf(d, inv24));
  Value* u2 = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(w[1], 8), d), cf(d, inv24));
  Value* lg = b.CreateCall(math_function(m, MathFn::Log, d), {u1});
  Value* rad = b.CreateIntrinsic(llvm::Intrinsic::sqrt, {d}, {b.CreateFMul(cf(d, -2.0), lg)});
  Value* cs = b.CreateIntrinsic(llvm::Intrinsic::cos, {d},
                                {b.CreateFMul(cf(d, 6.283185307179586476925286766559), u2)});
  Value* z = b.CreateFMul(rad, cs);
  return f32 ? b.CreateFPTrunc(z, f) : z;
}

}  // namespace kiln::llvmgen
