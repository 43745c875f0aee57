// The JIT's caches and dumps: in-memory hits, the on-disk object cache across
// Jit instances (a stand-in for a second process): hit, miss, corrupt,
// truncated and foreign files (another CPU, another build of the code
// generator: tests/codegen/build_id_test.cmake checks that its id follows the
// sources); the optimized IR and assembly of the MLP train
// step show packed AVX (ymm/zmm) arithmetic.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "ir/parser.h"
#include "jit_test_util.h"
#include "kiln/kiln.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace kiln;

namespace {

const char* kGraph = R"(func @cached(%x: f32[N,10], %w: f32[10,3], %b: f32[3]) -> (f32[N,3]) {
  %m = matmul %x, %w : f32[N,3]
  %a = add %m, %b {broadcast_dims=[1]} : f32[N,3]
  %y = tanh %a : f32[N,3]
  return %y
}
)";

class DiskCache : public ::testing::Test {
 protected:
  std::string dir;
  std::unique_ptr<ir::Graph> g = ir::parse_graph(kGraph);
  std::vector<Tensor> args = jit_test::random_args(*g, 5, 1);
  std::vector<Tensor> want = runtime::interpret(*g, args);

  void SetUp() override {
    char tmpl[] = "/tmp/kiln-jit-cache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // A fresh Jit on `dir` compiles g, runs it and returns its stats.
  codegen::JitStats compile_fresh() {
    codegen::Jit jit(codegen::JitOptions{.cache_dir = dir, .disk_cache = true});
    auto prog = jit.compile(*g);
    std::vector<Tensor> got = prog->run(args);
    EXPECT_TRUE(jit_test::close(got[0], want[0], 0));
    return jit.stats();
  }
  std::string cache_file() {
    for (const auto& e : std::filesystem::directory_iterator(dir)) return e.path().string();
    return "";
  }
  std::string read_file(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write_file(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
};

TEST_F(DiskCache, MissThenHitInANewJit) {
  codegen::JitStats first = compile_fresh();
  EXPECT_EQ(first.compilations, 1);
  EXPECT_EQ(first.disk_hits, 0);
  ASSERT_FALSE(cache_file().empty());
  EXPECT_EQ(read_file(cache_file()).rfind("KILNOBJ 2\n", 0), 0u);
  codegen::JitStats second = compile_fresh();
  EXPECT_EQ(second.compilations, 0);
  EXPECT_EQ(second.disk_hits, 1);
}

TEST_F(DiskCache, CorruptObjectIsRejectedAndRecompiled) {
  compile_fresh();
  std::string file = cache_file(), bytes = read_file(file);
  bytes[bytes.size() - 100] ^= 0x5a;  // inside the object
  write_file(file, bytes);
  codegen::JitStats s = compile_fresh();
  EXPECT_EQ(s.disk_rejected, 1);
  EXPECT_EQ(s.compilations, 1);
  EXPECT_EQ(compile_fresh().disk_hits, 1);  // rewritten, good again
}

TEST_F(DiskCache, TruncatedGarbageAndForeignFilesAreRejected) {
  compile_fresh();
  std::string file = cache_file(), good = read_file(file);
  std::string foreign = std::regex_replace(good, std::regex("\ncpu=[^\n]*\n"), "\ncpu=some-other-cpu\n");
  // The same kCodegenVersion built from other sources (another worktree).
  std::string other_build = std::regex_replace(good, std::regex("\n(codegen=kiln-codegen-[0-9]+) [0-9a-f]{32}\n"),
                                               "\n$1 0123456789abcdef0123456789abcdef\n");
  ASSERT_NE(other_build, good) << "no codegen=<version> <build id> line in the cache file's header";
  for (const std::string& bad :
       {good.substr(0, good.size() / 2), std::string("not a cache file"), foreign, other_build, std::string()}) {
    write_file(file, bad);
    codegen::JitStats s = compile_fresh();
    EXPECT_EQ(s.disk_rejected, 1);
    EXPECT_EQ(s.compilations, 1);
  }
}

TEST_F(DiskCache, AnotherGraphIsAMiss) {
  compile_fresh();
  auto other = ir::parse_graph(std::regex_replace(kGraph, std::regex("tanh"), "sigmoid"));
  codegen::Jit jit(codegen::JitOptions{.cache_dir = dir, .disk_cache = true});
  jit.compile(*other);
  EXPECT_EQ(jit.stats().compilations, 1);
  EXPECT_EQ(jit.stats().disk_hits, 0);
}

// Many programs loaded from the disk cache into one Jit all stay linked and
// run. With LLVM 16, an object linked under a tracker that was then dropped
// had its resources moved to the JITDylib's default tracker, whose key the
// linking layer's map did not hold yet; the insert that grew the map left the
// move reading a stale bucket, the program's code was freed, and a warm
// cache crashed the ~50th program a process loaded (llvm-project PR 114063).
TEST_F(DiskCache, ManyProgramsLoadedInOneJitAllRun) {
  constexpr int kPrograms = 80;
  auto program = [](int i) {
    return ir::parse_graph("func @scaled(%x: f32[N,4]) -> (f32[N,4]) {\n  %c = constant {value=" + std::to_string(i) +
                           ".5, shape=[]} : f32[]\n  %y = mul %x, %c : f32[N,4]\n  return %y\n}\n");
  };
  std::vector<std::unique_ptr<ir::Graph>> graphs;
  for (int i = 0; i < kPrograms; ++i) graphs.push_back(program(i));
  std::vector<Tensor> x = jit_test::random_args(*graphs[0], 3, 7);
  for (int pass = 0; pass < 2; ++pass) {  // compile and store, then load every one
    codegen::Jit jit(codegen::JitOptions{.cache_dir = dir, .disk_cache = true});
    std::vector<std::unique_ptr<codegen::CompiledProgram>> progs;
    for (const auto& gr : graphs) progs.push_back(jit.compile(*gr));
    for (int i = 0; i < kPrograms; ++i)
      ASSERT_TRUE(jit_test::close(progs[i]->run(x)[0], runtime::interpret(*graphs[i], x)[0], 0)) << "program " << i << (pass ? ", loaded from disk" : ", compiled");
    EXPECT_EQ(jit.stats().disk_hits, pass == 0 ? 0 : kPrograms);
  }
}

TEST(JitRun, BadArgumentsThrowLikeTheInterpreter) {
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto g = ir::parse_graph(kGraph);
  auto prog = jit.compile(*g);
  std::vector<Tensor> args = jit_test::random_args(*g, 4, 2);
  args[1] = Tensor::zeros({9, 3});
  EXPECT_THROW(prog->run(args), Error);
  args.pop_back();
  EXPECT_THROW(prog->run(args), Error);
}

TEST(JitDump, MlpTrainStepIsPackedVectorCode) {
  std::unique_ptr<ir::Graph> g = jit_test::mlp_train_step(false);
  codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
  auto prog = jit.compile(*g);
  std::string ir = prog->llvm_ir();
  EXPECT_NE(ir.find("define void @kiln_" + prog->hash()), std::string::npos);
  EXPECT_TRUE(ir.find("<16 x float>") != std::string::npos || ir.find("<8 x float>") != std::string::npos);
  std::string as = prog->asm_text();
  std::regex packed(R"(\bv(fmadd\w*|mul|add|sub|div|max|min)ps\s+[^\n]*%[yz]mm)");
  EXPECT_TRUE(std::regex_search(as, packed)) << "no packed ymm/zmm float arithmetic in the MLP train step";
  EXPECT_EQ(jit.stats().compilations, 1);  // dumps do not add code to the JIT
}

// KILN_JIT_PERF=1 makes LLVM write a perf jitdump naming the compiled entry,
// so `perf inject --jit` can attribute samples to it.
TEST(JitDump, PerfJitdumpNamesTheEntry) {
  char tmpl[] = "/tmp/kiln-jitdump-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  setenv("JITDUMPDIR", tmpl, 1);
  setenv("KILN_JIT_PERF", "1", 1);
  std::string hash;
  {
    codegen::Jit jit(codegen::JitOptions{.cache_dir = "", .disk_cache = false});
    hash = jit.compile(*ir::parse_graph(kGraph))->hash();
  }
  unsetenv("KILN_JIT_PERF");
  std::string dump;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmpl))
    if (e.path().filename().string().rfind("jit-", 0) == 0) {
      std::ifstream in(e.path(), std::ios::binary);
      dump.assign(std::istreambuf_iterator<char>(in), {});
    }
  std::filesystem::remove_all(tmpl);
  EXPECT_NE(dump.find("kiln_" + hash), std::string::npos) << "no jit-*.dump naming the entry under JITDUMPDIR";
}

}  // namespace
