// A lowered module to object code on several threads at once: its functions
// split into parts that run LLVM's optimization pipeline and machine code
// generation concurrently (compile_parts.cpp says how the split is made).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>
#include <vector>

namespace kiln::codegen {

// Below this many instructions (as lowered) a module is compiled in one
// part: a thread and the bitcode round trip would cost more than they save.
constexpr size_t kMinSplitInstructions = 2000;

// Seconds spent in LLVM's optimization pipeline and in machine code
// generation, summed over the parts (which run at the same time).
struct PartTimes {
  double optimize_seconds = 0, codegen_seconds = 0;
};

// One object per part, in part order: `m` split into tms.size() parts (one TargetMachine per part, each used by one
// thread), or one part when the module is small, each optimized as
// optimize_module does and compiled for the host. The same module always gives
// the same parts and objects. `m` is consumed (part 0 is compiled in place).
// Adds the time taken to `times`.
std::vector<std::unique_ptr<llvm::MemoryBuffer>> compile_parts(llvm::Module& m,
                                                               const std::vector<llvm::TargetMachine*>& tms,
                                                               PartTimes& times);

}  // namespace kiln::codegen
