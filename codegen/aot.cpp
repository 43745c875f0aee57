// Ahead-of-time compilation (codegen/aot.h): the JIT's lowering of one graph,
// the same O3 pipeline for the host TargetMachine, C entry points around the
// graph function, the weights as one data blob, an object file, a C header
// and a static library bundling libkiln_aot_runtime.a.
#include "codegen/aot.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Object/Archive.h>
#include <llvm/Object/ArchiveWriter.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "codegen/emit.h"
#include "ir/error.h"
#include "runtime/atomic_file.h"

namespace kiln::codegen {

namespace {

[[noreturn]] void fail(const std::string& what, llvm::Error e) {
  throw Error("aot: " + what + ": " + llvm::toString(std::move(e)));
}

template <class T>
T check(llvm::Expected<T> v, const std::string& what) {
  if (!v) fail(what, v.takeError());
  return std::move(*v);
}

bool is_c_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// Elements of a tensor type as c * batch (has_n) or c.
struct Count {
  int64_t c = 1;
  bool has_n = false;
};
Count count_of(const ir::TensorType& t) {
  Count k;
  for (int64_t d : t.shape) {
    if (ir::is_batch_dim(d)) k.has_n = true;
    k.c *= ir::is_batch_dim(d) ? ir::batch_factor(d) : d;
  }
  return k;
}

std::string shape_text(const ir::TensorType& t) {
  std::string s = std::string(ir::dtype_name(t.dtype)) + "[";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    int64_t d = t.shape[i];
    if (i) s += ",";
    s += !ir::is_batch_dim(d) ? std::to_string(d) : d == ir::kBatch ? "N" : "N*" + std::to_string(-d);
  }
  return s + "]";
}

constexpr int64_t kAlign = 64;
int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// The host TargetMachine, as codegen::Jit builds it, with position-independent
// code (the object is linked into PIE executables).
std::unique_ptr<llvm::TargetMachine> host_machine(TargetInfo& target) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto jtmb = check(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  jtmb.setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
  jtmb.setRelocationModel(llvm::Reloc::PIC_);
  target.cpu = jtmb.getCPU();
  target.features = jtmb.getFeatures().getString();
  target.vector_width = target.features.find("+avx512f") != std::string::npos ? 512 : 256;
  return check(jtmb.createTargetMachine(), "creating the target machine");
}

// i64 f(i32 i, i64 batch): counts[i].c * (counts[i].has_n ? batch : 1), 0 out of range.
void emit_count_fn(llvm::Module& m, const std::string& name, const std::vector<Count>& counts) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(b.getInt64Ty(), {b.getInt32Ty(), b.getInt64Ty()}, false),
                                    llvm::GlobalValue::ExternalLinkage, name, m);
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
  auto* out = llvm::BasicBlock::Create(c, "out", fn);
  b.SetInsertPoint(entry);
  auto* sw = b.CreateSwitch(fn->getArg(0), out, static_cast<unsigned>(counts.size()));
  b.SetInsertPoint(out);
  b.CreateRet(b.getInt64(0));
  for (size_t i = 0; i < counts.size(); ++i) {
    auto* bb = llvm::BasicBlock::Create(c, "case", fn);
    sw->addCase(b.getInt32(static_cast<uint32_t>(i)), bb);
    b.SetInsertPoint(bb);
    llvm::Value* v = b.getInt64(static_cast<uint64_t>(counts[i].c));
    b.CreateRet(counts[i].has_n ? b.CreateMul(v, fn->getArg(1)) : v);
  }
}

// i32 f(i32 i, i64 batch, ptr dims): writes shapes[i] (batch dims times `batch`), returns its rank; -1 out of range.
void emit_shape_fn(llvm::Module& m, const std::string& name, const std::vector<ir::Dims>& shapes) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  auto* fn = llvm::Function::Create(
      llvm::FunctionType::get(b.getInt32Ty(), {b.getInt32Ty(), b.getInt64Ty(), b.getPtrTy()}, false),
      llvm::GlobalValue::ExternalLinkage, name, m);
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
  auto* out = llvm::BasicBlock::Create(c, "out", fn);
  b.SetInsertPoint(entry);
  auto* sw = b.CreateSwitch(fn->getArg(0), out, static_cast<unsigned>(shapes.size()));
  b.SetInsertPoint(out);
  b.CreateRet(b.getInt32(static_cast<uint32_t>(-1)));
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto* bb = llvm::BasicBlock::Create(c, "case", fn);
    sw->addCase(b.getInt32(static_cast<uint32_t>(i)), bb);
    b.SetInsertPoint(bb);
    for (size_t d = 0; d < shapes[i].size(); ++d) {
      int64_t v = shapes[i][d];
      llvm::Value* dim = ir::is_batch_dim(v)
                             ? b.CreateMul(b.getInt64(static_cast<uint64_t>(ir::batch_factor(v))), fn->getArg(1))
                             : b.getInt64(static_cast<uint64_t>(v));
      b.CreateStore(dim, b.CreateConstGEP1_64(b.getInt64Ty(), fn->getArg(2), d));
    }
    b.CreateRet(b.getInt32(static_cast<uint32_t>(shapes[i].size())));
  }
}

// The C entry points around the graph function `kernel` (see aot.h).
void emit_api(llvm::Module& m, llvm::Function* kernel, const ir::Graph& g, const std::vector<Tensor>& weights,
              const GraphPlan& plan, const std::string& p) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* i32 = b.getInt32Ty();
  llvm::Type* ptr = b.getPtrTy();
  const size_t n_in = g.params().size() - weights.size();

  // The weights: one writable blob (not `constant`, so O3 cannot fold weight
  // values into the code and the arithmetic stays the JIT's).
  std::string blob;
  std::vector<int64_t> offsets;
  for (const Tensor& w : weights) {
    offsets.push_back(static_cast<int64_t>(blob.size()));
    blob.append(static_cast<const char*>(w.raw()), w.nbytes());
    blob.resize(static_cast<size_t>(align_up(static_cast<int64_t>(blob.size()))), '\0');
  }
  if (blob.empty()) blob.assign(kAlign, '\0');
  auto* data = llvm::ConstantDataArray::getRaw(blob, blob.size(), b.getInt8Ty());
  auto* wblob = new llvm::GlobalVariable(m, data->getType(), false, llvm::GlobalValue::ExternalLinkage, data,
                                         p + "_weights_data");
  wblob->setAlignment(llvm::Align(kAlign));

  // i64 arena_bytes(i64 batch)
  auto* arena_fn = llvm::Function::Create(llvm::FunctionType::get(i64, {i64}, false),
                                          llvm::GlobalValue::ExternalLinkage, p + "_arena_bytes", m);
  b.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", arena_fn));
  b.CreateRet(b.CreateAdd(b.getInt64(static_cast<uint64_t>(plan.fixed_bytes)),
                          b.CreateMul(b.getInt64(static_cast<uint64_t>(plan.batch_bytes)), arena_fn->getArg(0))));

  // i32 predict(ptr inputs, ptr outputs, i64 batch, ptr arena)
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(i32, {ptr, ptr, i64, ptr}, false),
                                    llvm::GlobalValue::ExternalLinkage, p + "_predict", m);
  llvm::Value *inputs = fn->getArg(0), *outputs = fn->getArg(1), *batch = fn->getArg(2), *arena = fn->getArg(3);
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
  auto* bad_batch = llvm::BasicBlock::Create(c, "bad_batch", fn);
  auto* get_mem = llvm::BasicBlock::Create(c, "get_mem", fn);
  auto* alloc = llvm::BasicBlock::Create(c, "alloc", fn);
  auto* no_mem = llvm::BasicBlock::Create(c, "no_mem", fn);
  auto* run = llvm::BasicBlock::Create(c, "run", fn);
  b.SetInsertPoint(entry);
  auto* params = b.CreateAlloca(ptr, b.getInt32(static_cast<uint32_t>(g.params().size())), "params");
  auto* err = b.CreateAlloca(i32, nullptr, "err");
  b.CreateStore(b.getInt32(0), err);
  for (size_t i = 0; i < n_in; ++i)
    b.CreateStore(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, inputs, i)), b.CreateConstGEP1_64(ptr, params, i));
  for (size_t w = 0; w < weights.size(); ++w)
    b.CreateStore(b.CreateConstGEP1_64(b.getInt8Ty(), wblob, static_cast<uint64_t>(offsets[w])),
                  b.CreateConstGEP1_64(ptr, params, n_in + w));
  b.CreateCondBr(b.CreateICmpSLT(batch, b.getInt64(0)), bad_batch, get_mem);
  b.SetInsertPoint(bad_batch);
  b.CreateRet(b.getInt32(3));

  b.SetInsertPoint(get_mem);
  llvm::Value* bytes = b.CreateCall(arena_fn, {batch});
  b.CreateCondBr(b.CreateICmpEQ(arena, llvm::ConstantPointerNull::get(b.getPtrTy())), alloc, run);
  b.SetInsertPoint(alloc);
  // aligned_alloc(64, round_up(max(bytes, 64), 64))
  llvm::Value* size = b.CreateSelect(b.CreateICmpSLT(bytes, b.getInt64(kAlign)), b.getInt64(kAlign), bytes);
  size = b.CreateAnd(b.CreateAdd(size, b.getInt64(kAlign - 1)), b.getInt64(~uint64_t(kAlign - 1)));
  llvm::FunctionCallee aligned_alloc = m.getOrInsertFunction("aligned_alloc", ptr, i64, i64);
  llvm::Value* got = b.CreateCall(aligned_alloc, {b.getInt64(kAlign), size});
  b.CreateCondBr(b.CreateICmpEQ(got, llvm::ConstantPointerNull::get(b.getPtrTy())), no_mem, run);
  b.SetInsertPoint(no_mem);
  b.CreateRet(b.getInt32(2));

  b.SetInsertPoint(run);
  auto* mem = b.CreatePHI(ptr, 2, "mem");
  mem->addIncoming(arena, get_mem);
  mem->addIncoming(got, alloc);
  auto* owned = b.CreatePHI(b.getInt1Ty(), 2, "owned");
  owned->addIncoming(b.getFalse(), get_mem);
  owned->addIncoming(b.getTrue(), alloc);
  b.CreateCall(kernel, {params, outputs, batch, mem,
                        b.CreateConstGEP1_64(b.getInt8Ty(), mem, static_cast<uint64_t>(plan.fixed_bytes)), err});
  auto* do_free = llvm::BasicBlock::Create(c, "free", fn);
  auto* done = llvm::BasicBlock::Create(c, "done", fn);
  b.CreateCondBr(owned, do_free, done);
  b.SetInsertPoint(do_free);
  b.CreateCall(m.getOrInsertFunction("free", b.getVoidTy(), ptr), {mem});
  b.CreateBr(done);
  b.SetInsertPoint(done);
  b.CreateRet(b.CreateLoad(i32, err));

  std::vector<Count> in_counts, out_counts;
  for (size_t i = 0; i < n_in; ++i) in_counts.push_back(count_of(g.params()[i]->type));
  for (const ir::Value* v : g.results()) out_counts.push_back(count_of(v->type));
  emit_count_fn(m, p + "_input_elements", in_counts);
  emit_count_fn(m, p + "_output_elements", out_counts);
  std::vector<ir::Dims> in_shapes, out_shapes;
  for (size_t i = 0; i < n_in; ++i) in_shapes.push_back(g.params()[i]->type.shape);
  for (const ir::Value* v : g.results()) out_shapes.push_back(v->type.shape);
  emit_shape_fn(m, p + "_input_shape", in_shapes);
  emit_shape_fn(m, p + "_output_shape", out_shapes);
  auto count_const = [&](const std::string& name, size_t v) {
    llvm::FunctionType* ft = llvm::FunctionType::get(i32, {}, false);
    auto* f = llvm::Function::Create(ft, llvm::GlobalValue::ExternalLinkage, name, m);
    b.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", f));
    b.CreateRet(b.getInt32(static_cast<uint32_t>(v)));
  };
  count_const(p + "_num_inputs", n_in);
  count_const(p + "_num_outputs", g.results().size());
}

std::string header_text(const ir::Graph& g, size_t n_weights, const GraphPlan& plan, const std::string& p,
                        const std::string& cpu) {
  std::string up;
  for (char ch : p) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const size_t n_in = g.params().size() - n_weights;
  std::ostringstream h;
  h << "/* Generated by `kiln compile --aot` from @" << g.name << ": do not edit.\n"
    << " * Native code for the CPU '" << cpu << "' (the compiling machine's); weights embedded.\n"
    << " * Link: lib" << p << ".a (or the archive given to --aot -o) -lstdc++ -lm. No LLVM at run time.\n"
    << " *\n"
    << " * Buffers are row-major float32; N is the batch size passed to " << p << "_predict.\n";
  for (size_t i = 0; i < n_in; ++i)
    h << " * input " << i << " '" << g.params()[i]->name << "': " << shape_text(g.params()[i]->type) << "\n";
  for (size_t i = 0; i < g.results().size(); ++i)
    h << " * output " << i << ": " << shape_text(g.results()[i]->type) << "\n";
  h << " */\n"
    << "#ifndef " << up << "_AOT_H\n#define " << up << "_AOT_H\n\n"
    << "#include <stddef.h>\n#include <stdint.h>\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "#define " << up << "_NUM_INPUTS " << n_in << "\n"
    << "#define " << up << "_NUM_OUTPUTS " << g.results().size() << "\n";
  auto macro = [&](const char* what, size_t i, const ir::TensorType& t) {
    Count k = count_of(t);
    h << "#define " << up << "_" << what << "_" << i << "_ELEMENTS(batch) ((int64_t)" << k.c
      << (k.has_n ? " * (int64_t)(batch))" : ")") << "\n";
  };
  for (size_t i = 0; i < n_in; ++i) macro("INPUT", i, g.params()[i]->type);
  for (size_t i = 0; i < g.results().size(); ++i) macro("OUTPUT", i, g.results()[i]->type);
  h << "\n/* Scratch bytes predict needs for a batch of N (" << plan.fixed_bytes << " + " << plan.batch_bytes
    << " * N). */\n"
    << "int64_t " << p << "_arena_bytes(int64_t batch);\n\n"
    << "/* Runs the model on `batch` samples: inputs[i] points to input i's elements, outputs[j] to room for\n"
    << " * output j's (written entirely). arena: NULL (predict allocates and frees its scratch) or\n"
    << " * " << p << "_arena_bytes(batch) bytes aligned to 64, reusable across calls of one thread.\n"
    << " * Returns 0, 1 (integer division by zero), 2 (out of memory) or 3 (batch < 0). */\n"
    << "int32_t " << p << "_predict(const float* const* inputs, float* const* outputs, int64_t batch, void* arena);\n\n"
    << "/* The same numbers as the macros above, for generic code. */\n"
    << "int32_t " << p << "_num_inputs(void);\n"
    << "int32_t " << p << "_num_outputs(void);\n"
    << "int64_t " << p << "_input_elements(int32_t i, int64_t batch);\n"
    << "int64_t " << p << "_output_elements(int32_t i, int64_t batch);\n"
    << "/* Writes the dims of input (output) i for `batch` to dims[0, rank) and returns the rank (-1: no such i). */\n"
    << "int32_t " << p << "_input_shape(int32_t i, int64_t batch, int64_t* dims);\n"
    << "int32_t " << p << "_output_shape(int32_t i, int64_t batch, int64_t* dims);\n\n"
    << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h.str();
}

// An ar archive of the model object and every member of `runtime` (if any).
std::string archive_bytes(const std::string& object, const std::string& object_name, const std::string& runtime) {
  std::vector<llvm::NewArchiveMember> members;
  members.emplace_back(llvm::MemoryBufferRef(object, object_name));
  std::unique_ptr<llvm::MemoryBuffer> rt_buf;
  std::unique_ptr<llvm::object::Archive> rt;
  if (!runtime.empty()) {
    auto buf = llvm::MemoryBuffer::getFile(runtime);
    if (!buf) throw Error("aot: cannot read the runtime archive '" + runtime + "': " + buf.getError().message());
    rt_buf = std::move(*buf);
    rt = check(llvm::object::Archive::create(rt_buf->getMemBufferRef()), "reading '" + runtime + "'");
    llvm::Error e = llvm::Error::success();
    for (const llvm::object::Archive::Child& child : rt->children(e))
      members.push_back(check(llvm::NewArchiveMember::getOldMember(child, /*Deterministic=*/true),
                              "reading a member of '" + runtime + "'"));
    if (e) fail("reading '" + runtime + "'", std::move(e));
  }
  auto out = check(llvm::writeArchiveToBuffer(members, /*WriteSymtab=*/true, llvm::object::Archive::K_GNU,
                                              /*Deterministic=*/true, /*Thin=*/false),
                   "writing the archive");
  return out->getBuffer().str();
}

}  // namespace

std::string default_aot_runtime() {
  const char* env = std::getenv("KILN_AOT_RUNTIME");
  if (env && *env) return env;
#ifdef KILN_AOT_RUNTIME_BUILT
  std::error_code ec;
  if (std::filesystem::is_regular_file(KILN_AOT_RUNTIME_BUILT, ec)) return KILN_AOT_RUNTIME_BUILT;
#endif
  return "";
}

AotResult aot_compile(const ir::Graph& g, const std::vector<Tensor>& weights, const AotOptions& opts) {
  const std::string& p = opts.prefix;
  if (!is_c_identifier(p)) throw Error("aot: the prefix '" + p + "' is not a C identifier");
  if (weights.size() > g.params().size())
    throw Error("aot: @" + g.name + " has " + std::to_string(g.params().size()) + " parameters, fewer than the " +
                std::to_string(weights.size()) + " weights");
  const size_t n_in = g.params().size() - weights.size();
  for (size_t i = 0; i < g.params().size(); ++i) {
    const ir::Value* v = g.params()[i];
    if (v->type.dtype != ir::DType::f32)
      throw Error("aot: parameter %" + v->name + " is " + shape_text(v->type) + "; only f32 is supported");
    if (i < n_in) continue;
    const Tensor& w = weights[i - n_in];
    if (v->type.has_batch() || w.dtype() != ir::DType::f32 || w.shape() != v->type.shape)
      throw Error("aot: weight %" + v->name + " is " + shape_text(v->type) + " but the tensor given is " +
                  w.shape_string());
  }
  for (const ir::Value* v : g.results())
    if (v->type.dtype != ir::DType::f32)
      throw Error("aot: result %" + v->name + " is " + shape_text(v->type) + "; only f32 is supported");

  TargetInfo target;
  std::unique_ptr<llvm::TargetMachine> tm = host_machine(target);
  llvm::LLVMContext ctx;
  const std::string kernel_name = p + "_graph";  // the JIT's entry, not in the header
  std::unique_ptr<llvm::Module> m = lower_graph(g, ctx, kernel_name, target);
  m->setDataLayout(tm->createDataLayout());
  m->setTargetTriple(tm->getTargetTriple().str());
  GraphPlan plan = plan_graph(g);
  emit_api(*m, m->getFunction(kernel_name), g, weights, plan, p);
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(*m, &os)) throw Error("aot: generated invalid LLVM IR for @" + g.name + ": " + os.str());
  optimize_module(*m, tm.get());

  llvm::SmallString<0> obj;
  {
    llvm::raw_svector_ostream out(obj);
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, out, nullptr, llvm::CGFT_ObjectFile))
      throw Error("aot: the target cannot emit object files");
    pm.run(*m);
  }
  std::string object(obj.data(), obj.size());

  AotResult r;
  r.fixed_bytes = plan.fixed_bytes;
  r.batch_bytes = plan.batch_bytes;
  if (!opts.object.empty()) runtime::atomic_write(opts.object, object, "aot");
  if (!opts.archive.empty()) {
    if (opts.bundle_runtime) {
      r.runtime_archive = opts.runtime_archive.empty() ? default_aot_runtime() : opts.runtime_archive;
      if (r.runtime_archive.empty())
        throw Error(
            "aot: libkiln_aot_runtime.a not found: build the kiln_aot_runtime target, or set $KILN_AOT_RUNTIME");
    }
    runtime::atomic_write(opts.archive, archive_bytes(object, p + ".o", r.runtime_archive), "aot");
  }
  if (!opts.header.empty())
    runtime::atomic_write(opts.header, header_text(g, weights.size(), plan, p, target.cpu), "aot");
  return r;
}

}  // namespace kiln::codegen
