// Parse errors: each bad input gives a ParseError at the exact line:col with a
// message that says what was expected and what was found.
#include <gtest/gtest.h>

#include <optional>

#include "ir/parser.h"

using namespace kiln;
using namespace kiln::ir;

namespace {

struct Failure {
  int line = 0, col = 0;
  std::string message, what;
};

Failure parse_failure(const std::string& text) {
  try {
    parse_module(text, "t.kir");
  } catch (const ParseError& e) {
    return {e.line(), e.column(), e.message(), e.what()};
  }
  ADD_FAILURE() << "no ParseError for:\n" << text;
  return {};
}

// A func around one statement on line 2 (column 3 is where the statement starts).
std::string one(const std::string& stmt, const std::string& ret = "%y", const std::string& res = "f32[N,4]") {
  return "func @f(%x: f32[N,4], %w: f32[4,4]) -> (" + res + ") {\n  " + stmt + "\n  return " + ret + "\n}\n";
}

#define EXPECT_PARSE_ERROR(text, L, C, fragment)                        \
  do {                                                                  \
    Failure f_ = parse_failure(text);                                   \
    EXPECT_EQ(f_.line, L) << f_.what;                                   \
    EXPECT_EQ(f_.col, C) << f_.what;                                    \
    EXPECT_NE(f_.message.find(fragment), std::string::npos) << f_.what; \
  } while (0)

TEST(ParseErrors, UnknownOp) {
  EXPECT_PARSE_ERROR(one("%y = rleu %x : f32[N,4]"), 2, 8, "unknown op, expected an op name, found 'rleu'");
}

TEST(ParseErrors, UndefinedValue) {
  EXPECT_PARSE_ERROR(one("%y = relu %z : f32[N,4]"), 2, 13, "use of undefined value %z");
  EXPECT_PARSE_ERROR(one("%y = relu %x : f32[N,4]", "%q"), 3, 10, "use of undefined value %q");
}

TEST(ParseErrors, ResultTypeMismatch) {
  EXPECT_PARSE_ERROR(one("%y = relu %x : f32[N,5]"), 2, 18,
                     "result type differs from the inferred one, expected f32[N,4], found f32[N,5]");
}

TEST(ParseErrors, ShapeErrorOfTheOpIsLocatedAtTheStatement) {
  Failure f = parse_failure(one("%y = matmul %w, %x : f32[4,4]"));
  EXPECT_EQ(f.line, 2);
  EXPECT_EQ(f.col, 3);
  EXPECT_NE(f.message.find("matmul: contracting dimensions differ: f32[4,4] x f32[N,4]"), std::string::npos) << f.what;
  EXPECT_EQ(f.what.rfind("t.kir:2:3: matmul:", 0), 0u) << f.what;
}

TEST(ParseErrors, BadAttributeValueKind) {
  EXPECT_PARSE_ERROR(one("%y = reduce_sum %x {axes=1} : f32[N]", "%y", "f32[N]"), 2, 28,
                     "bad value for attribute 'axes' of kind ints, expected a list like [1,2], found '1'");
  EXPECT_PARSE_ERROR(one("%y = slice %x {axis=1.5, start=0, limit=1} : f32[N,1]"), 2, 23,
                     "of kind int, expected an integer, found '1.5'");
  EXPECT_PARSE_ERROR(one("%y = compare %x, %x {dir=gt} : i1[N,4]"), 2, 28, "of kind string, expected a string");
  EXPECT_PARSE_ERROR(one("%y = matmul %x, %w {transpose_a=1} : f32[N,4]"), 2, 35, "expected true or false");
}

TEST(ParseErrors, BadAttributes) {
  EXPECT_PARSE_ERROR(one("%y = relu %x {alpha=1.0} : f32[N,4]"), 2, 17, "unknown attribute 'alpha' for op 'relu'");
  EXPECT_PARSE_ERROR(one("%y = reduce_sum %x {axes=[1], axes=[1]} : f32[N]", "%y", "f32[N]"), 2, 33,
                     "attribute 'axes' given twice");
  EXPECT_PARSE_ERROR(one("%y = reduce_sum %x : f32[N]", "%y", "f32[N]"), 2, 3, "missing required attribute 'axes'");
  EXPECT_PARSE_ERROR(one("%y = compare %x, %x {dir=\"gte\"} : i1[N,4]"), 2, 3, "dir must be one of");
}

TEST(ParseErrors, Redefinition) {
  EXPECT_PARSE_ERROR(one("%x = relu %x : f32[N,4]", "%x"), 2, 3, "redefinition of %x");
  EXPECT_PARSE_ERROR("func @f(%x: f32[2], %x: f32[2]) -> () {\n  return\n}\n", 1, 21, "redefinition of %x");
  EXPECT_PARSE_ERROR(one("%y, %z, %y = scan %x {num_carry=0, num_seq=1} : ()"), 2, 11, "redefinition of %y");
  EXPECT_PARSE_ERROR("func @f() -> () {\n  return\n}\nfunc @f() -> () {\n  return\n}\n", 4, 1,
                     "redefinition of func @f");
}

TEST(ParseErrors, WrongResultCount) {
  EXPECT_PARSE_ERROR(one("%y, %z = relu %x : (f32[N,4], f32[N,4])"), 2, 12,
                     "wrong result count for 'relu', expected 1, found 2");
  EXPECT_PARSE_ERROR(one("%y, %z = relu %x : f32[N,4]"), 2, 3, "statement names 2 result(s) but gives 1 type(s)");
  EXPECT_PARSE_ERROR(one("%y = relu %x : f32[N,4]", "%y, %y"), 4, 1, "returns 2 value(s), expected 1 as declared");
}

TEST(ParseErrors, ReturnTypeDiffersFromSignature) {
  EXPECT_PARSE_ERROR(one("%y = relu %x : f32[N,4]", "%y", "f32[N,3]"), 1, 41,
                     "result 0 of func @f differs from the returned %y, expected f32[N,4], found f32[N,3]");
}

TEST(ParseErrors, MissingReturnAndTrailingGarbage) {
  EXPECT_PARSE_ERROR("func @f(%x: f32[2]) -> () {\n  %y = relu %x : f32[2]\n}\n", 3, 1,
                     "missing 'return' or statement, expected a statement or 'return', found '}'");
  EXPECT_PARSE_ERROR("func @f() -> () {\n  return\n}\nxyz", 4, 1, "expected 'func', found 'xyz'");
  EXPECT_PARSE_ERROR("func @f() -> () {\n  return\n", 3, 1, "expected '}' after return, found end of input");
  try {
    parse_graph("func @f() -> () {\n  return\n}\n}", "g.kir");
    ADD_FAILURE();
  } catch (const ParseError& e) {
    EXPECT_EQ(std::string(e.what()), "g.kir:4:1: trailing text after the func, expected end of input, found '}'");
  }
}

TEST(ParseErrors, Lexical) {
  EXPECT_PARSE_ERROR("func @f() -> () {\n  return $\n}\n", 2, 10, "unexpected character '$'");
  EXPECT_PARSE_ERROR(one("%y = compare %x, %x {dir=\"gt} : i1[N,4]"), 2, 28, "unterminated string");
  EXPECT_PARSE_ERROR(one("%y = compare %x, %x {dir=\"g\\q\"} : i1[N,4]"), 2, 30, "bad escape");
  EXPECT_PARSE_ERROR("func @f(% : f32[2]) -> () {\n  return\n}\n", 1, 9, "expected a name");
  EXPECT_PARSE_ERROR("func @f(%\"\": f32[2]) -> () {\n  return\n}\n", 1, 9, "empty value name");
}

TEST(ParseErrors, Types) {
  EXPECT_PARSE_ERROR("func @f(%x: f64[2]) -> () {\n  return\n}\n", 1, 13, "unknown dtype, expected f32, i32 or i1");
  EXPECT_PARSE_ERROR("func @f(%x: f32[N,N]) -> () {\n  return\n}\n", 1, 19, "batch dimension N at most once");
  EXPECT_PARSE_ERROR("func @f(%x: f32[99999999999999999999]) -> () {\n  return\n}\n", 1, 17, "integer out of range");
  EXPECT_PARSE_ERROR("func @f(%x: f32[1099511627777]) -> () {\n  return\n}\n", 1, 17, "dimension out of range");
  EXPECT_PARSE_ERROR("func @f(%x: f32[1048576,1048577]) -> () {\n  return\n}\n", 1, 25, "too many elements");
  EXPECT_PARSE_ERROR("func @f(%x: f32[N*0]) -> () {\n  return\n}\n", 1, 19, "batch factor out of range");
  EXPECT_PARSE_ERROR("func @f(%x: f32[-3]) -> () {\n  return\n}\n", 1, 17, "dimension out of range");
}

TEST(ParseErrors, RegionsAreIsolatedFromAbove) {
  std::string text = "func @f(%h0: f32[2], %xs: f32[3,2], %w: f32[2]) -> (f32[2]) {\n"
                     "  %h = scan %h0, %xs {num_carry=1, num_seq=1} : f32[2] {\n"
                     "    ^body(%h: f32[2], %x: f32[2]):\n"
                     "    %y = add %h, %w : f32[2]\n"
                     "    return %y\n"
                     "  }\n"
                     "  return %h\n"
                     "}\n";
  EXPECT_PARSE_ERROR(text, 4, 18, "use of undefined value %w");
}

TEST(ParseErrors, ScanBodySignatureIsChecked) {
  std::string text = "func @f(%h0: f32[2], %xs: f32[3,2]) -> (f32[2]) {\n"
                     "  %h = scan %h0, %xs {num_carry=1, num_seq=1} : f32[2] {\n"
                     "    ^body(%h: f32[2], %x: f32[3,2]):\n"
                     "    return %h\n"
                     "  }\n"
                     "  return %h\n"
                     "}\n";
  EXPECT_PARSE_ERROR(text, 2, 3, "scan: body parameter %x has type f32[3,2], expected f32[2]");
  EXPECT_PARSE_ERROR(one("%y = scan %x {num_carry=0, num_seq=1} : f32[4]"), 3, 3, "expected '{', found 'return'");
  EXPECT_PARSE_ERROR(one("%y = relu %x : f32[N,4] {"), 2, 27, "op 'relu' takes no region");
}

TEST(ParseErrors, NestingDepthIsBounded) {
  std::string text = "func @f(%xs: f32[2,1]) -> () {\n";
  int depth = kMaxRegionDepth + 5;
  for (int i = 0; i < depth; ++i) text += "scan %xs {num_carry=0, num_seq=1} : () {\n^b(%xs: f32[1]):\n";
  Failure f = parse_failure(text);
  EXPECT_NE(f.message.find("regions nested too deeply"), std::string::npos) << f.what;
}

TEST(ParseErrors, ParseErrorIsAKilnError) {
  EXPECT_THROW(parse_module("func", "x.kir"), Error);
  EXPECT_EQ(parse_failure("func").what,
            "t.kir:1:5: syntax error, expected a function name like @f, found end of input");
}

}  // namespace
