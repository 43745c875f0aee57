// The JIT driver: ORC LLJIT, the optimization pipeline for the host CPU, the in-memory
// and on-disk caches, and CompiledProgram::run.
//
// Compile path: print the graph -> hash -> in-memory hit? -> disk hit (load
// the objects) -> else lower (emit_graph.cpp), optimize with the host
// TargetMachine in the PassBuilder (without it nothing vectorizes) and compile
// to objects, in parts on two threads (compile_parts.h), link them with LLJIT
// in a JITDylib of the program's own and store them on disk.
#include "codegen/jit.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/JITEventListener.h>
#include <llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/PassTimingInfo.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Passes/StandardInstrumentations.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/TargetParser/Host.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "codegen/compile_parts.h"
#include "codegen/emit.h"
#include "codegen/object_cache.h"
#include "codegen/rt_kernels.h"
#include "ir/printer.h"
#include "runtime/gemm.h"
#include "runtime/interpreter.h"

namespace kiln::codegen {

namespace {

// Bump when generated code changes meaning: it is part of every cache key.
// 2: exp/tanh/sigmoid inline (emit_math.cpp); 3: fused regions; 4: contraction epilogues (runtime calls take
// bias, mask, relu); 5: parallel max pooling, filter gradient without patch scratch; 6: sigmoid and tanh
// epilogues; 7: conv2d without patch scratch; 8: filter gradient without patch scratch; 9: small matmuls inline
// (emit_small_matmul.cpp); 10: with their epilogue; 11: their k and row loops stay loops; 12: column
// reductions split over threads; 13: the epilogue rule of ir/epilogue.h (a mask whose compare something else
// reads is no epilogue); 14: kPipeline instead of O3; 15: no loop strength reduction; 16: max_pool2d_grad
// overwrites its input when it reads it last (GraphPlan::overwrites); 17: its channel loop vectorizes again;
// 18: scans whose rows are independent run ranges of rows over the threads (scan_rows.h), a fixed body pool per row;
// 19: a conv2d's epilogue may end with the max_pool2d of its result (kiln_rt_conv2d_max_pool);
// 20: a pool gradient and the filter gradient reading it run chunk by chunk of images (GraphPlan::chunked);
// 21: so do a conv and the max_pool2d of its result; 26 (22-25 taken by work in progress elsewhere): a short
// contiguous row of a strided copy (slice, concat, pad, ...) is one vector load and store;
// 27: the batch pool aligns each buffer to its size (plan.cpp batch_align);
// 28: parameters updated in place (GraphPlan::updates: the entry's contract, a result starts as its parameter);
// 29: bias gradients sum in registers; inline matmuls of a static m in equal blocks;
// 30: an inline matmul's last columns are one masked piece (10 = a masked 16, not 8 + 2);
// 31: scans split their rows from 1/8 of the step buffers' size;
// 32: a chunked pool gradient writes its chunks into the first images of the input it overwrites;
// 33: log is a fixed float sequence (emit_log_f32), no libm call;
// 34: exp and tanh use fused multiply-adds, tanh|x| = m / (m + 2) from exp's reduction;
// 35: bias-gradient sums in registers up to 64 columns;
// 36: a scan carry the body also returns per step lives in that output;
// 37: sigmoid scales e^-x by one power of two;
// 38: max_pool2d_winners (alone or ending a conv's epilogue, kiln_rt_conv2d_max_pool's winners) and max_pool2d_scatter
// 39: max_pool2d_scatter's own chunk buffer: about 512 KB, at least one image;
// 40: a program is compiled in parts on two threads, its cache file holds one object per part (compile_parts.h);
// 41: scans whose rows are independent split blocks of 64 rows (emit_scan), so batch 32 runs on one thread;
// 42: a scan carry its body updates in place (plan_scan_body) lives in the scan's result alone, no ping-pong pair;
// 43: concats of conv + pool results in place, slices read in place (GraphPlan::views); conv + pool's pool[8];
// 44: a matmul sums k in blocks of KILN_GEMM_K_BLOCK (runtime/gemm.h); inline small matmuls run several blocks at once
// 45: loop regions over [N, w] pack views of narrow rows (emit_fusion.cpp), other narrow slices stay copies;
//     a scan that returns only its carries splits blocks of 16 rows
// 46: a concat of loop regions' results computed in place, also as a result (an LSTM backward step's dz)
// 47: each arena pool keeps the smaller of first fit and largest-first placement (plan.cpp Pools, ir/pack.h)
// 48: a row-split scan's work per block weighs the bytes a row touches per step (scan_split)
// 49: a large transpose copies ranges of its outer result dim on the threads (emit_transpose)
// 50: a large loop region of the entry graph runs ranges of its rows on the threads (emit_loop)
// 51: every large layout copy of the entry graph (slice, concat, broadcast, pad, transpose) splits its outer dim
// 52: a sum or mean of an f32 constant fill is value x count (emit_constant_sum)
// 53: a reduce_sum over the rows of a weight-gradient matmul's b runs in its kernel (GraphPlan::row_sums)
// 54: 53 reverted: each again a kernel of its own
// 55: without AVX-512, short loops vectorize with a scalar remainder, not masked (set_llvm_options)
// 56: kernels that lower to the same code are merged (merge_identical_kernels)
// 57: without AVX-512, a packed nest's rows are copied as whole vectors of power-of-two widths (pack_rows)
// 58: without AVX-512, loop remainders are vectorized 2 floats at a time (set_llvm_options)
// 59: a scan with one forward stack takes 16-row blocks (scan_split)
// 60: sibling scans run as the items of one parallel loop (sibling_end)
// 61: a parallel loop of a static size below the split threshold runs in place, not outlined (emit_parallel_for)
// 62: no post-RA scheduling (set_llvm_options)
// 63: one instcombine iteration (set_llvm_options)
// 64: instruction selection by FastISel where it can, SelectionDAG for the rest of a block (set_llvm_options)
// 65: a packed loop region runs the members after two chained transcendental ops in a second pass (emit_fusion)
// 66: ... and the values its second pass reads that are no results go through blocks on the stack (a predict's gates)
// 67: ... each pass's flat loop interleaves two vectors per iteration (emit_loop_packed)
constexpr const char* kCodegenVersion = "kiln-codegen-67";

}  // namespace

// The hash of the sources of ir/, runtime/ and codegen/ this library was built
// from (codegen_build_id.cpp, generated by cmake/codegen_build_id.cmake). It is
// part of every cache key beside kCodegenVersion: an object cached by a build
// from other sources (another worktree, an edit not yet followed by a bump) is
// never loaded. kCodegenVersion still names the generated code's changes.
extern const char kCodegenBuildId[];

namespace {

using EntryFn = void (*)(void** params, void** results, int64_t n, void* fixed, void* batch, int32_t* err);

std::string sha256_hex(const std::string& s) {
  llvm::SHA256 h;
  h.update(s);
  auto r = h.final();
  return llvm::toHex(llvm::ArrayRef<uint8_t>(r.data(), r.size()), /*LowerCase=*/true).substr(0, 32);
}

[[noreturn]] void fail(const std::string& what, llvm::Error e) {
  throw Error("jit: " + what + ": " + llvm::toString(std::move(e)));
}

template <class T>
T check(llvm::Expected<T> v, const std::string& what) {
  if (!v) fail(what, v.takeError());
  return std::move(*v);
}

// Adds the seconds from construction to stop() to `total`.
class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), t0_(std::chrono::steady_clock::now()) {}
  void stop() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

 private:
  double& total_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

struct Kernel {
  EntryFn entry = nullptr;
  std::string hash;
  int64_t fixed_bytes = 0, batch_bytes = 0;
  std::vector<ParamUpdate> updates;  // GraphPlan::updates of the entry
  std::vector<int64_t> update_of;    // per result: the parameter it updates in place, or -1
};

class JitState {
 public:
  explicit JitState(JitOptions opts) {
    static std::once_flag init;  // LLVM's target registry is process-wide
    std::call_once(init, [] {
      llvm::InitializeNativeTarget();
      llvm::InitializeNativeTargetAsmPrinter();
      llvm::InitializeNativeTargetAsmParser();
      const char* time_passes = std::getenv("KILN_JIT_TIME_PASSES");
      llvm::TimePassesIsEnabled = time_passes && std::string(time_passes) == "1";
    });
    auto jtmb = check(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
    jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
    target_.cpu = jtmb.getCPU();
    target_.features = jtmb.getFeatures().getString();
    target_.vector_width = vector_width_bits(target_.features);
    const char* symbols = std::getenv("KILN_JIT_KERNEL_SYMBOLS");
    target_.kernel_symbols = symbols && std::string(symbols) == "1";
    target_.fma_matmul = std::strcmp(kiln_gemm_isa(), "generic") != 0;
    tm_ = check(jtmb.createTargetMachine(), "creating the target machine");
    jtmb_.emplace(jtmb);
    jit_ = check(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(jtmb).create(), "creating LLJIT");
    register_perf_listener();
    llvm::orc::JITDylib& jd = jit_->getMainJITDylib();
    // Fills and copies may become memset/memcpy calls: resolve C library symbols from the process.
    jd.addGenerator(
        check(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(jit_->getDataLayout().getGlobalPrefix()),
              "process symbols"));
    llvm::orc::SymbolMap rt;
    int count = 0;
    const RtSymbol* syms = rt_symbols(&count);
    for (int i = 0; i < count; ++i)
      rt[jit_->mangleAndIntern(syms[i].name)] =
          llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(syms[i].addr), llvm::JITSymbolFlags::Exported);
    if (auto e = jd.define(llvm::orc::absoluteSymbols(std::move(rt)))) fail("runtime symbols", std::move(e));
    const char* env = std::getenv("KILN_JIT_DISK_CACHE");
    if (opts.disk_cache && !(env && std::string(env) == "0"))
      disk_.emplace(opts.cache_dir.empty() ? default_cache_dir() : opts.cache_dir);
  }

  // With KILN_JIT_PERF=1, LLVM's perf listener writes jit-PID.dump (into
  // $JITDUMPDIR, default ~/.debug/jit) so that `perf record -k 1` followed by
  // `perf inject --jit` names every compiled kernel in a profile.
  void register_perf_listener() {
    const char* env = std::getenv("KILN_JIT_PERF");
    if (!env || std::string(env) != "1") return;
    llvm::JITEventListener* perf = llvm::JITEventListener::createPerfJITEventListener();
    auto* rtdyld = llvm::dyn_cast<llvm::orc::RTDyldObjectLinkingLayer>(&jit_->getObjLinkingLayer());
    if (!perf || !rtdyld) throw Error("jit: KILN_JIT_PERF=1 but this LLVM build has no perf listener for its linker");
    rtdyld->registerJITEventListener(*perf);
  }

  std::shared_ptr<Kernel> get(const ir::Graph& g) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string hash = sha256_hex(std::string(kCodegenVersion) + " " + kCodegenBuildId +
                                  (target_.kernel_symbols ? " kernel-symbols" : "") + "\n" + target_.cpu + "\n" +
                                  target_.features + "\n" + kiln_gemm_isa() + "\n" + ir::to_string(g));
    if (auto it = kernels_.find(hash); it != kernels_.end()) {
      ++stats_.memory_hits;
      return it->second;
    }
    auto k = std::make_shared<Kernel>();
    k->hash = hash;
    GraphPlan plan = plan_graph(g, true);
    k->fixed_bytes = plan.fixed_bytes;
    k->batch_bytes = plan.batch_bytes;
    k->updates = plan.updates;
    k->update_of.assign(g.results().size(), -1);
    for (const ParamUpdate& u : plan.updates) k->update_of[static_cast<size_t>(u.result)] = u.param;
    const std::string name = entry_name(hash);
    CacheKey key{hash, std::string(kCodegenVersion) + " " + kCodegenBuildId, LLVM_VERSION_STRING, target_.cpu,
                 sha256_hex(target_.features)};
    // One JITDylib per program: the objects of its parts link to each other's
    // hidden symbols there (compile_parts.h), and to the runtime through main.
    llvm::Expected<llvm::orc::JITDylib&> created = jit_->createJITDylib(name);
    if (!created) fail("creating the JITDylib of " + name, created.takeError());
    llvm::orc::JITDylib& jd = *created;
    jd.addToLinkOrder(jit_->getMainJITDylib());
    if (disk_) {
      bool rejected = false;
      if (auto objs = disk_->load(key, &rejected)) {
        // The JITDylib's default tracker, as a compile links under: LLVM 16
        // moves a dropped tracker's objects to the default tracker, and when
        // that tracker owned none yet the move read a stale map bucket and
        // freed the program's code (llvm-project PR 114063; the ~50th
        // program loaded from disk in a process ran another's code or
        // crashed). A rejected object's remove() leaves a fresh default.
        llvm::orc::ResourceTrackerSP rt = jd.getDefaultResourceTracker();
        std::vector<std::unique_ptr<llvm::MemoryBuffer>> bufs;
        for (const std::string& o : *objs) bufs.push_back(llvm::MemoryBuffer::getMemBufferCopy(o, name));
        llvm::Expected<EntryFn> entry = link(jd, rt, std::move(bufs), name);
        if (entry) {
          k->entry = *entry;
          ++stats_.disk_hits;
        } else {
          llvm::consumeError(entry.takeError());
          rejected = true;
          llvm::consumeError(rt->remove());
        }
      }
      if (rejected) ++stats_.disk_rejected;
    }
    if (!k->entry) {
      llvm::LLVMContext ctx;
      LoweringStats ls;
      std::unique_ptr<llvm::Module> m = lower(g, ctx, name, &ls, &stats_);
      stats_.fused_regions += ls.fused_regions;
      stats_.unfused_regions += ls.unfused_regions;
      stats_.two_pass_regions += ls.two_pass_regions;
      PartTimes times;
      std::vector<std::unique_ptr<llvm::MemoryBuffer>> objs = compile_parts(*m, part_machines(), times);
      stats_.optimize_seconds += times.optimize_seconds;
      stats_.codegen_seconds += times.codegen_seconds;
      std::vector<std::string> bytes;  // for the disk cache
      if (disk_)
        for (const auto& o : objs) bytes.push_back(o->getBuffer().str());
      Stopwatch linking(stats_.codegen_seconds);
      k->entry = check(link(jd, jd.getDefaultResourceTracker(), std::move(objs), name), "linking " + name);
      linking.stop();
      if (llvm::TimePassesIsEnabled) llvm::reportAndResetTimings(&llvm::errs());  // KILN_JIT_TIME_PASSES=1
      ++stats_.compilations;
      if (disk_) disk_->store(key, bytes);
    }
    kernels_[hash] = k;
    return k;
  }

  // The lowered, verified module of g for the host (`times`, when given, adds
  // the lowering time).
  std::unique_ptr<llvm::Module> lower(const ir::Graph& g, llvm::LLVMContext& ctx, const std::string& name,
                                      LoweringStats* stats = nullptr, JitStats* times = nullptr) {
    double lower_s = 0;
    Stopwatch lower(lower_s);
    std::unique_ptr<llvm::Module> m = lower_graph(g, ctx, name, target_, stats, true);
    m->setDataLayout(tm_->createDataLayout());
    m->setTargetTriple(tm_->getTargetTriple().str());
    std::string msg;
    llvm::raw_string_ostream os(msg);
    if (llvm::verifyModule(*m, &os)) throw Error("jit: generated invalid LLVM IR for @" + g.name + ": " + os.str());
    lower.stop();
    if (times) times->lower_seconds += lower_s;
    return m;
  }

  // Lowered and optimized module, whole (for dumps).
  std::unique_ptr<llvm::Module> build(const ir::Graph& g, llvm::LLVMContext& ctx, const std::string& name) {
    std::unique_ptr<llvm::Module> m = lower(g, ctx, name);
    optimize_module(*m, tm_.get());
    return m;
  }

  // Adds a program's objects to its JITDylib under rt and returns its entry.
  llvm::Expected<EntryFn> link(llvm::orc::JITDylib& jd, const llvm::orc::ResourceTrackerSP& rt,
                               std::vector<std::unique_ptr<llvm::MemoryBuffer>> objs, const std::string& name) {
    for (auto& o : objs)
      if (llvm::Error e = jit_->addObjectFile(rt, std::move(o))) return e;
    auto addr = jit_->lookup(jd, name);
    if (!addr) return addr.takeError();
    return addr->toPtr<EntryFn>();
  }

  // The TargetMachines compile_parts uses, one per part: two parts on a
  // machine with two or more cores, else one, or one with KILN_JIT_PARTS=1.
  // (LLVM's pass timers are not thread-safe: with KILN_JIT_TIME_PASSES=1 a
  // module is one part.)
  std::vector<llvm::TargetMachine*> part_machines() {
    const char* env = std::getenv("KILN_JIT_PARTS");
    if (llvm::TimePassesIsEnabled || std::thread::hardware_concurrency() < 2 || (env && std::string(env) == "1"))
      return {tm_.get()};
    if (!tm2_) tm2_ = check(jtmb_->createTargetMachine(), "creating the target machine");
    return {tm_.get(), tm2_.get()};
  }

  std::string ir_text(const ir::Graph& g, const std::string& hash) {
    std::lock_guard<std::mutex> lock(mu_);
    llvm::LLVMContext ctx;
    auto m = build(g, ctx, entry_name(hash));
    std::string s;
    llvm::raw_string_ostream os(s);
    m->print(os, nullptr);
    return os.str();
  }

  std::string asm_text(const ir::Graph& g, const std::string& hash) {
    std::lock_guard<std::mutex> lock(mu_);
    llvm::LLVMContext ctx;
    auto m = build(g, ctx, entry_name(hash));
    llvm::SmallString<0> buf;
    llvm::raw_svector_ostream os(buf);
    llvm::legacy::PassManager pm;
    if (tm_->addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_AssemblyFile))
      throw Error("jit: the target cannot emit assembly");
    pm.run(*m);
    return std::string(buf.str());
  }

  JitStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  const std::string& cpu() const { return target_.cpu; }

 private:
  std::mutex mu_;
  TargetInfo target_;
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb_;
  std::unique_ptr<llvm::TargetMachine> tm_, tm2_;  // tm2_: compile_parts' second part
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::optional<ObjectCache> disk_;
  std::unordered_map<std::string, std::shared_ptr<Kernel>> kernels_;
  JitStats stats_;

  static std::string entry_name(const std::string& hash) { return "kiln_" + hash; }

};

// What a run keeps between calls: a reusable 64-byte-aligned scratch block
// and the argument/result pointer arrays. Concurrent runs of one program take
// turns (the lock) rather than share them.
struct CompiledProgram::Arena {
  std::mutex mu;
  void* data = nullptr;
  size_t size = 0;
  std::vector<void*> params, results;
  std::vector<std::pair<const uint8_t*, const uint8_t*>> arg_bytes;  // [begin, end) of each argument
  ~Arena() { std::free(data); }
  void* reserve(size_t bytes) {
    if (bytes > size || !data) {
      std::free(data);
      size = (std::max<size_t>(bytes, 64) + 63) / 64 * 64;
      data = std::aligned_alloc(64, size);
      if (!data) throw Error("jit: cannot allocate " + std::to_string(size) + " bytes of scratch");
    }
    return data;
  }
};

namespace {

// Whether `t` already is a buffer for a value of type `want` at batch size n.
bool fits(const Tensor& t, const ir::TensorType& want, int64_t n) {
  if (!t.defined() || t.dtype() != want.dtype || t.rank() != want.rank()) return false;
  for (int64_t d = 0; d < want.rank(); ++d) {
    int64_t w = want.shape[d];
    if (t.shape()[d] != (ir::is_batch_dim(w) ? n * ir::batch_factor(w) : w)) return false;
  }
  return true;
}

bool same_buffer(const Tensor& a, const Tensor& b) { return a.raw() == b.raw() && a.nbytes() == b.nbytes(); }

using Bytes = std::pair<const uint8_t*, const uint8_t*>;  // [begin, end)

Bytes bytes_of(const Tensor& t) {
  auto* p = static_cast<const uint8_t*>(t.raw());
  return {p, p + t.nbytes()};
}

bool overlap(Bytes a, Bytes b) { return a.first < b.second && b.first < a.second; }

}  // namespace

CompiledProgram::CompiledProgram(std::shared_ptr<JitState> jit, std::shared_ptr<Kernel> k, std::unique_ptr<ir::Graph> g)
    : jit_(std::move(jit)), kernel_(std::move(k)), graph_(std::move(g)), arena_(std::make_unique<Arena>()) {}

CompiledProgram::~CompiledProgram() = default;

int64_t CompiledProgram::arena_bytes(int64_t n) const { return kernel_->fixed_bytes + kernel_->batch_bytes * n; }

const std::string& CompiledProgram::hash() const { return kernel_->hash; }

const std::vector<ParamUpdate>& CompiledProgram::updates() const { return kernel_->updates; }

std::vector<Tensor> CompiledProgram::run(const std::vector<Tensor>& args) {
  std::vector<Tensor> out;
  run_into(args, out);
  return out;
}

void CompiledProgram::run_into(const std::vector<Tensor>& args, std::vector<Tensor>& results) {
  int64_t n = runtime::bind_batch(*graph_, args);
  if (n < 0) n = 1;
  const std::vector<ir::Value*>& rs = graph_->results();
  results.resize(rs.size());
  std::lock_guard<std::mutex> lock(arena_->mu);
  Arena& a = *arena_;
  a.arg_bytes.resize(args.size());
  for (size_t i = 0; i < args.size(); ++i) a.arg_bytes[i] = bytes_of(args[i]);
  for (size_t j = 0; j < rs.size(); ++j) {
    if (fits(results[j], rs[j]->type, n)) {
      const Bytes r = bytes_of(results[j]);
      for (size_t i = 0; i < args.size(); ++i)
        if (overlap(r, a.arg_bytes[i]) && !(kernel_->update_of[j] == static_cast<int64_t>(i) && r == a.arg_bytes[i]))
          throw Error("jit: result " + std::to_string(j) + " of @" + graph_->name + " shares memory with argument " +
                      std::to_string(i) + "; give results their own buffers");
      for (size_t i = 0; i < j; ++i)
        if (overlap(r, bytes_of(results[i])))
          throw Error("jit: results " + std::to_string(i) + " and " + std::to_string(j) + " of @" + graph_->name +
                      " share memory; give results their own buffers");
    } else {
      results[j] = Tensor::uninitialized(rs[j]->type.concrete(n), rs[j]->type.dtype);  // every element is written
    }
  }
  // The entry's contract (plan.h, GraphPlan::updates): a result updated in
  // place starts as its parameter's value. Nothing has been written before
  // this point, so a throw above leaves every argument as it was.
  for (const ParamUpdate& u : kernel_->updates) {
    const Tensor& from = args[static_cast<size_t>(u.param)];
    Tensor& to = results[static_cast<size_t>(u.result)];
    if (!same_buffer(to, from)) std::memcpy(to.raw(), from.raw(), from.nbytes());
  }
  int32_t err = 0;
  a.params.resize(args.size());
  a.results.resize(rs.size());
  for (size_t i = 0; i < args.size(); ++i) a.params[i] = const_cast<void*>(args[i].raw());
  for (size_t j = 0; j < rs.size(); ++j) a.results[j] = results[j].raw();
  auto* base = static_cast<uint8_t*>(a.reserve(static_cast<size_t>(arena_bytes(n))));
  kernel_->entry(a.params.data(), a.results.data(), n, base, base + kernel_->fixed_bytes, &err);
  if (err) throw Error("div: integer division by zero");
}

std::string CompiledProgram::llvm_ir() const { return jit_->ir_text(*graph_, kernel_->hash); }
std::string CompiledProgram::asm_text() const { return jit_->asm_text(*graph_, kernel_->hash); }

Jit::Jit(JitOptions opts) : state_(std::make_shared<JitState>(std::move(opts))) {}
Jit::~Jit() = default;

std::unique_ptr<CompiledProgram> Jit::compile(const ir::Graph& g) {
  std::shared_ptr<Kernel> k = state_->get(g);
  return std::unique_ptr<CompiledProgram>(new CompiledProgram(state_, std::move(k), g.clone()));
}

JitStats Jit::stats() const { return state_->stats(); }

int64_t planned_arena_bytes(const ir::Graph& g, int64_t n) {
  GraphPlan plan = plan_graph(g);
  return plan.fixed_bytes + plan.batch_bytes * n;
}
std::string Jit::cpu_name() const { return state_->cpu(); }

// What optimize_module runs: inline the kernels into their callers (fusion
// kernels are noinline), then one simplification round per function, the
// loop vectorizer (the elementwise and reduction nests are scalar loops; the
// inline matmuls and epilogue passes already are vector code and say so), and
// a cleanup. Not O3: its inliner simplifies each kernel before and again
// after inlining it, and with its unrolling, SLP, GVN, IndVars and loop-idiom
// passes it took about four times this pipeline's time on Kiln's kernels
// (a cold train-step compile 2.3-2.8x as long) for no faster code: the
// tutorial models' predict and train_step rows run within a few percent,
// most a little faster (kiln_bench_models, CPU time, one thread).
constexpr const char* kPipeline =
    "cgscc(inline),"
    "function(sroa<modify-cfg>,early-cse<memssa>,instcombine,simplifycfg,"
    "loop-mssa(loop-rotate,licm),loop-vectorize,instcombine,simplifycfg,early-cse),"
    "globaldce";

namespace {

// LLVM's command-line options that Kiln sets. LLVM offers no API for them;
// they are process-wide, so they are set once, before the first module is
// optimized (JIT and AOT alike, both for the host: tm's features are the host's).
//  - disable-lsr: machine code generation without loop strength reduction. On
//    Kiln's kernels it took a fifth of the code generation time (a cold
//    train-step compile 1.2-1.3x as long) and the tutorial models run as fast
//    without it (x86 addressing modes take base + index * 4 as it is).
//  - vectorizer-min-trip-count, on a host without AVX-512: the loop vectorizer
//    vectorizes a loop of fewer static iterations than this (default 16) only
//    with its tail folded into masked loads and stores. AVX-512 masks are
//    free; AVX2 has only vmaskmovps, microcoded on AMD Zen (a masked store
//    costs tens of cycles) and a store-forwarding stall for the loads after it:
//    a loop of 10 (an LSTM's hidden units) ran as two masked <8 x float>
//    steps. At 2 such loops are whole vectors and a scalar remainder: rnn
//    train_step b256 4.7-5.1 -> 3.2-3.4 ms on a Zen 3 (kiln_bench_models).
//  - epilogue-vectorization-minimum-VF and -force-VF, on the same hosts: the
//    remainder of a loop of 8-float vectors runs 2 floats at a time before
//    the scalar rest (LLVM vectorizes remainders only after 16-wide loops).
//    A row of 10 (8 + 2) is then two vector steps, not a vector and two scalar
//    ones, each with its own copy of a sigmoid or tanh: LSTM predict and
//    train_step at batch 1 about 1.2-1.4x faster; 5-6% more code.
//  - disable-post-ra: no list scheduling after register allocation (LLVM runs
//    it for znver3). An out-of-order Zen 3 reorders those instructions itself:
//    the tutorial models' predict and train_step rows run within noise
//    without it (kiln_bench_models, one thread, A/B alternated), and it took
//    18-20 ms of shared_feature's train-step code generation (~320 ms on one
//    thread, KILN_JIT_TIME_PASSES=1; llc-16 on its optimized module: 7% fewer
//    instructions executed, callgrind).
//  - fast-isel: instruction selection tries FastISel first on each block and
//    hands SelectionDAG only what FastISel cannot select (selecting bottom-up,
//    the block from its first instruction it cannot select up to its start).
//    That is the scalar glue: argument and pointer arithmetic, calls, loop
//    counters, branches. The vector kernels' bodies (intrinsics, selects,
//    shuffles) still go through SelectionDAG, so the code hardly changes (asm
//    instructions of the train steps: rnn 5940 -> 5933, multi_output 8218 ->
//    8250, cnn 3729 -> 3718, the gate kernels' loops the same) while
//    SelectionDAG, the largest part of code generation, sees less: code
//    generation of `kiln ir shared_feature --stage=asm`'s three compiles
//    2545M -> 2171M instructions executed (callgrind, disk cache off).
//  - instcombine-max-iterations: each instcombine in kPipeline makes one pass
//    over a function (LLVM 16 repeats it until nothing changes, always at least
//    one more pass to find that out). opt-16 running kPipeline on
//    shared_feature's train-step module: 668M -> 602M instructions executed
//    (InstCombine itself half as many); its asm 7137 -> 7149 instructions (one
//    block of the entry). The runtime rows: geomean 0.97x, within noise.
void set_llvm_options(const llvm::TargetMachine& tm) {
  static std::once_flag once;
  std::call_once(once, [&tm] {
    llvm::StringMap<llvm::cl::Option*>& opts = llvm::cl::getRegisteredOptions();
    auto set = [&]<typename T>(const char* name, T value) {
      auto opt = opts.find(name);
      KILN_ASSERT(opt != opts.end(), std::string("LLVM has no -") + name + " option");
      static_cast<llvm::cl::opt<T>*>(opt->second)->setValue(value);
    };
    set("disable-lsr", true);
    set("disable-post-ra", true);
    set("instcombine-max-iterations", 1u);
    set("fast-isel", llvm::cl::BOU_TRUE);
    if (vector_width_bits(tm.getTargetFeatureString().str()) < 512) {
      set("vectorizer-min-trip-count", 2u);
      set("epilogue-vectorization-minimum-VF", 8u);
      set("epilogue-vectorization-force-VF", 2u);
    }
  });
}

}  // namespace

void optimize_module(llvm::Module& m, llvm::TargetMachine* tm) {
  set_llvm_options(*tm);
  llvm::PassInstrumentationCallbacks pic;
  llvm::StandardInstrumentations si(m.getContext(), /*DebugLogging=*/false);
  llvm::PassBuilder pb(tm, llvm::PipelineTuningOptions(), std::nullopt, &pic);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  si.registerCallbacks(pic, &fam);
  llvm::ModulePassManager mpm;
  if (llvm::Error e = pb.parsePassPipeline(mpm, kPipeline)) fail("parsing the pass pipeline", std::move(e));
  mpm.run(m, mam);
}

}  // namespace kiln::codegen
