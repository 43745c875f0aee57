// exp, log, tanh and sigmoid as LLVM IR: the operation sequence of
// runtime/math_f32.cpp (the interpreter's), op for op and without fast-math
// flags, so the JIT's results equal the interpreter's bit for bit; straight-line
// code (selects, no calls), so the loop vectorizer widens it. x may be a float
// or a vector of floats.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "ir/ops.h"

namespace kiln::codegen {

llvm::Value* emit_exp_f32(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* emit_log_f32(llvm::IRBuilder<>& b, llvm::Value* x);  // NaN below 0, -inf at 0
llvm::Value* emit_tanh_f32(llvm::IRBuilder<>& b, llvm::Value* x);
llvm::Value* emit_sigmoid_f32(llvm::IRBuilder<>& b, llvm::Value* x);  // 1 / (1 + e^-x)

// Whether an element of `op` is one of the sequences above (a long chain of
// dependent operations, tens of them), not a single instruction or few.
bool is_exp_log_sequence(ir::OpKind op);

}  // namespace kiln::codegen
