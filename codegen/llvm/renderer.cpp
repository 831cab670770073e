// Renderer: kernel IR -> LLVM IR (see renderer.h for the module layout). Loop kernels
// become a parallel range loop over the flattened parallel axes, nested reduction
// loops, and an innermost contiguous loop that the O3 loop vectorizer turns into SIMD
// code; index expressions that do not depend on the inner loop are hoisted by LICM.
// Scalar reductions mark only their accumulating fadd `reassoc` (so it vectorizes);
// nothing else gets fast-math flags (DESIGN.md convention 7). Elementwise loops with a
// long body (many inline exp/tanh polynomials) ask the vectorizer to fold the remainder
// into masked vector iterations rather than emit a scalar copy of the body, which
// halves their machine-code size and code-generation time at no measurable run time.
// Kernels with empty iteration spaces are not emitted at all (codegen/lower.cpp).
#include "codegen/llvm/renderer.h"

#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include "codegen/llvm/math.h"
#include "codegen/llvm/schedule.h"
#include "runtime/abi.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"

namespace kiln::llvmgen {

using kir::BOp;
using kir::COp;
using kir::EOp;
using kir::ExprId;
using kir::UOp;
using llvm::BasicBlock;
using llvm::Function;
using llvm::IRBuilder;
using llvm::Type;
using llvm::Value;

namespace {

Type* value_type(llvm::LLVMContext& c, DType t) {
  switch (t) {
    case DType::f32: return Type::getFloatTy(c);
    case DType::f64: return Type::getDoubleTy(c);
    case DType::i32: return Type::getInt32Ty(c);
    case DType::i64: return Type::getInt64Ty(c);
    case DType::boolean: return Type::getInt1Ty(c);
  }
  return nullptr;
}
Type* memory_type(llvm::LLVMContext& c, DType t) {
  return t == DType::boolean ? Type::getInt8Ty(c) : value_type(c, t);
}

// Elementwise loop bodies at least this big (body_size) fold their remainder into the
// vector loop (see fold_tail).
constexpr int64_t kFoldTailBodySize = 256;

// Elementwise vector loops of at least kShortLoopMin and fewer than kShortLoopMax
// iterations that load along the vector axis other than contiguously (a pooling window
// with stride 2, clamped at the border) are marked for vectorization (see vectorize).
// LLVM's vectorizer takes a loop of fewer than 16 iterations only if it can fold the
// remainder into masked vector iterations, and it cannot mask such loads, so the loop
// stayed scalar. kiln bench, least us, before -> after: LeNet-BN's 2x2 average pool over
// sigmoid(batch norm) (12 outputs per row) 2710 -> 1100 (it was 24% of the step),
// ResNet-18@32's and DenseNet's stem max-pool indices (3x3 stride 2 on 16x16) 2020 ->
// 1150 and 2010 -> 1290, GoogLeNet's 206 -> 119. Contiguous loops are left alone: the
// 10-class softmax rows were 0.6-1.3 us slower with the hint.
constexpr int64_t kShortLoopMin = 4, kShortLoopMax = 16;

class KernelRenderer {
 public:
  KernelRenderer(llvm::Module& m, const kir::KernelProgram& prog, const kir::Kernel& k)
      : M_(m), C_(m.getContext()), prog_(prog), P_(prog.pool), k_(k), b_(C_) {}

  // Emits k<i>.body and the k<i> wrapper (void(ptr bufs, i64 begin, i64 end)) of a loop
  // or scatter kernel; returns the wrapper.
  Function* render(const std::string& name) {
    Type* i64 = b_.getInt64Ty();
    std::vector<Value*> range;
    Function* w = begin_function(name, {i64, i64}, &range);
    if (const kir::LoopKernel* l = k_.loop()) render_loop(*l, range[0], range[1]);
    else if (const kir::RowKernel* r = k_.row_kernel()) render_row_loops(r->loops, r->rows, range[0], range[1]);
    else render_scatter(*k_.scatter(), range[0], range[1]);
    return finish_function(w);
  }

  // Emits the epilogue of a contraction kernel, k<i>.epi (EpilogueFn in runtime/abi.h):
  // for rows [r0, r1) and cols [c0, c1) of batch b of the GEMM view, out = epilogue.
  Function* render_epilogue(const std::string& name) {
    const kir::ContractionKernel& c = *k_.contraction();
    Type* i64 = b_.getInt64Ty();
    std::vector<Value*> a;
    Function* w = begin_function(name, {i64, i64, i64, i64, i64}, &a);
    ax_.assign(3, i64c(0));
    ax_[0] = a[0];
    loop(a[1], a[2], [&](Value* r) {
      ax_[1] = r;
      loop(a[3], a[4], [&](Value* col) {
        ax_[2] = col;
        memo_.clear();
        Value* v = emit(c.epilogue);
        store(c.out, c.dtype, emit(c.epilogue_offset), v);
      });
    });
    return finish_function(w);
  }

  // Emits the row epilogue of a GEMM kernel, k<i>.rows (RowEpilogueFn in runtime/abi.h).
  Function* render_rows(const std::string& name) {
    const kir::ContractionKernel& c = *k_.contraction();
    Type* i64 = b_.getInt64Ty();
    std::vector<Value*> a;
    Function* w = begin_function(name, {i64, i64}, &a);
    render_row_loops(c.row_loops, c.m, a[0], a[1]);
    return finish_function(w);
  }

  // Emits the prologue of a convolution kernel, k<i>.pro (PrologueFn in runtime/abi.h):
  // operand x of images [i0, i1) over the view [n, c, h*w], stored densely to dst. The
  // pixel loop is innermost and contiguous, so it vectorizes; per-channel operands
  // (batch-norm statistics) are invariant in it.
  Function* render_prologue(const std::string& name) {
    const kir::ContractionKernel& c = *k_.contraction();
    Type* i64 = b_.getInt64Ty();
    Type* ptr = llvm::PointerType::get(C_, 0);
    std::vector<Value*> a;
    Function* w = begin_function(name, {i64, i64, ptr}, &a);
    body_->addParamAttr(static_cast<unsigned>(buffer_ids_.size() + 2), llvm::Attribute::NoAlias);
    const int64_t channels = c.prologue_view[1], pixels = c.prologue_view[2];
    Type* ty = value_type(C_, c.dtype);
    ax_.assign(3, i64c(0));
    loop(a[0], a[1], [&](Value* image) {
      ax_[0] = image;
      Value* base = b_.CreateMul(b_.CreateSub(image, a[0]), i64c(channels * pixels));
      loop(i64c(0), i64c(channels), [&](Value* ch) {
        ax_[1] = ch;
        Value* row = b_.CreateAdd(base, b_.CreateMul(ch, i64c(pixels)));
        loop(i64c(0), i64c(pixels), [&](Value* q) {
          ax_[2] = q;
          memo_.clear();
          Value* v = emit(c.prologue);
          Value* at = b_.CreateInBoundsGEP(ty, a[2], b_.CreateAdd(row, q));
          b_.CreateAlignedStore(v, at, llvm::Align(dtype_size(c.dtype)));
        });
      });
    });
    return finish_function(w);
  }

 private:
  // The kernel's body function (buffer pointers as noalias arguments, then `extra`
  // scalar arguments, returned in *args) and its internal wrapper taking (ptr bufs,
  // extra...), which loads the pointers. The body is left open at its entry block.
  Function* begin_function(const std::string& name, const std::vector<Type*>& extra,
                           std::vector<Value*>* args) {
    std::set<int> bufs(k_.reads.begin(), k_.reads.end());
    for (int o : k_.outputs()) bufs.insert(o);
    buffer_ids_.assign(bufs.begin(), bufs.end());
    Type* ptr = llvm::PointerType::get(C_, 0);
    std::vector<Type*> params(buffer_ids_.size(), ptr);
    params.insert(params.end(), extra.begin(), extra.end());
    auto* bty = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    body_ = Function::Create(bty, Function::InternalLinkage, name + ".body", M_);
    body_->addFnAttr(llvm::Attribute::AlwaysInline);
    body_->addFnAttr(llvm::Attribute::NoUnwind);
    for (size_t i = 0; i < buffer_ids_.size(); ++i) {
      body_->addParamAttr(static_cast<unsigned>(i), llvm::Attribute::NoAlias);
      ptrs_[buffer_ids_[i]] = body_->getArg(static_cast<unsigned>(i));
    }
    for (size_t i = 0; i < extra.size(); ++i)
      args->push_back(body_->getArg(static_cast<unsigned>(buffer_ids_.size() + i)));
    entry_ = BasicBlock::Create(C_, "entry", body_);
    b_.SetInsertPoint(entry_);

    std::vector<Type*> wparams{ptr};
    wparams.insert(wparams.end(), extra.begin(), extra.end());
    auto* wty = llvm::FunctionType::get(b_.getVoidTy(), wparams, false);
    Function* w = Function::Create(wty, Function::InternalLinkage, name, M_);
    w->addFnAttr(llvm::Attribute::NoUnwind);
    // Never inlined into the entry function: with thousands of kernels it would become
    // one giant function, and optimizing and compiling it is superlinear in its size.
    w->addFnAttr(llvm::Attribute::NoInline);
    IRBuilder<> wb(BasicBlock::Create(C_, "entry", w));
    std::vector<Value*> call_args;
    for (int id : buffer_ids_) {
      Value* slot = wb.CreateConstInBoundsGEP1_64(ptr, w->getArg(0), static_cast<uint64_t>(id));
      call_args.push_back(wb.CreateLoad(ptr, slot));
    }
    for (size_t i = 0; i < extra.size(); ++i) call_args.push_back(w->getArg(static_cast<unsigned>(i + 1)));
    wb.CreateCall(body_, call_args);
    wb.CreateRetVoid();
    return w;
  }
  Function* finish_function(Function* wrapper) {
    b_.CreateRetVoid();
    return wrapper;
  }

  Value* i64c(int64_t v) { return b_.getInt64(static_cast<uint64_t>(v)); }

  // for (iv = lo; iv < hi; ++iv) body(iv), emitted rotated with a guard.
  llvm::BranchInst* loop(Value* lo, Value* hi, const std::function<void(Value*)>& fn) {
    BasicBlock* pre = b_.GetInsertBlock();
    BasicBlock* bodyb = BasicBlock::Create(C_, "loop", body_);
    BasicBlock* exit = BasicBlock::Create(C_, "loop.exit", body_);
    b_.CreateCondBr(b_.CreateICmpSLT(lo, hi), bodyb, exit);
    b_.SetInsertPoint(bodyb);
    llvm::PHINode* iv = b_.CreatePHI(b_.getInt64Ty(), 2, "iv");
    iv->addIncoming(lo, pre);
    fn(iv);
    Value* next = b_.CreateAdd(iv, i64c(1), "iv.next", /*NUW=*/true, /*NSW=*/true);
    iv->addIncoming(next, b_.GetInsertBlock());
    llvm::BranchInst* latch = b_.CreateCondBr(b_.CreateICmpSLT(next, hi), bodyb, exit);
    b_.SetInsertPoint(exit);
    return latch;
  }

  // Adds one loop hint (llvm.loop.*: a name and a boolean) to the loop of `latch`, after
  // the hints it already has.
  void loop_hint(llvm::BranchInst* latch, const char* name, bool value) {
    llvm::Metadata* hint[] = {llvm::MDString::get(C_, name),
                              llvm::ConstantAsMetadata::get(value ? b_.getTrue() : b_.getFalse())};
    std::vector<llvm::Metadata*> ops = {nullptr};
    if (llvm::MDNode* old = latch->getMetadata(llvm::LLVMContext::MD_loop))
      for (unsigned i = 1; i < old->getNumOperands(); ++i) ops.push_back(old->getOperand(i));
    ops.push_back(llvm::MDNode::get(C_, hint));
    llvm::MDNode* md = llvm::MDNode::getDistinct(C_, ops);
    md->replaceOperandWith(0, md);
    latch->setMetadata(llvm::LLVMContext::MD_loop, md);
  }

  // Asks the loop vectorizer to fold the remainder iterations into the vector loop with
  // masked loads and stores instead of emitting a scalar copy of the body after it.
  void fold_tail(llvm::BranchInst* latch) {
    loop_hint(latch, "llvm.loop.vectorize.predicate.enable", true);
  }

  // Asks the loop vectorizer to vectorize a loop its cost model would leave scalar: it
  // then still picks the vector width (4 for 12 iterations: three vector iterations).
  void vectorize(llvm::BranchInst* latch) { loop_hint(latch, "llvm.loop.vectorize.enable", true); }

  // Keeps the loop vectorizer off a loop (its inner loop is the one to vectorize).
  void no_vectorize(llvm::BranchInst* latch) { loop_hint(latch, "llvm.loop.vectorize.enable", false); }

  // Rough size of the vectorized body of `root` in instructions: the polynomial
  // exp/log/tanh/sigmoid and the Philox rounds expand to dozens.
  int64_t body_size(ExprId root) const {
    int64_t size = 0;
    P_.for_each_reachable(root, [&](ExprId, const kir::Expr& e) {
      if (e.op == EOp::Unary) {
        UOp u = static_cast<UOp>(e.sub);
        size += u == UOp::Exp || u == UOp::Log || u == UOp::Sigmoid ? 24 : u == UOp::Tanh ? 40 : 1;
      } else if (e.op == EOp::Rng) {
        size += 120;
      } else if (e.op != EOp::Const && e.op != EOp::LoopIndex) {
        size += 1;
      }
    });
    return size;
  }

  // Nested loops over every reduced axis (outermost first), body() in the innermost.
  void loop_reduced_axes(const kir::LoopKernel& k, const std::vector<int>& axes,
                         const std::function<void()>& body, size_t level = 0) {
    if (level == axes.size()) return body();
    const int d = axes[level];
    loop(i64c(0), i64c(k.dims[d]), [&](Value* iv) {
      ax_[d] = iv;
      loop_reduced_axes(k, axes, body, level + 1);
    });
  }

  Value* ptr_at(int buffer, DType t, Value* off) {
    return b_.CreateInBoundsGEP(memory_type(C_, t), ptrs_.at(buffer), off);
  }
  Value* load(int buffer, DType t, Value* off) {
    Type* mt = memory_type(C_, t);
    Value* v = b_.CreateAlignedLoad(mt, ptr_at(buffer, t, off), llvm::Align(dtype_size(t)));
    if (t == DType::boolean) v = b_.CreateICmpNE(v, b_.getInt8(0));
    return v;
  }
  void store(int buffer, DType t, Value* off, Value* v) {
    if (t == DType::boolean) v = b_.CreateZExt(v, b_.getInt8Ty());
    b_.CreateAlignedStore(v, ptr_at(buffer, t, off), llvm::Align(dtype_size(t)));
  }

  Value* identity(kir::ReduceOp op, DType t) {
    Type* ty = value_type(C_, t);
    if (op == kir::ReduceOp::Max) {
      if (is_float(t)) return llvm::ConstantFP::getInfinity(ty, true);
      if (t == DType::boolean) return b_.getFalse();
      return llvm::ConstantInt::get(ty, t == DType::i32 ? uint64_t(INT32_MIN) : uint64_t(INT64_MIN));
    }
    if (is_float(t)) return llvm::ConstantFP::get(ty, 0.0);
    return llvm::ConstantInt::get(ty, 0);
  }
  Value* combine(kir::ReduceOp op, DType t, Value* acc, Value* v, bool reassoc) {
    if (op == kir::ReduceOp::Max) {
      if (is_float(t)) return b_.CreateIntrinsic(llvm::Intrinsic::maximum, {acc->getType()}, {acc, v});
      if (t == DType::boolean) return b_.CreateOr(acc, v);
      return b_.CreateIntrinsic(llvm::Intrinsic::smax, {acc->getType()}, {acc, v});
    }
    if (is_float(t)) {
      auto* add = llvm::cast<llvm::Instruction>(b_.CreateFAdd(acc, v));
      if (reassoc) {
        llvm::FastMathFlags fm;
        fm.setAllowReassoc();
        add->setFastMathFlags(fm);
      }
      return add;
    }
    if (t == DType::boolean) return b_.CreateOr(acc, v);
    return b_.CreateAdd(acc, v);
  }
  Value* finish(kir::ReduceOp op, DType t, Value* acc, int64_t count) {
    if (op != kir::ReduceOp::Mean) return acc;
    if (is_float(t)) return b_.CreateFDiv(acc, llvm::ConstantFP::get(acc->getType(), double(count)));
    return b_.CreateSDiv(acc, llvm::ConstantInt::get(acc->getType(), uint64_t(std::max<int64_t>(1, count))));
  }

  void render_loop(const kir::LoopKernel& k, Value* begin, Value* end) {
    LoopSchedule s = schedule_loop(k);
    if (vector_axis_ != s.vector_axis) {  // a row kernel's loops differ
      depends_.clear();
      strides_.clear();
    }
    vector_axis_ = s.vector_axis;
    const int n = static_cast<int>(k.dims.size());
    ax_.assign(n, i64c(0));
    const int va = s.vector_axis;
    int64_t count = 1;
    for (int d = 0; d < n; ++d)
      if (k.reduced[d]) count *= k.dims[d];
    const DType t = k.out_dtype;
    auto inner = [&](Value* lo, Value* hi) {
      if (k.reduce == kir::ReduceOp::None) {
        llvm::BranchInst* latch = loop(lo, hi, [&](Value* v) {
          ax_[va] = v;
          memo_.clear();
          Value* val = emit(k.value);
          store(k.out_buffer, t, emit(k.out_offset), val);
        });
        // A long body compiled twice (vector loop + scalar remainder) doubles the
        // instruction selection and register allocation time of the kernel; the masks
        // cost little next to such a body. Short bodies keep the faster plain loop.
        if (body_size(k.value) >= kFoldTailBodySize) fold_tail(latch);
        if (!s.vector_is_parallel && k.dims[va] >= kShortLoopMin && k.dims[va] < kShortLoopMax &&
            loads_across_vector_axis(k.value))
          vectorize(latch);
        return;
      }
      if (s.scalar_accumulator) {
        IRBuilder<> eb(entry_, entry_->begin());
        llvm::AllocaInst* acc = eb.CreateAlloca(value_type(C_, t));
        b_.CreateStore(identity(k.reduce, t), acc);
        loop_reduced_axes(k, s.reduced_axes, [&] {
          memo_.clear();
          Value* v = emit(k.value);
          Value* a = b_.CreateLoad(acc->getAllocatedType(), acc);
          b_.CreateStore(combine(k.reduce, t, a, v, true), acc);
        });
        memo_.clear();
        Value* a = b_.CreateLoad(acc->getAllocatedType(), acc);
        store(k.out_buffer, t, emit(k.out_offset), finish(k.reduce, t, a, count));
        return;
      }
      // Row accumulation: out[row] = identity; for reduced...: out[row] op= value.
      loop(lo, hi, [&](Value* v) {
        ax_[va] = v;
        memo_.clear();
        store(k.out_buffer, t, emit(k.out_offset), identity(k.reduce, t));
      });
      loop_reduced_axes(k, s.reduced_axes, [&] {
        loop(lo, hi, [&](Value* v) {
          ax_[va] = v;
          memo_.clear();
          Value* val = emit(k.value);
          Value* off = emit(k.out_offset);
          Value* old = load(k.out_buffer, t, off);
          store(k.out_buffer, t, off, combine(k.reduce, t, old, val, false));
        });
      });
      if (k.reduce == kir::ReduceOp::Mean) {
        loop(lo, hi, [&](Value* v) {
          ax_[va] = v;
          memo_.clear();
          Value* off = emit(k.out_offset);
          store(k.out_buffer, t, off, finish(k.reduce, t, load(k.out_buffer, t, off), count));
        });
      }
    };
    if (s.vector_is_parallel) {
      inner(begin, end);
      return;
    }
    Value* vhi = i64c(k.dims[va]);
    llvm::BranchInst* outer = loop(begin, end, [&](Value* u) {
      Value* rem = u;
      for (int i = static_cast<int>(s.parallel_axes.size()) - 1; i >= 0; --i) {
        int d = s.parallel_axes[i];
        if (i == 0) {
          ax_[d] = rem;
        } else {
          ax_[d] = b_.CreateURem(rem, i64c(k.dims[d]));
          rem = b_.CreateUDiv(rem, i64c(k.dims[d]));
        }
      }
      inner(i64c(0), vhi);
    });
    // Only the vector axis is for the vectorizer. A kernel called with a constant range
    // (one that runs serially) has a constant trip count here; LLVM then fully unrolls
    // a short vector loop (32 elements) and vectorizes this loop instead, with a gather
    // and a scatter per element (seq2seq's permute + fill: 3.7 -> 16.7 us).
    no_vectorize(outer);
  }

  // Loop kernels over [m, ...] (axis 0 the row, kept), each in order over rows [r0, r1):
  // a loop's parallel range is its kept axes flattened with axis 0 outermost (or axis 0
  // alone, split as the vector axis), so rows [r0, r1) are units [r0, r1) * units / m.
  void render_row_loops(const std::vector<kir::LoopKernel>& loops, int64_t m, Value* r0, Value* r1) {
    for (const kir::LoopKernel& l : loops) {
      const int64_t per_row = schedule_loop(l).units / m;
      render_loop(l, b_.CreateMul(r0, i64c(per_row)), b_.CreateMul(r1, i64c(per_row)));
    }
  }

  // Parallel over columns of the row: each chunk zeroes and accumulates its columns.
  void render_scatter(const kir::ScatterAddKernel& s, Value* begin, Value* end) {
    Type* ity = value_type(C_, s.index_dtype);
    loop(i64c(0), i64c(s.rows), [&](Value* r) {
      loop(begin, end, [&](Value* d) {
        Value* off = b_.CreateAdd(b_.CreateMul(r, i64c(s.row_size)), d);
        store(s.out, s.dtype, off, identity(kir::ReduceOp::Sum, s.dtype));
      });
    });
    loop(i64c(0), i64c(s.count), [&](Value* i) {
      Value* raw = load(s.indices, s.index_dtype, i);
      Value* r = ity->isIntegerTy(64) ? raw : b_.CreateSExt(raw, b_.getInt64Ty());
      r = b_.CreateIntrinsic(llvm::Intrinsic::smax, {b_.getInt64Ty()}, {r, i64c(0)});
      r = b_.CreateIntrinsic(llvm::Intrinsic::smin, {b_.getInt64Ty()},
                             {r, i64c(std::max<int64_t>(0, s.rows - 1))});
      loop(begin, end, [&](Value* d) {
        Value* src = b_.CreateAdd(b_.CreateMul(i, i64c(s.row_size)), d);
        Value* dst = b_.CreateAdd(b_.CreateMul(r, i64c(s.row_size)), d);
        Value* v = load(s.updates, s.dtype, src);
        Value* old = load(s.out, s.dtype, dst);
        store(s.out, s.dtype, dst, combine(kir::ReduceOp::Sum, s.dtype, old, v, false));
      });
    });
  }

  Value* emit(ExprId id) {
    auto it = memo_.find(id);
    if (it != memo_.end()) return it->second;
    Value* v = emit_uncached(id);
    memo_[id] = v;
    return v;
  }

  Value* emit_uncached(ExprId id) {
    const kir::Expr& e = P_[id];
    Type* ty = value_type(C_, e.dtype);
    switch (e.op) {
      case EOp::Const:
        if (is_float(e.dtype)) return llvm::ConstantFP::get(ty, e.f);
        return llvm::ConstantInt::get(ty, static_cast<uint64_t>(e.i), true);
      case EOp::LoopIndex: return ax_[e.i];
      case EOp::Load: return load(e.buffer, e.dtype, emit(e.a));
      case EOp::Unary: return emit_unary(static_cast<UOp>(e.sub), e.dtype, emit(e.a));
      case EOp::Binary: return emit_binary(e, emit(e.a), emit(e.b));
      case EOp::Compare: {
        Value* a = emit(e.a);
        Value* b = emit(e.b);
        bool fl = a->getType()->isFloatingPointTy();
        switch (static_cast<COp>(e.sub)) {
          case COp::Lt: return fl ? b_.CreateFCmpOLT(a, b) : b_.CreateICmpSLT(a, b);
          case COp::Le: return fl ? b_.CreateFCmpOLE(a, b) : b_.CreateICmpSLE(a, b);
          case COp::Gt: return fl ? b_.CreateFCmpOGT(a, b) : b_.CreateICmpSGT(a, b);
          case COp::Ge: return fl ? b_.CreateFCmpOGE(a, b) : b_.CreateICmpSGE(a, b);
          case COp::Eq: return fl ? b_.CreateFCmpOEQ(a, b) : b_.CreateICmpEQ(a, b);
          case COp::Ne: return fl ? b_.CreateFCmpUNE(a, b) : b_.CreateICmpNE(a, b);
        }
        break;
      }
      case EOp::Select:
        if (selects_loads(id)) return load_selected(id);
        return b_.CreateSelect(emit(e.a), emit(e.b), emit(e.c));
      case EOp::Cast: return emit_cast(emit(e.a), P_[e.a].dtype, e.dtype);
      case EOp::Rng: {
        Value* w[4];
        emit_philox(b_, emit(e.a), emit(e.b), e.i, e.i2, w);
        bool f32 = e.dtype == DType::f32;
        Value* v = emit_rng_value(M_, b_, e.sub != 0, f32, w);
        return f32 ? v : emit_cast(v, DType::f64, e.dtype);
      }
    }
    KILN_CHECK(false, "unhandled kernel IR node");
    return nullptr;
  }

  // A select between loads (concat's chain, one load per input) whose conditions do not
  // depend on the vector loop's index becomes a select between addresses and ONE load:
  // the chain then costs no memory traffic, and since concat's inputs share the offset,
  // InstCombine turns it into a select of base pointers that LICM hoists out of the
  // vector loop, leaving a contiguous copy (a 35-way stack of time steps: 35 loads per
  // element before). Conditions that vary along the vector axis keep the value select:
  // two vector loads and a blend beat a gather.
  bool selects_loads(ExprId id) {
    if (vector_axis_ < 0) return false;
    const kir::Expr& e = P_[id];
    if (e.op == EOp::Load) return true;
    if (e.op != EOp::Select || depends_on_vector_axis(e.a)) return false;
    const kir::Expr& a = P_[e.b];
    const kir::Expr& b = P_[e.c];
    return a.dtype == e.dtype && b.dtype == e.dtype && selects_loads(e.b) && selects_loads(e.c);
  }
  Value* address_of(ExprId id) {
    const kir::Expr& e = P_[id];
    if (e.op == EOp::Load) return ptr_at(e.buffer, e.dtype, emit(e.a));
    return b_.CreateSelect(emit(e.a), address_of(e.b), address_of(e.c));
  }
  Value* load_selected(ExprId id) {
    const DType t = P_[id].dtype;
    Value* v = b_.CreateAlignedLoad(memory_type(C_, t), address_of(id), llvm::Align(dtype_size(t)));
    return t == DType::boolean ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
  }
  // How an i64 index expression moves per step of the vector axis: 0 (invariant), the
  // stride of an affine expression, or kNotAffine (a clamp, a division...).
  static constexpr int64_t kNotAffine = INT64_MIN;
  int64_t stride_along_vector_axis(ExprId id) {
    const kir::Expr& e = P_[id];
    if (!depends_on_vector_axis(id)) return 0;
    // Memoized with depends_ (index DAGs share subexpressions).
    if (auto it = strides_.find(id); it != strides_.end()) return it->second;
    return strides_[id] = stride_uncached(e);
  }
  int64_t stride_uncached(const kir::Expr& e) {
    if (e.op == EOp::LoopIndex) return 1;
    if (e.op != EOp::Binary) return kNotAffine;
    const BOp op = static_cast<BOp>(e.sub);
    const int64_t a = stride_along_vector_axis(e.a), b = stride_along_vector_axis(e.b);
    if (a == kNotAffine || b == kNotAffine) return kNotAffine;
    int64_t r = kNotAffine;
    bool overflow = false;  // strides that do not fit count as not affine
    if (op == BOp::Add) overflow = __builtin_add_overflow(a, b, &r);
    else if (op == BOp::Sub) overflow = __builtin_sub_overflow(a, b, &r);
    else if (op == BOp::Mul && b == 0 && P_.is_const(e.b))
      overflow = __builtin_mul_overflow(a, P_.const_int(e.b), &r);
    else if (op == BOp::Mul && a == 0 && P_.is_const(e.a))
      overflow = __builtin_mul_overflow(b, P_.const_int(e.a), &r);
    return overflow ? kNotAffine : r;
  }
  // Whether some load of `root` moves along the vector axis other than by one element.
  bool loads_across_vector_axis(ExprId root) {
    bool found = false;
    P_.for_each_reachable(root, [&](ExprId, const kir::Expr& e) {
      if (e.op != EOp::Load || found) return;
      const int64_t stride = stride_along_vector_axis(e.a);
      found = stride != 0 && stride != 1;
    });
    return found;
  }

  bool depends_on_vector_axis(ExprId id) {
    auto it = depends_.find(id);
    if (it != depends_.end()) return it->second;
    bool d = false;
    P_.for_each_reachable(id, [&](ExprId, const kir::Expr& x) {
      d |= x.op == EOp::LoopIndex && x.i == vector_axis_;
    });
    depends_[id] = d;
    return d;
  }

  Value* emit_unary(UOp op, DType t, Value* a) {
    Type* ty = a->getType();
    bool fl = is_float(t);
    switch (op) {
      case UOp::Neg: return fl ? b_.CreateFNeg(a) : b_.CreateNeg(a);
      case UOp::Abs:
        if (fl) return b_.CreateIntrinsic(llvm::Intrinsic::fabs, {ty}, {a});
        return b_.CreateIntrinsic(llvm::Intrinsic::abs, {ty}, {a, b_.getFalse()});
      case UOp::Exp: return b_.CreateCall(math_function(M_, MathFn::Exp, ty), {a});
      case UOp::Log: return b_.CreateCall(math_function(M_, MathFn::Log, ty), {a});
      case UOp::Tanh: return b_.CreateCall(math_function(M_, MathFn::Tanh, ty), {a});
      case UOp::Sigmoid: return b_.CreateCall(math_function(M_, MathFn::Sigmoid, ty), {a});
      case UOp::Sqrt: return b_.CreateIntrinsic(llvm::Intrinsic::sqrt, {ty}, {a});
      case UOp::Relu:
        // x > 0 ? x : 0 (NaN -> 0, as the reference)
        if (fl) return b_.CreateSelect(b_.CreateFCmpOGT(a, llvm::ConstantFP::get(ty, 0.0)), a,
                                       llvm::ConstantFP::get(ty, 0.0));
        return b_.CreateIntrinsic(llvm::Intrinsic::smax, {ty}, {a, llvm::ConstantInt::get(ty, 0)});
      case UOp::Not: return b_.CreateNot(a);
    }
    return nullptr;
  }

  Value* emit_binary(const kir::Expr& e, Value* a, Value* b) {
    BOp op = static_cast<BOp>(e.sub);
    bool fl = is_float(e.dtype);
    Type* ty = a->getType();
    bool nonneg = e.dtype == DType::i64 && P_[e.a].lo >= 0 && P_[e.b].lo > 0 &&
                  P_[e.a].lo != INT64_MIN;
    switch (op) {
      case BOp::Add: return fl ? b_.CreateFAdd(a, b) : b_.CreateAdd(a, b);
      case BOp::Sub: return fl ? b_.CreateFSub(a, b) : b_.CreateSub(a, b);
      case BOp::Mul: return fl ? b_.CreateFMul(a, b) : b_.CreateMul(a, b);
      case BOp::Div: {
        if (fl) return b_.CreateFDiv(a, b);
        if (nonneg) return b_.CreateUDiv(a, b);
        // a / -1 is -a, wrapping for INT_MIN (where sdiv would trap).
        Value* minus_one = b_.CreateICmpEQ(b, llvm::ConstantInt::get(ty, -1, true));
        return b_.CreateSelect(minus_one, b_.CreateNeg(a), b_.CreateSDiv(a, trap_free_divisor(b)));
      }
      case BOp::Mod: {
        if (nonneg) return b_.CreateURem(a, b);
        return b_.CreateSRem(a, trap_free_divisor(b));  // a % +-1 is 0 either way
      }
      case BOp::Pow:
        KILN_CHECK(fl, "pow on integers");
        return b_.CreateIntrinsic(llvm::Intrinsic::pow, {ty}, {a, b});
      case BOp::Max:
        if (fl) return b_.CreateIntrinsic(llvm::Intrinsic::maximum, {ty}, {a, b});
        if (e.dtype == DType::boolean) return b_.CreateOr(a, b);
        return b_.CreateIntrinsic(llvm::Intrinsic::smax, {ty}, {a, b});
      case BOp::Min:
        if (fl) return b_.CreateIntrinsic(llvm::Intrinsic::minimum, {ty}, {a, b});
        if (e.dtype == DType::boolean) return b_.CreateAnd(a, b);
        return b_.CreateIntrinsic(llvm::Intrinsic::smin, {ty}, {a, b});
      case BOp::And: return b_.CreateAnd(a, b);
      case BOp::Or: return b_.CreateOr(a, b);
    }
    return nullptr;
  }

  // b with 0 and -1 replaced by 1, so sdiv/srem never trap (x86 idiv faults on a zero
  // divisor and on INT_MIN / -1). x / 0 is an error in the reference; callers fix up -1.
  Value* trap_free_divisor(Value* b) {
    Type* ty = b->getType();
    Value* zero = b_.CreateICmpEQ(b, llvm::ConstantInt::get(ty, 0));
    Value* minus_one = b_.CreateICmpEQ(b, llvm::ConstantInt::get(ty, -1, true));
    return b_.CreateSelect(b_.CreateOr(zero, minus_one), llvm::ConstantInt::get(ty, 1), b);
  }

  // Cast semantics of the reference: float->int truncates toward zero and saturates
  // (NaN -> 0), x->bool is x != 0, bool->x is 0/1.
  Value* emit_cast(Value* v, DType from, DType to) {
    if (from == to) return v;
    Type* ty = value_type(C_, to);
    if (to == DType::boolean) {
      if (is_float(from)) return b_.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0));
      return b_.CreateICmpNE(v, llvm::ConstantInt::get(v->getType(), 0));
    }
    if (from == DType::boolean) return is_float(to) ? b_.CreateUIToFP(v, ty) : b_.CreateZExt(v, ty);
    if (is_float(from) && is_float(to)) return b_.CreateFPCast(v, ty);
    if (is_float(to)) return b_.CreateSIToFP(v, ty);
    if (is_float(from)) return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {ty, v->getType()}, {v});
    return b_.CreateSExtOrTrunc(v, ty);
  }

  llvm::Module& M_;
  llvm::LLVMContext& C_;
  const kir::KernelProgram& prog_;
  const kir::ExprPool& P_;
  const kir::Kernel& k_;
  IRBuilder<> b_;
  Function* body_ = nullptr;
  BasicBlock* entry_ = nullptr;
  std::vector<int> buffer_ids_;
  std::map<int, Value*> ptrs_;
  std::vector<Value*> ax_;
  std::unordered_map<ExprId, Value*> memo_;
  int vector_axis_ = -1;  // LoopIndex of the vectorized loop (-1: no select peephole)
  std::unordered_map<ExprId, bool> depends_;
  std::unordered_map<ExprId, int64_t> strides_;  // stride_along_vector_axis
};

// A constant parameter block: `ints` as i64 fields, then alpha as a double.
llvm::GlobalVariable* constant_params(llvm::Module& m, const std::vector<int64_t>& ints,
                                      double alpha, const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  Type* i64 = Type::getInt64Ty(ctx);
  std::vector<Type*> ftys(ints.size(), i64);
  ftys.push_back(Type::getDoubleTy(ctx));
  std::vector<llvm::Constant*> fields;
  for (int64_t v : ints) fields.push_back(llvm::ConstantInt::get(i64, static_cast<uint64_t>(v)));
  fields.push_back(llvm::ConstantFP::get(Type::getDoubleTy(ctx), alpha));
  auto* sty = llvm::StructType::get(ctx, ftys);
  auto* gv = new llvm::GlobalVariable(m, sty, true, llvm::GlobalValue::PrivateLinkage,
                                      llvm::ConstantStruct::get(sty, fields), name);
  gv->setAlignment(llvm::Align(8));
  return gv;
}

// GemmParams or ConvParams (runtime/abi.h) of a contraction kernel.
llvm::GlobalVariable* contraction_params(llvm::Module& m, const kir::ContractionKernel& c,
                                         const std::string& name) {
  if (c.op == kir::ContractionOp::Matmul) {
    static_assert(offsetof(GemmParams, alpha) == 14 * sizeof(int64_t) &&
                      sizeof(GemmParams) == 15 * sizeof(int64_t),
                  "GemmParams layout changed: update the renderer");
    int64_t lda = c.trans_a ? c.m : c.k, ldb = c.trans_b ? c.k : c.n;
    int64_t packed = c.packed_b < 0 ? kUnpackedB : c.pack_b ? kPackB : kPackedB;
    return constant_params(m, {c.batch, c.m, c.n, c.k, lda, ldb, c.n, c.m * c.k, c.k * c.n,
                               c.m * c.n, c.trans_a, c.trans_b, c.accumulate, packed},
                           c.alpha, name);
  }
  static_assert(offsetof(ConvParams, alpha) == 18 * sizeof(int64_t) &&
                    sizeof(ConvParams) == 19 * sizeof(int64_t),
                "ConvParams layout changed: update the renderer");
  const kir::ConvGeometry& g = c.conv;
  int64_t kind = c.op == kir::ContractionOp::Conv2d             ? kConvForward
                 : c.op == kir::ContractionOp::Conv2dInputGrad  ? kConvInputGrad
                 : c.op == kir::ContractionOp::Conv2dWeightGrad ? kConvWeightGrad
                                                                : kMaxPoolGrad;
  return constant_params(m, {kind, g.n, g.c, g.h, g.w, g.f, g.kh, g.kw, g.oh, g.ow, g.stride_h,
                             g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups,
                             c.accumulate},
                         c.alpha, name);
}

}  // namespace

std::unique_ptr<llvm::Module> render(const kir::KernelProgram& prog, llvm::LLVMContext& ctx,
                                     const RenderOptions& opts) {
  auto m = std::make_unique<llvm::Module>("kiln", ctx);
  IRBuilder<> b(ctx);
  Type* ptr = llvm::PointerType::get(ctx, 0);
  Type* i64 = b.getInt64Ty();
  auto* pfor_ty = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64}, false);
  llvm::FunctionCallee pfor = m->getOrInsertFunction(abi::kParallelFor, pfor_ty);
  // (params, a, b, c, alpha_scale, packed B, epilogue, row epilogue, buffers)
  auto* gemm_ty = llvm::FunctionType::get(b.getVoidTy(),
                                          {ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr}, false);
  auto* conv_ty =  // (params, a, b, c, alpha_scale, epilogue, prologue, buffers)
      llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr}, false);

  auto* entry_ty = llvm::FunctionType::get(b.getVoidTy(), {ptr}, false);
  Function* entry = Function::Create(entry_ty, Function::ExternalLinkage, opts.entry_symbol, *m);
  entry->addFnAttr(llvm::Attribute::NoUnwind);
  std::vector<std::function<void(IRBuilder<>&, Value*)>> calls;
  for (size_t i = 0; i < prog.kernels.size(); ++i) {
    const kir::Kernel& k = prog.kernels[i];
    std::string name = "k" + std::to_string(i);
    if (const kir::ContractionKernel* c = k.contraction()) {
      llvm::GlobalVariable* params = contraction_params(*m, *c, name + ".params");
      Value* epilogue = llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
      if (c->epilogue >= 0) epilogue = KernelRenderer(*m, prog, k).render_epilogue(name + ".epi");
      Value* prologue = llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
      if (c->prologue >= 0) prologue = KernelRenderer(*m, prog, k).render_prologue(name + ".pro");
      Value* rows = llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
      if (!c->row_loops.empty()) rows = KernelRenderer(*m, prog, k).render_rows(name + ".rows");
      bool f32 = c->dtype == DType::f32;
      bool matmul = c->op == kir::ContractionOp::Matmul;
      const bool pool = c->op == kir::ContractionOp::MaxPool2dGrad;  // same signature as conv
      const char* symbol = matmul ? (f32 ? abi::kGemmF32 : abi::kGemmF64)
                           : pool ? (f32 ? abi::kMaxPoolGradF32 : abi::kMaxPoolGradF64)
                                  : (f32 ? abi::kConv2dF32 : abi::kConv2dF64);
      llvm::FunctionCallee fn = m->getOrInsertFunction(symbol, matmul ? gemm_ty : conv_ty);
      calls.push_back([=, &ctx](IRBuilder<>& eb, Value* bufs) {
        auto bp = [&](int id) -> Value* {
          if (id < 0) return llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
          return eb.CreateLoad(ptr, eb.CreateConstInBoundsGEP1_64(ptr, bufs, uint64_t(id)));
        };
        if (matmul)
          eb.CreateCall(fn, {params, bp(c->a), bp(c->b), bp(c->out), bp(c->alpha_scale),
                             bp(c->packed_b), epilogue, rows, bufs});
        else
          eb.CreateCall(fn, {params, bp(c->a), bp(c->b), bp(c->out), bp(c->alpha_scale), epilogue,
                             prologue, bufs});
      });
      continue;
    }
    KernelRenderer kr(*m, prog, k);
    Function* f = kr.render(name);
    int64_t units, work = k.work();
    if (const kir::ScatterAddKernel* sc = k.scatter()) {
      units = std::max<int64_t>(1, sc->row_size);
    } else if (const kir::RowKernel* r = k.row_kernel()) {
      units = r->rows;
    } else {
      units = schedule_loop(*k.loop()).units;
    }
    calls.push_back([=](IRBuilder<>& eb, Value* bufs) {
      if (units <= 0) return;
      int64_t per_unit = std::max<int64_t>(1, work / std::max<int64_t>(1, units));
      if (work < opts.parallel_threshold || units == 1) {
        eb.CreateCall(f, {bufs, eb.getInt64(0), eb.getInt64(uint64_t(units))});
      } else {
        int64_t grain = std::max<int64_t>(1, (opts.parallel_threshold / 4) / per_unit);
        eb.CreateCall(pfor, {f, bufs, eb.getInt64(uint64_t(units)), eb.getInt64(uint64_t(grain))});
      }
    });
  }
  IRBuilder<> eb(BasicBlock::Create(ctx, "entry", entry));
  llvm::FunctionCallee tick;
  if (opts.profile) {
    tick = m->getOrInsertFunction(abi::kProfileTick,
                                  llvm::FunctionType::get(b.getVoidTy(), {i64}, false));
    eb.CreateCall(tick, {eb.getInt64(~0ull)});
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    calls[i](eb, entry->getArg(0));
    if (opts.profile) eb.CreateCall(tick, {eb.getInt64(i)});
  }
  eb.CreateRetVoid();
  return m;
}

}  // namespace kiln::llvmgen
