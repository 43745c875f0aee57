// Robustness of the parser: truncated and randomly mutated samples must either
// parse or throw kiln::Error, never crash, hang or throw anything else. Inputs
// that parse must verify and print to a fixpoint. Deterministic (fixed seed);
// run it under -DKILN_SANITIZE=ON to catch memory errors and UB too.
#include <gtest/gtest.h>

#include <random>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

using namespace kiln;
using namespace kiln::ir;
using kiln::ir::testing::read_file;
using kiln::ir::testing::sample_files;

namespace {

struct Tally {
  int accepted = 0, rejected = 0;
};

void check_robust(const std::string& text, Tally& tally) {
  try {
    Module m = parse_module(text, "fuzz.kir");
    ++tally.accepted;
    auto errors = verify_errors(m);
    EXPECT_TRUE(errors.empty()) << "parsed but does not verify: " << errors.front() << "\n" << text;
    std::string printed = to_string(m);
    EXPECT_EQ(to_string(parse_module(printed, "printed.kir")), printed) << text;
  } catch (const Error&) {
    ++tally.rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "non-kiln exception: " << e.what() << "\ninput:\n" << text;
  } catch (...) {
    ADD_FAILURE() << "unknown exception\ninput:\n" << text;
  }
}

TEST(ParserFuzz, EveryTruncationIsHandled) {
  Tally tally;
  for (const auto& path : sample_files()) {
    std::string text = read_file(path);
    for (size_t n = 0; n <= text.size(); ++n) check_robust(text.substr(0, n), tally);
  }
  EXPECT_GT(tally.rejected, 0);
  EXPECT_GT(tally.accepted, 0);  // e.g. the empty prefix and each complete module
}

// Mutations that tend to reach deep into the parser: random bytes, syntax
// characters, huge or edge-case numbers, deletions, duplications.
std::string mutate(std::string s, std::mt19937& rng) {
  static const char* alphabet = "%@^[](){},:=*\"\\-.0123456789Neinf_xN \n";
  static const char* tokens[] = {"99999999999999999999",
                                 "1099511627776",
                                 "-9223372036854775808",
                                 "N*",
                                 "1e999",
                                 "nan",
                                 "-inf",
                                 "scan",
                                 "{num_carry=1, num_seq=1}",
                                 "%\"",
                                 "^b(%q: f32[1]):",
                                 "return",
                                 "func @g() -> () {",
                                 "f32[N,N]",
                                 "0"};
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    size_t at = pick(s.size() + 1);
    switch (rng() % 6) {
      case 0:
        if (at < s.size()) s[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        if (at < s.size()) s[at] = alphabet[pick(std::char_traits<char>::length(alphabet))];
        break;
      case 2: s.insert(at, 1, alphabet[pick(std::char_traits<char>::length(alphabet))]); break;
      case 3:
        if (at < s.size()) s.erase(at, 1 + pick(8));
        break;
      case 4: s.insert(at, tokens[pick(std::size(tokens))]); break;
      case 5: {
        size_t from = pick(s.size()), len = pick(40);
        s.insert(at, s.substr(from, len));
        break;
      }
    }
  }
  return s;
}

TEST(ParserFuzz, RandomMutationsAreHandled) {
  std::mt19937 rng(20240531);
  Tally tally;
  for (const auto& path : sample_files()) {
    std::string text = read_file(path);
    for (int i = 0; i < 300; ++i) check_robust(mutate(text, rng), tally);
  }
  EXPECT_GT(tally.rejected, 0);
  EXPECT_GT(tally.accepted, 0);
}

// Wide statements must not make the parser quadratic (each case takes milliseconds).
TEST(ParserFuzz, WideStatementsStayLinear) {
  const int n = 50000;
  std::string names, types, operands, dims;
  for (int i = 0; i < n; ++i) {
    names += (i ? ", %r" : "%r") + std::to_string(i);
    types += i ? ", f32[N,1]" : "f32[N,1]";
    operands += i ? ", %x" : "%x";
  }
  std::string wide = "func @f(%x: f32[N,1]) -> () {\n  " + names + " = relu %x : (" + types + ")\n  return\n}\n";
  EXPECT_THROW(parse_module(wide), ParseError);
  std::string cat = "func @f(%x: f32[N,1]) -> (f32[N," + std::to_string(n) + "]) {\n  %c = concat " + operands +
                    " {axis=1} : f32[N," + std::to_string(n) + "]\n  return %c\n}\n";
  Module m = parse_module(cat);
  EXPECT_EQ(to_string(m), cat);
  EXPECT_TRUE(verify_errors(m).empty());
}

}  // namespace
