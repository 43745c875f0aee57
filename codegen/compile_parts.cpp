// A lowered module to object code on several threads (compile_parts.h).
//
// The functions are split into parts of about equal size, each function
// with the functions it calls and may inline, so that optimize_module's
// inliner sees in each part everything it would inline in the whole module;
// only calls of fusion kernels (noinline) and the thread pool's calls of
// outlined loop bodies cross parts. Each part but the first is cloned into a
// module of its own and moved to a fresh LLVMContext through bitcode (one
// context is used by one thread at a time); every part then runs the whole
// pipeline and machine code generation on a thread of its own with a
// TargetMachine of its own, as LLVM's LTO backend splits its code generation
// (splitCodeGen). Constant globals are copied into each part. The split is a
// function of the module only, so the objects are too.
#include "codegen/compile_parts.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/IR/Instructions.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "codegen/emit.h"
#include "ir/error.h"

namespace kiln::codegen {
namespace {

// Disjoint sets over function indices.
struct UnionFind {
  std::vector<size_t> up;
  explicit UnionFind(size_t n) : up(n) { std::iota(up.begin(), up.end(), size_t{0}); }
  size_t find(size_t i) {
    while (up[i] != i) i = up[i] = up[up[i]];
    return i;
  }
  void join(size_t a, size_t b) { up[find(a)] = find(b); }
};

// The part of each defined function of `m` (by position among the defined
// functions), out of `parts`. A function and the functions it calls and may
// inline form one group (so every inlining happens within a part); the
// fusion kernels (noinline) and the functions whose address is passed to the
// thread pool are called across parts. Groups, largest first (in
// instructions), go to the part with the fewest instructions so far.
std::vector<int> split_functions(llvm::Module& m, int parts) {
  std::vector<llvm::Function*> fns;
  std::unordered_map<const llvm::Function*, size_t> index;
  for (llvm::Function& f : m)
    if (!f.isDeclaration()) {
      index[&f] = fns.size();
      fns.push_back(&f);
    }
  UnionFind groups(fns.size());
  std::vector<size_t> size(fns.size(), 0);
  for (size_t i = 0; i < fns.size(); ++i)
    for (const llvm::BasicBlock& bb : *fns[i])
      for (const llvm::Instruction& inst : bb) {
        ++size[i];
        auto* call = llvm::dyn_cast<llvm::CallBase>(&inst);
        auto* f = call ? llvm::dyn_cast<llvm::Function>(call->getCalledOperand()) : nullptr;
        if (f && index.count(f) && !f->hasFnAttribute(llvm::Attribute::NoInline)) groups.join(i, index.at(f));
      }
  std::vector<size_t> group_size(fns.size(), 0);
  for (size_t i = 0; i < fns.size(); ++i) group_size[groups.find(i)] += size[i];
  std::vector<size_t> roots;
  for (size_t i = 0; i < fns.size(); ++i)
    if (groups.find(i) == i) roots.push_back(i);
  std::stable_sort(roots.begin(), roots.end(), [&](size_t a, size_t b) { return group_size[a] > group_size[b]; });
  std::vector<size_t> load(static_cast<size_t>(parts), 0);
  std::vector<int> part_of_root(fns.size(), 0);
  for (size_t r : roots) {
    auto least = std::min_element(load.begin(), load.end());
    part_of_root[r] = static_cast<int>(least - load.begin());
    *least += group_size[r];
  }
  std::vector<int> part(fns.size());
  for (size_t i = 0; i < fns.size(); ++i) part[i] = part_of_root[groups.find(i)];
  return part;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One part's module optimized (optimize_module) and compiled to an object;
// adds the seconds each took to `times`.
std::unique_ptr<llvm::MemoryBuffer> compile_part(llvm::Module& m, llvm::TargetMachine& tm, PartTimes& times) {
  auto t0 = std::chrono::steady_clock::now();
  optimize_module(m, &tm);
  times.optimize_seconds += seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  llvm::orc::SimpleCompiler compile(tm);
  auto obj = compile(m);
  if (!obj) throw Error("jit: code generation: " + llvm::toString(obj.takeError()));
  times.codegen_seconds += seconds_since(t0);
  return std::move(*obj);
}

}  // namespace

std::vector<std::unique_ptr<llvm::MemoryBuffer>> compile_parts(llvm::Module& m,
                                                               const std::vector<llvm::TargetMachine*>& tms,
                                                               PartTimes& times) {
  size_t instructions = 0;
  for (const llvm::Function& f : m) instructions += f.getInstructionCount();
  // Constants (a conv's geometry) are copied into every part; a module with
  // mutable globals would need them shared, so it stays whole.
  bool only_constants = true;
  for (const llvm::GlobalVariable& gv : m.globals()) only_constants = only_constants && gv.isConstant();
  const int parts = instructions < kMinSplitInstructions || !only_constants ? 1 : static_cast<int>(tms.size());
  if (parts == 1) {
    std::vector<std::unique_ptr<llvm::MemoryBuffer>> out;
    out.push_back(compile_part(m, *tms[0], times));
    return out;
  }
  std::vector<int> part = split_functions(m, parts);
  std::unordered_map<const llvm::GlobalValue*, int> part_of;
  {
    size_t i = 0;
    for (llvm::Function& f : m)
      if (!f.isDeclaration()) part_of[&f] = part[i++];
  }
  // A function another part calls becomes an external, hidden symbol (one
  // program's objects are linked in a JITDylib of their own: jit.cpp).
  for (llvm::Function& f : m) {
    if (f.isDeclaration() || !f.hasLocalLinkage()) continue;
    for (const llvm::User* u : f.users())
      if (auto* inst = llvm::dyn_cast<llvm::Instruction>(u); !inst || part_of.at(inst->getFunction()) != part_of.at(&f)) {
        f.setLinkage(llvm::GlobalValue::ExternalLinkage);
        f.setVisibility(llvm::GlobalValue::HiddenVisibility);
        break;
      }
  }
  // Parts 1.. go through bitcode to threads of their own; part 0 stays in `m` on this one.
  std::vector<llvm::SmallString<0>> bitcode(static_cast<size_t>(parts));
  for (int p = 1; p < parts; ++p) {
    llvm::ValueToValueMapTy vmap;
    std::unique_ptr<llvm::Module> mp =
        llvm::CloneModule(m, vmap, [&](const llvm::GlobalValue* gv) {
          auto it = part_of.find(gv);  // functions defined in m; constants are not in it
          return it == part_of.end() || it->second == p;
        });
    llvm::raw_svector_ostream os(bitcode[static_cast<size_t>(p)]);
    llvm::WriteBitcodeToFile(*mp, os);
  }
  for (llvm::Function& f : m)
    if (!f.isDeclaration() && part_of.at(&f) != 0) f.deleteBody();
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> out(static_cast<size_t>(parts));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(parts));
  std::vector<PartTimes> part_times(static_cast<size_t>(parts));
  std::vector<std::thread> threads;
  for (int p = 1; p < parts; ++p)
    threads.emplace_back([&, p] {
      try {
        llvm::LLVMContext ctx;
        const llvm::SmallString<0>& bc = bitcode[static_cast<size_t>(p)];
        auto mp = llvm::parseBitcodeFile(llvm::MemoryBufferRef(llvm::StringRef(bc.data(), bc.size()), "part"), ctx);
        if (!mp) throw Error("jit: reading a module part back: " + llvm::toString(mp.takeError()));
        out[static_cast<size_t>(p)] = compile_part(**mp, *tms[static_cast<size_t>(p)], part_times[static_cast<size_t>(p)]);
      } catch (...) {
        errors[static_cast<size_t>(p)] = std::current_exception();
      }
    });
  try {
    out[0] = compile_part(m, *tms[0], part_times[0]);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  for (const PartTimes& t : part_times) {
    times.optimize_seconds += t.optimize_seconds;
    times.codegen_seconds += t.codegen_seconds;
  }
  return out;
}

}  // namespace kiln::codegen
