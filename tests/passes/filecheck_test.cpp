// A small FileCheck: every tests/data/passes/*.kir with a `// RUN: pass,pass`
// line is parsed, run through those passes (verifying after each) and printed
// as the last pass prints it; the file's directives then check the output:
//   // CHECK: text        a later line contains text
//   // CHECK-NEXT: text   the line right after the previous match contains text
//   // CHECK-NOT: text    no line between the previous match and the next
//                         CHECK (or the end) contains text
// Matching is by substring, in order, like LLVM's FileCheck without regexes.
// One test case per file, named after it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"

namespace kiln::passes {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

struct Directive {
  enum Kind { Check, Next, Not } kind;
  std::string text;
  int line;  // in the test file, for messages
};

struct TestFile {
  std::string run;
  std::vector<Directive> checks;
};

TestFile directives(const std::string& text) {
  TestFile t;
  int n = 0;
  for (const std::string& l : lines_of(text)) {
    ++n;
    size_t c = l.find("//");
    if (c == std::string::npos) continue;
    std::string body = trim(l.substr(c + 2));
    auto take = [&](const std::string& tag, Directive::Kind k) {
      if (body.rfind(tag, 0) != 0) return false;
      t.checks.push_back({k, trim(body.substr(tag.size())), n});
      return true;
    };
    if (body.rfind("RUN:", 0) == 0) t.run = trim(body.substr(4));
    else if (!take("CHECK-NEXT:", Directive::Next) && !take("CHECK-NOT:", Directive::Not)) take("CHECK:", Directive::Check);
  }
  return t;
}

// Empty when every directive holds, else what failed.
std::string check_output(const std::vector<std::string>& out, const std::vector<Directive>& ds) {
  size_t cursor = 0;   // first line after the previous match
  bool matched = false;
  std::vector<const Directive*> nots;
  auto check_nots = [&](size_t from, size_t to) -> std::string {
    for (const Directive* d : nots)
      for (size_t i = from; i < to && i < out.size(); ++i)
        if (out[i].find(d->text) != std::string::npos)
          return "line " + std::to_string(d->line) + ": CHECK-NOT: '" + d->text + "' found in output line " +
                 std::to_string(i + 1) + ": " + out[i];
    nots.clear();
    return "";
  };
  for (const Directive& d : ds) {
    if (d.kind == Directive::Not) {
      nots.push_back(&d);
      continue;
    }
    if (d.kind == Directive::Next) {
      if (!matched || cursor >= out.size() || out[cursor].find(d.text) == std::string::npos)
        return "line " + std::to_string(d.line) + ": CHECK-NEXT: '" + d.text + "' is not on output line " +
               std::to_string(cursor + 1) + (cursor < out.size() ? ": " + out[cursor] : " (end)");
      if (std::string e = check_nots(cursor, cursor); !e.empty()) return e;
      ++cursor;
      continue;
    }
    size_t i = cursor;
    while (i < out.size() && out[i].find(d.text) == std::string::npos) ++i;
    if (i == out.size())
      return "line " + std::to_string(d.line) + ": CHECK: '" + d.text + "' not found after output line " +
             std::to_string(cursor);
    if (std::string e = check_nots(cursor, i); !e.empty()) return e;
    cursor = i + 1;
    matched = true;
  }
  return check_nots(cursor, out.size());
}

std::vector<fs::path> test_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(KILN_TEST_DATA) / "passes"))
    if (e.path().extension() == ".kir" && !directives(read_file(e.path())).run.empty()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

class FileCheck : public ::testing::TestWithParam<fs::path> {};

TEST_P(FileCheck, Passes) {
  const fs::path& path = GetParam();
  std::string text = read_file(path);
  TestFile t = directives(text);
  ASSERT_FALSE(t.checks.empty()) << path << " has a RUN line but no CHECK";
  auto g = ir::parse_graph(text, path.string());
  PassOptions opts;
  opts.verify_each = true;
  PassManager pm(opts);
  pm.add_pipeline(t.run);
  pm.run(*g);
  const Pass* last = pm.pipeline().back();
  std::string out = last->print ? last->print(*g) : ir::to_string(*g);
  std::string err = check_output(lines_of(out), t.checks);
  EXPECT_TRUE(err.empty()) << path.filename().string() << ":" << err << "\n--- output ---\n" << out;
  // Whatever a pass prints parses back (plan comments included) and prints the same IR.
  EXPECT_EQ(ir::to_string(*ir::parse_graph(out, "<output>")), ir::to_string(*g));
}

INSTANTIATE_TEST_SUITE_P(Kir, FileCheck, ::testing::ValuesIn(test_files()),
                         [](const ::testing::TestParamInfo<fs::path>& i) {
                           std::string n = i.param.stem().string();
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(FileCheckRunner, DirectivesMatchInOrder) {
  std::vector<std::string> out{"a = add", "b = mul", "c = relu", "return c"};
  auto ds = [](std::vector<Directive> d) { return d; };
  EXPECT_EQ(check_output(out, ds({{Directive::Check, "add", 1}, {Directive::Next, "mul", 2}})), "");
  EXPECT_NE(check_output(out, ds({{Directive::Check, "add", 1}, {Directive::Next, "relu", 2}})), "");
  EXPECT_NE(check_output(out, ds({{Directive::Check, "mul", 1}, {Directive::Check, "add", 2}})), "");
  EXPECT_NE(check_output(out, ds({{Directive::Check, "add", 1}, {Directive::Not, "mul", 2}, {Directive::Check, "relu", 3}})),
            "");
  EXPECT_EQ(check_output(out, ds({{Directive::Check, "mul", 1}, {Directive::Not, "add", 2}})), "");
}

}  // namespace
}  // namespace kiln::passes
