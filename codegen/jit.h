// The LLVM JIT: compiles an ir::Graph into one native function and runs it.
//
// This header is the whole interface; LLVM stays inside codegen's .cpp files.
//
//   codegen::Jit jit;                              // owns an ORC LLJIT (no global state)
//   auto prog = jit.compile(graph);                // lower, optimize (kPipeline, host CPU), link
//   std::vector<Tensor> out = prog->run(args);     // binds N like runtime::interpret
//
// The native entry takes the argument and result buffers, the batch size N
// and a scratch arena, so a new batch size never recompiles. Compiled code is
// cached in memory by a hash of the printed graph (one compilation per graph
// and Jit) and on disk as object files ($KILN_CACHE_DIR, default
// $XDG_CACHE_HOME/kiln or ~/.cache/kiln) so a second process compiles nothing.
//
// Results match the interpreter bit for bit today: elementwise ops use the
// same single roundings (exp/log/tanh/sigmoid/pow call the same C library
// functions in double), sums accumulate in double in the same order, and
// matmul/conv call the same compiled GEMM (runtime/gemm.h) with the same
// chunking. A faster GEMM will relax contractions to the models' 1e-5
// relative tolerance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen/plan.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace kiln::codegen {

struct JitOptions {
  // Object cache folder; "" = $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln.
  std::string cache_dir;
  bool disk_cache = true;  // $KILN_JIT_DISK_CACHE=0 also turns it off
};

struct JitStats {
  int64_t compilations = 0;   // graphs lowered and compiled by LLVM
  int64_t memory_hits = 0;    // compile() answered from the in-memory cache
  int64_t disk_hits = 0;      // objects loaded from the disk cache
  int64_t disk_rejected = 0;  // cache files found corrupt or foreign (then recompiled)
  // Fusion regions of the compiled graphs: emitted as one loop nest each, or
  // as a call of the region's body (a region with no nest, e.g. a contraction;
  // `!kiln.unfused` in the LLVM IR says which and why).
  int64_t fused_regions = 0;
  int64_t unfused_regions = 0;
  int64_t two_pass_regions = 0;  // of the fused: packed loop regions run in two passes (emit_fusion.cpp)
  // Where compile time went (seconds, summed over compilations): building the
  // LLVM module, the LLVM IR optimization pipeline, and machine code
  // generation and linking. A module compiled in parts on two threads
  // (compile_parts.h) adds both parts' times, more than the time it took.
  double lower_seconds = 0, optimize_seconds = 0, codegen_seconds = 0;
};

struct Kernel;  // compiled code + buffer plan, shared by programs of one graph
class JitState;

class CompiledProgram {
 public:
  ~CompiledProgram();
  // Runs the program on one tensor per parameter; N is bound from the
  // arguments exactly like runtime::interpret (errors throw kiln::Error).
  std::vector<Tensor> run(const std::vector<Tensor>& args);
  // The same, writing into `results`: a tensor that already has its result's
  // dtype and shape at the bound N is written in place, any other is replaced
  // by a new one. Repeated calls at one batch size allocate nothing (the
  // scratch arena and the pointer arrays are kept between calls). A result
  // sharing memory with an argument throws kiln::Error, except a result that
  // updates a parameter in place (updates()) given that argument's own
  // buffer: the step then overwrites it (a trainer's weights; the argument
  // is read before it is written, and nothing is written before every
  // check has passed). Given another buffer, the parameter is copied into it
  // first and the argument stays as it was.
  void run_into(const std::vector<Tensor>& args, std::vector<Tensor>& results);
  // The (parameter, result) pairs the program may compute in place
  // (codegen/plan.h, GraphPlan::updates): a train step's weights and
  // optimizer slots whose update reads them last, elementwise.
  const std::vector<ParamUpdate>& updates() const;
  const ir::Graph& graph() const { return *graph_; }
  // The optimized LLVM IR of the program's module, and the host assembly.
  std::string llvm_ir() const;
  std::string asm_text() const;
  // Hex hash of the printed graph (the cache key).
  const std::string& hash() const;
  // Bytes of scratch the program needs for batch size n.
  int64_t arena_bytes(int64_t n) const;

 private:
  friend class Jit;
  CompiledProgram(std::shared_ptr<JitState> jit, std::shared_ptr<Kernel> k, std::unique_ptr<ir::Graph> g);
  std::shared_ptr<JitState> jit_;
  std::shared_ptr<Kernel> kernel_;
  std::unique_ptr<ir::Graph> graph_;
  struct Arena;
  std::unique_ptr<Arena> arena_;
};

// Scratch bytes the JIT allocates for g at batch size n (codegen/plan.h: the
// values' buffers plus each kernel's scratch), without compiling: what
// CompiledProgram::arena_bytes(n) will say.
int64_t planned_arena_bytes(const ir::Graph& g, int64_t n);

class Jit {
 public:
  explicit Jit(JitOptions opts = {});
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // Compiles `g` (or reuses the code of an identical graph). The program keeps
  // its own copy of the graph and keeps the JIT's code alive.
  std::unique_ptr<CompiledProgram> compile(const ir::Graph& g);
  JitStats stats() const;
  // The host CPU LLVM targets (e.g. "znver4").
  std::string cpu_name() const;

 private:
  std::shared_ptr<JitState> state_;
};

}  // namespace kiln::codegen
