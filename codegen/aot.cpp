// Ahead-of-time compilation (codegen/aot.h): the JIT's lowering of the
// forward graph (and the train step), each optimized alone with the same
// pipeline (optimize_module) for the host TargetMachine, linked into one module with the
// descriptor of aot_abi.h (initial values as one data blob) and one-line C
// entry points; an object file, a C header and a static library bundling
// libkiln_aot_runtime.a.
#include "codegen/aot.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Object/Archive.h>
#include <llvm/Object/ArchiveWriter.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "codegen/aot_abi.h"
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
  target.vector_width = vector_width_bits(target.features);
  return check(jtmb.createTargetMachine(), "creating the target machine");
}

// One tensor of the descriptor (aot_abi.h): name and dims (batch dims as -k).
struct TensorDesc {
  std::string name;
  ir::Dims dims;
};
using TensorLists = std::array<std::vector<TensorDesc>, KILN_AOT_KINDS>;

// IR dims already encode a batch dim N*k as -k (ir::batch_dim).
TensorDesc desc_of(const ir::Value* v) { return {v->name, v->type.shape}; }

// The compiled graph functions and their scratch.
struct Program {
  llvm::Function* fn = nullptr;
  GraphPlan plan;
};

// Private string constant; returns its address.
llvm::Constant* cstring(llvm::Module& m, const std::string& text) {
  auto* init = llvm::ConstantDataArray::getString(m.getContext(), text);
  auto* g = new llvm::GlobalVariable(m, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init);
  g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  return g;
}

// Private constant array of `elems` (of type `elem`); null for none.
llvm::Constant* const_array(llvm::Module& m, llvm::Type* elem, const std::vector<llvm::Constant*>& elems) {
  if (elems.empty()) return llvm::ConstantPointerNull::get(llvm::PointerType::get(m.getContext(), 0));
  auto* ty = llvm::ArrayType::get(elem, elems.size());
  return new llvm::GlobalVariable(m, ty, true, llvm::GlobalValue::PrivateLinkage, llvm::ConstantArray::get(ty, elems));
}

// The descriptor `<p>_model` (struct kiln_aot_model; field order as in aot_abi.h).
llvm::GlobalVariable* emit_descriptor(llvm::Module& m, const std::string& p, const TensorLists& lists,
                                      const std::vector<const Tensor*>& initial, const Program& predict,
                                      const Program* train, double learning_rate) {
  static_assert(sizeof(kiln_aot_model) == 21 * 8, "aot_abi.h's kiln_aot_model changed: update emit_descriptor");
  static_assert(sizeof(kiln_aot_tensor) == 3 * 8, "aot_abi.h's kiln_aot_tensor changed: update emit_descriptor");
  llvm::LLVMContext& c = m.getContext();
  llvm::Type* i64 = llvm::Type::getInt64Ty(c);
  llvm::PointerType* ptr = llvm::PointerType::get(c, 0);
  auto k64 = [&](int64_t v) { return llvm::ConstantInt::get(i64, static_cast<uint64_t>(v), true); };
  auto* tensor_ty = llvm::StructType::get(c, {ptr, i64, ptr});

  std::vector<llvm::Constant*> counts, tensors;
  for (const std::vector<TensorDesc>& list : lists) {
    std::vector<llvm::Constant*> elems;
    for (const TensorDesc& t : list) {
      std::vector<llvm::Constant*> dims;
      for (int64_t d : t.dims) dims.push_back(k64(d));
      elems.push_back(llvm::ConstantStruct::get(
          tensor_ty, {cstring(m, t.name), k64(static_cast<int64_t>(t.dims.size())), const_array(m, i64, dims)}));
    }
    counts.push_back(k64(static_cast<int64_t>(list.size())));
    tensors.push_back(const_array(m, tensor_ty, elems));
  }

  // Initial values: one 64-aligned blob, weights then slots.
  std::string blob;
  std::vector<llvm::Constant*> offsets;
  for (const Tensor* t : initial) {
    offsets.push_back(k64(static_cast<int64_t>(blob.size())));
    blob.append(static_cast<const char*>(t->raw()), t->nbytes());
    blob.resize(static_cast<size_t>(align_up(static_cast<int64_t>(blob.size()))), '\0');
  }
  if (blob.empty()) blob.assign(kAlign, '\0');
  auto* data = llvm::ConstantDataArray::getRaw(blob, blob.size(), llvm::Type::getInt8Ty(c));
  auto* blob_var = new llvm::GlobalVariable(m, data->getType(), true, llvm::GlobalValue::PrivateLinkage, data,
                                            p + "_initial");
  blob_var->setAlignment(llvm::Align(kAlign));

  auto* counts_ty = llvm::ArrayType::get(i64, KILN_AOT_KINDS);
  auto* tensors_ty = llvm::ArrayType::get(ptr, KILN_AOT_KINDS);
  llvm::Constant* null = llvm::ConstantPointerNull::get(ptr);
  std::vector<llvm::Constant*> fields = {
      llvm::ConstantArray::get(counts_ty, counts),
      llvm::ConstantArray::get(tensors_ty, tensors),
      blob_var,
      const_array(m, i64, offsets),
      predict.fn,
      k64(predict.plan.fixed_bytes),
      k64(predict.plan.batch_bytes),
      train ? static_cast<llvm::Constant*>(train->fn) : null,
      k64(train ? train->plan.fixed_bytes : 0),
      k64(train ? train->plan.batch_bytes : 0),
      llvm::ConstantFP::get(llvm::Type::getDoubleTy(c), learning_rate)};
  std::vector<llvm::Type*> types;
  for (llvm::Constant* f : fields) types.push_back(f->getType());
  auto* model_ty = llvm::StructType::get(c, types);
  auto* model = new llvm::GlobalVariable(m, model_ty, true, llvm::GlobalValue::ExternalLinkage,
                                         llvm::ConstantStruct::get(model_ty, fields), p + "_model");
  model->setAlignment(llvm::Align(8));
  return model;
}

// The C entry points: each `<p>_<name>` calls one kiln_aot_* function of
// aot_runtime.cpp, with the descriptor and a tensor kind where it takes them.
void emit_entry_points(llvm::Module& m, const std::string& p, llvm::GlobalVariable* model) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  llvm::Type *i32 = b.getInt32Ty(), *i64 = b.getInt64Ty(), *ptr = b.getPtrTy(), *f32 = b.getFloatTy(),
             *f64 = b.getDoubleTy(), *void_ty = b.getVoidTy();
  constexpr int None = -1;  // Entry::kind: no kiln_aot_kind argument
  struct Entry {
    std::string name;
    llvm::Type* ret;
    std::vector<llvm::Type*> args;
    const char* runtime;
    bool with_model;
    int kind;
    bool batch_one = false;  // append batch = 1 (weights and slots have no batch dim)
  };
  const std::vector<Entry> entries = {
      {"arena_bytes", i64, {i64}, "kiln_aot_arena_bytes", true, None},
      {"predict", i32, {ptr, ptr, i64, ptr}, "kiln_aot_predict_embedded", true, None},
      {"learning_rate", f64, {}, "kiln_aot_learning_rate", true, None},
      {"create", ptr, {}, "kiln_aot_create", true, None},
      {"destroy", void_ty, {ptr}, "kiln_aot_destroy", false, None},
      {"state_predict", i32, {ptr, ptr, ptr, i64}, "kiln_aot_predict", false, None},
      {"train_step", i32, {ptr, ptr, ptr, i64, f32, ptr}, "kiln_aot_train_step", false, None},
      {"weight", ptr, {ptr, i32}, "kiln_aot_tensor_data", false, KILN_AOT_WEIGHTS},
      {"slot", ptr, {ptr, i32}, "kiln_aot_tensor_data", false, KILN_AOT_SLOTS},
      {"num_inputs", i32, {}, "kiln_aot_count", true, KILN_AOT_INPUTS},
      {"num_targets", i32, {}, "kiln_aot_count", true, KILN_AOT_TARGETS},
      {"num_outputs", i32, {}, "kiln_aot_count", true, KILN_AOT_OUTPUTS},
      {"num_logs", i32, {}, "kiln_aot_count", true, KILN_AOT_LOGS},
      {"num_weights", i32, {}, "kiln_aot_count", true, KILN_AOT_WEIGHTS},
      {"num_slots", i32, {}, "kiln_aot_count", true, KILN_AOT_SLOTS},
      {"input_elements", i64, {i32, i64}, "kiln_aot_elements", true, KILN_AOT_INPUTS},
      {"target_elements", i64, {i32, i64}, "kiln_aot_elements", true, KILN_AOT_TARGETS},
      {"output_elements", i64, {i32, i64}, "kiln_aot_elements", true, KILN_AOT_OUTPUTS},
      {"weight_elements", i64, {i32}, "kiln_aot_elements", true, KILN_AOT_WEIGHTS, true},
      {"slot_elements", i64, {i32}, "kiln_aot_elements", true, KILN_AOT_SLOTS, true},
      {"input_shape", i32, {i32, i64, ptr}, "kiln_aot_shape", true, KILN_AOT_INPUTS},
      {"target_shape", i32, {i32, i64, ptr}, "kiln_aot_shape", true, KILN_AOT_TARGETS},
      {"output_shape", i32, {i32, i64, ptr}, "kiln_aot_shape", true, KILN_AOT_OUTPUTS},
      {"input_name", ptr, {i32}, "kiln_aot_name", true, KILN_AOT_INPUTS},
      {"output_name", ptr, {i32}, "kiln_aot_name", true, KILN_AOT_OUTPUTS},
      {"log_name", ptr, {i32}, "kiln_aot_name", true, KILN_AOT_LOGS},
      {"weight_name", ptr, {i32}, "kiln_aot_name", true, KILN_AOT_WEIGHTS},
      {"slot_name", ptr, {i32}, "kiln_aot_name", true, KILN_AOT_SLOTS},
  };
  for (const Entry& e : entries) {
    auto* fn = llvm::Function::Create(llvm::FunctionType::get(e.ret, e.args, false),
                                      llvm::GlobalValue::ExternalLinkage, p + "_" + e.name, m);
    b.SetInsertPoint(llvm::BasicBlock::Create(c, "entry", fn));
    std::vector<llvm::Value*> args;
    std::vector<llvm::Type*> types;
    auto add = [&](llvm::Value* v) {
      args.push_back(v);
      types.push_back(v->getType());
    };
    if (e.with_model) add(model);
    // kiln_aot_tensor_data takes the state first, then the kind.
    if (!e.with_model && e.kind != None) add(fn->getArg(0));
    if (e.kind != None) add(b.getInt32(static_cast<uint32_t>(e.kind)));
    for (unsigned i = (!e.with_model && e.kind != None) ? 1 : 0; i < fn->arg_size(); ++i) add(fn->getArg(i));
    if (e.batch_one) add(b.getInt64(1));
    // The runtime returns counts as int64_t; the C API's counts are int32_t.
    llvm::Type* rt_ret = e.runtime == std::string("kiln_aot_count") ? i64 : e.ret;
    llvm::Value* r = b.CreateCall(m.getOrInsertFunction(e.runtime, llvm::FunctionType::get(rt_ret, types, false)), args);
    if (e.ret->isVoidTy())
      b.CreateRetVoid();
    else
      b.CreateRet(rt_ret == e.ret ? r : b.CreateTrunc(r, e.ret));
  }
}

// The C header: the model's tensors in a comment, count and size macros, and
// every entry point of emit_entry_points with its contract.
std::string header_text(const std::string& graph_name, const TensorLists& lists, const GraphPlan& plan,
                        bool has_train, const std::string& p, const std::string& cpu) {
  std::string up;
  for (char ch : p) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  static const char* kKindNames[KILN_AOT_KINDS] = {"input", "target", "output", "log", "weight", "slot"};
  static const char* kKindMacros[KILN_AOT_KINDS] = {"INPUTS", "TARGETS", "OUTPUTS", "LOGS", "WEIGHTS", "SLOTS"};
  std::ostringstream h;
  h << "/* Generated by Kiln's AOT export (kiln compile --aot, Model::export_aot) from @" << graph_name
    << ": do not edit.\n"
    << " * Native code for the CPU '" << cpu << "' (the compiling machine's); weights"
    << (has_train ? " and optimizer state" : "") << " embedded.\n"
    << " * Link: the archive (lib" << p << ".a or the name given) -lstdc++ -lm. No LLVM at run time.\n"
    << " *\n"
    << " * Buffers are row-major float32 (targets too: class ids as floats for sparse losses);\n"
    << " * N is the batch size passed to the call.\n";
  for (int k = 0; k < KILN_AOT_KINDS; ++k)
    for (size_t i = 0; i < lists[k].size(); ++i)
      h << " * " << kKindNames[k] << " " << i << " '" << lists[k][i].name << "': f32"
        << ir::dims_to_string(lists[k][i].dims) << "\n";
  h << " */\n"
    << "#ifndef " << up << "_AOT_H\n#define " << up << "_AOT_H\n\n"
    << "#include <stddef.h>\n#include <stdint.h>\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "#define " << up << "_HAS_TRAIN_STEP " << (has_train ? 1 : 0) << "\n";
  for (int k = 0; k < KILN_AOT_KINDS; ++k) h << "#define " << up << "_NUM_" << kKindMacros[k] << " " << lists[k].size() << "\n";
  for (int k : {KILN_AOT_INPUTS, KILN_AOT_TARGETS, KILN_AOT_OUTPUTS})
    for (size_t i = 0; i < lists[k].size(); ++i) {
      int64_t c = 1;
      bool has_n = false;
      for (int64_t d : lists[k][i].dims) {
        c *= d < 0 ? -d : d;
        has_n |= d < 0;
      }
      std::string what = kKindMacros[k];
      what.pop_back();  // INPUTS -> INPUT
      h << "#define " << up << "_" << what << "_" << i << "_ELEMENTS(batch) ((int64_t)" << c
        << (has_n ? " * (int64_t)(batch))" : ")") << "\n";
    }
  h << "\n/* ---- Predict with the embedded weights (stateless; any number of threads). ---- */\n\n"
    << "/* Scratch bytes " << p << "_predict needs for a batch of N (" << plan.fixed_bytes << " + " << plan.batch_bytes
    << " * N). */\n"
    << "int64_t " << p << "_arena_bytes(int64_t batch);\n"
    << "/* Runs the model on `batch` samples: inputs[i] points to input i's elements, outputs[j] to room for\n"
    << " * output j's (written entirely). arena: NULL (allocated and freed here) or " << p << "_arena_bytes(batch)\n"
    << " * bytes aligned to 64, reused across calls of one thread.\n"
    << " * Returns 0, 1 (integer division by zero), 2 (out of memory), 3 (batch < 0) or 5 (NULL lists). */\n"
    << "int32_t " << p << "_predict(const float* const* inputs, float* const* outputs, int64_t batch, void* arena);\n\n"
    << "/* ---- A state: the weights and optimizer slots, for training and predicting with them. ---- */\n\n"
    << "typedef struct kiln_aot_state " << p << "_state;\n"
    << "/* A state holding copies of the embedded weights and optimizer slots; NULL when out of memory.\n"
    << " * One state serves one thread at a time; states are independent. */\n"
    << p << "_state* " << p << "_create(void);\n"
    << "void " << p << "_destroy(" << p << "_state* state);\n"
    << "/* " << p << "_predict with the state's current weights. Same return codes. */\n"
    << "int32_t " << p << "_state_predict(" << p
    << "_state* state, const float* const* inputs, float* const* outputs, int64_t batch);\n"
    << "/* One optimizer step on a batch (Keras's train_on_batch): updates the state's weights and slots and,\n"
    << " * when `logs` is not NULL, writes the " << up << "_NUM_LOGS batch logs (loss first; see " << p << "_log_name)\n"
    << " * as computed before the update. learning_rate: e.g. " << p << "_learning_rate().\n"
    << " * Returns 0, 1, 2, 3, 5 as above, or 4 (exported without a train step: " << up << "_HAS_TRAIN_STEP 0). */\n"
    << "int32_t " << p << "_train_step(" << p
    << "_state* state, const float* const* inputs, const float* const* targets, int64_t batch,\n"
    << "                         float learning_rate, float* logs);\n"
    << "/* The learning rate the model had when it was exported. */\n"
    << "double " << p << "_learning_rate(void);\n"
    << "/* Weight i (get_weights() order) and optimizer slot i (slot 0: the step counter, then each weight's\n"
    << " * slots) of the state: " << p << "_weight_elements(i) floats, read and write; the address stays valid\n"
    << " * until " << p << "_destroy. NULL for no such i. */\n"
    << "float* " << p << "_weight(" << p << "_state* state, int32_t i);\n"
    << "float* " << p << "_slot(" << p << "_state* state, int32_t i);\n\n"
    << "/* ---- The same numbers as the macros above, and names, for generic code. ---- */\n"
    << "int32_t " << p << "_num_inputs(void);\n"
    << "int32_t " << p << "_num_targets(void);\n"
    << "int32_t " << p << "_num_outputs(void);\n"
    << "int32_t " << p << "_num_logs(void);\n"
    << "int32_t " << p << "_num_weights(void);\n"
    << "int32_t " << p << "_num_slots(void);\n"
    << "/* Elements of input (target, output) i for `batch`; -1: no such i. */\n"
    << "int64_t " << p << "_input_elements(int32_t i, int64_t batch);\n"
    << "int64_t " << p << "_target_elements(int32_t i, int64_t batch);\n"
    << "int64_t " << p << "_output_elements(int32_t i, int64_t batch);\n"
    << "int64_t " << p << "_weight_elements(int32_t i);\n"
    << "int64_t " << p << "_slot_elements(int32_t i);\n"
    << "/* Writes the dims of input (target, output) i for `batch` to dims[0, rank) and returns the rank\n"
    << " * (-1: no such i). */\n"
    << "int32_t " << p << "_input_shape(int32_t i, int64_t batch, int64_t* dims);\n"
    << "int32_t " << p << "_target_shape(int32_t i, int64_t batch, int64_t* dims);\n"
    << "int32_t " << p << "_output_shape(int32_t i, int64_t batch, int64_t* dims);\n"
    << "/* Names (\"dense.kernel\", \"loss\", \"optimizer.dense.kernel.m\", ...); NULL: no such i. */\n"
    << "const char* " << p << "_input_name(int32_t i);\n"
    << "const char* " << p << "_output_name(int32_t i);\n"
    << "const char* " << p << "_log_name(int32_t i);\n"
    << "const char* " << p << "_weight_name(int32_t i);\n"
    << "const char* " << p << "_slot_name(int32_t i);\n\n"
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


// Lowers `g` into its own module (entry `name`), optimized as the JIT does;
// with update_params its entry updates parameters in place (plan.h).
std::unique_ptr<llvm::Module> compile_graph_module(const ir::Graph& g, llvm::LLVMContext& ctx, const std::string& name,
                                                   const TargetInfo& target, llvm::TargetMachine* tm,
                                                   bool update_params) {
  std::unique_ptr<llvm::Module> m = lower_graph(g, ctx, name, target, nullptr, update_params);
  m->setDataLayout(tm->createDataLayout());
  m->setTargetTriple(tm->getTargetTriple().str());
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(*m, &os)) throw Error("aot: generated invalid LLVM IR for @" + g.name + ": " + os.str());
  optimize_module(*m, tm);
  return m;
}

// Checks that every parameter and result of `g` is f32 (`what` names the graph).
void check_f32(const ir::Graph& g) {
  for (const ir::Value* v : g.params())
    if (v->type.dtype != ir::DType::f32)
      throw Error("aot: parameter %" + v->name + " of @" + g.name + " is " + v->type.to_string() +
                  "; only f32 is supported");
  for (const ir::Value* v : g.results())
    if (v->type.dtype != ir::DType::f32)
      throw Error("aot: result %" + v->name + " of @" + g.name + " is " + v->type.to_string() +
                  "; only f32 is supported");
}

// Checks that `t` is a concrete f32 tensor of `v`'s type (`what`: "weight", "optimizer slot").
void check_tensor(const ir::Value* v, const Tensor& t, const std::string& what) {
  if (v->type.has_batch() || t.dtype() != ir::DType::f32 || t.shape() != v->type.shape)
    throw Error("aot: " + what + " %" + v->name + " is " + v->type.to_string() + " but the tensor given is " +
                t.shape_string());
}

// The tensor lists of the descriptor; checks the train step's signature against the forward graph.
TensorLists tensor_lists(const ir::Graph& fwd, const std::vector<Tensor>& weights, const AotTrainStep* train) {
  if (weights.size() > fwd.params().size())
    throw Error("aot: @" + fwd.name + " has " + std::to_string(fwd.params().size()) + " parameters, fewer than the " +
                std::to_string(weights.size()) + " weights");
  check_f32(fwd);
  const size_t n_in = fwd.params().size() - weights.size(), nw = weights.size();
  TensorLists l;
  for (size_t i = 0; i < fwd.params().size(); ++i) {
    if (i >= n_in) check_tensor(fwd.params()[i], weights[i - n_in], "weight");
    l[i < n_in ? KILN_AOT_INPUTS : KILN_AOT_WEIGHTS].push_back(desc_of(fwd.params()[i]));
  }
  for (const ir::Value* v : fwd.results()) l[KILN_AOT_OUTPUTS].push_back(desc_of(v));
  if (!train) return l;

  const ir::Graph& g = *train->graph;
  check_f32(g);
  const size_t nt = train->num_targets, ns = train->slots.size(), nl = train->log_names.size();
  if (g.params().size() != n_in + nt + nw + ns + 1 || g.results().size() != nl + nw + ns)
    throw Error("aot: @" + g.name + " has " + std::to_string(g.params().size()) + " parameters and " +
                std::to_string(g.results().size()) + " results; a train step of this model with " +
                std::to_string(nt) + " targets, " + std::to_string(ns) + " optimizer slots and " + std::to_string(nl) +
                " logs has " + std::to_string(n_in + nt + nw + ns + 1) + " and " + std::to_string(nl + nw + ns));
  auto same = [&](const ir::Value* a, const ir::Value* b) {
    if (a->type != b->type)
      throw Error("aot: %" + a->name + " of @" + g.name + " is " + a->type.to_string() + " but %" + b->name + " is " +
                  b->type.to_string());
  };
  for (size_t i = 0; i < n_in; ++i) same(g.params()[i], fwd.params()[i]);
  for (size_t w = 0; w < nw; ++w) {
    same(g.params()[n_in + nt + w], fwd.params()[n_in + w]);
    same(g.results()[nl + w], fwd.params()[n_in + w]);
  }
  for (size_t s = 0; s < ns; ++s) {
    check_tensor(g.params()[n_in + nt + nw + s], train->slots[s], "optimizer slot");
    same(g.results()[nl + nw + s], g.params()[n_in + nt + nw + s]);
  }
  for (size_t i = 0; i < nl; ++i)
    if (!g.results()[i]->type.shape.empty())
      throw Error("aot: log '" + train->log_names[i] + "' of @" + g.name + " is " + g.results()[i]->type.to_string() +
                  ", not a scalar");
  if (!g.params().back()->type.shape.empty())
    throw Error("aot: the learning rate %" + g.params().back()->name + " of @" + g.name + " is not a scalar");
  for (size_t t = 0; t < nt; ++t) l[KILN_AOT_TARGETS].push_back(desc_of(g.params()[n_in + t]));
  for (const std::string& n : train->log_names) l[KILN_AOT_LOGS].push_back({n, {}});
  for (size_t s = 0; s < ns; ++s) l[KILN_AOT_SLOTS].push_back(desc_of(g.params()[n_in + nt + nw + s]));
  return l;
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

AotResult aot_compile(const ir::Graph& forward, const std::vector<Tensor>& weights, const AotOptions& opts,
                      const AotTrainStep* train) {
  const std::string& p = opts.prefix;
  if (!is_c_identifier(p)) throw Error("aot: the prefix '" + p + "' is not a C identifier");
  if (train && !train->graph) throw Error("aot: the train step has no graph");
  const TensorLists lists = tensor_lists(forward, weights, train);

  TargetInfo target;
  std::unique_ptr<llvm::TargetMachine> tm = host_machine(target);
  llvm::LLVMContext ctx;
  // Each graph in its own module, optimized alone (as the JIT compiles it), then linked into one.
  std::unique_ptr<llvm::Module> m = compile_graph_module(forward, ctx, p + "_predict_graph", target, tm.get(), false);
  Program predict{nullptr, plan_graph(forward)};
  Program train_prog;
  std::vector<const Tensor*> initial;
  for (const Tensor& w : weights) initial.push_back(&w);
  if (train) {
    train_prog.plan = plan_graph(*train->graph, true);
    if (llvm::Linker::linkModules(*m, compile_graph_module(*train->graph, ctx, p + "_train_graph", target, tm.get(), true)))
      throw Error("aot: linking the train step of @" + forward.name + " failed");
    train_prog.fn = m->getFunction(p + "_train_graph");
    for (const Tensor& s : train->slots) initial.push_back(&s);
  }
  predict.fn = m->getFunction(p + "_predict_graph");
  llvm::GlobalVariable* model = emit_descriptor(*m, p, lists, initial, predict, train ? &train_prog : nullptr,
                                                train ? train->learning_rate : 0.0);
  emit_entry_points(*m, p, model);
  std::string msg;
  llvm::raw_string_ostream os(msg);
  if (llvm::verifyModule(*m, &os)) throw Error("aot: generated invalid LLVM IR for @" + forward.name + ": " + os.str());

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
  r.fixed_bytes = predict.plan.fixed_bytes;
  r.batch_bytes = predict.plan.batch_bytes;
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
    runtime::atomic_write(opts.header, header_text(forward.name, lists, predict.plan, train != nullptr, p, target.cpu),
                          "aot");
  return r;
}

}  // namespace kiln::codegen
