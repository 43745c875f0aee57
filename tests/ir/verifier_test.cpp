// The verifier on hand-broken graphs: each breakage gives its message, and
// all problems are reported together.
#include <gtest/gtest.h>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "ir_test_util.h"

using namespace kiln;
using namespace kiln::ir;
using kiln::ir::testing::error_of;

namespace {

bool has(const std::vector<std::string>& errors, const std::string& fragment) {
  for (const auto& e : errors)
    if (e.find(fragment) != std::string::npos) return true;
  return false;
}

std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

// x -> %a = relu -> %b = neg -> return
struct Chain {
  Graph g{"t"};
  Value* x = g.add_param("x", f32({kBatch, 4}));
  Value* a = g.add(OpKind::Relu, {x}, {}, "a");
  Value* b = g.add(OpKind::Neg, {a}, {}, "b");
  Chain() { g.set_results({b}); }
};

TEST(Verifier, ValidGraphHasNoErrors) {
  Chain c;
  EXPECT_TRUE(verify_errors(c.g).empty());
  EXPECT_NO_THROW(verify(c.g));
}

TEST(Verifier, UseBeforeDefinition) {
  Chain c;
  c.g.set_order({c.b->def, c.a->def});
  auto errors = verify_errors(c.g);
  EXPECT_TRUE(has(errors, "func @t: %b = neg: operand 0 %a is used before its definition")) << all(errors);
  EXPECT_TRUE(has(errors, "func @t: the nodes are out of order (a topological order exists)")) << all(errors);
}

TEST(Verifier, CycleIsReportedAsSuch) {
  Chain c;
  c.g.replace_all_uses(c.x, c.b);  // %a = relu %b, %b = neg %a
  auto errors = verify_errors(c.g);
  EXPECT_TRUE(has(errors, "%a = relu: operand 0 %b is used before its definition")) << all(errors);
  EXPECT_TRUE(has(errors, "the nodes' dependencies form a cycle")) << all(errors);
}

TEST(Verifier, ResultTypeDiffersFromShapeRule) {
  Chain c;
  c.a->type = f32({3});
  auto errors = verify_errors(c.g);
  // Both the mutated node and its user are wrong now; both are reported.
  EXPECT_TRUE(has(errors, "%a = relu: result %a has type f32[3], the op infers f32[N,4]")) << all(errors);
  EXPECT_TRUE(has(errors, "%b = neg: result %b has type f32[N,4], the op infers f32[3]")) << all(errors);
  std::string e = error_of([&] { verify(c.g); });
  EXPECT_NE(e.find("IR verification failed (2 problems):"), std::string::npos) << e;
}

TEST(Verifier, OuterValueUsedInRegion) {
  auto body = std::make_unique<Graph>("body");
  Value* h = body->add_param("h", f32({kBatch, 4}));
  Value* xt = body->add_param("x", f32({kBatch, 4}));
  Value* h2 = body->add(OpKind::Add, {h, xt}, {}, "h2");
  body->set_results({h2, h2});
  Graph* bp = body.get();
  Graph g("t");
  Value* h0 = g.add_param("h0", f32({kBatch, 4}));
  Value* xs = g.add_param("xs", f32({7, kBatch, 4}));
  Value* w = g.add_param("w", f32({kBatch, 4}));
  Node* n = g.add_node(OpKind::Scan, {h0, xs}, {{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}}, std::move(body),
                       {"h", "seq"});
  g.set_results(n->results);
  ASSERT_TRUE(verify_errors(g).empty());
  bp->nodes()[0]->operands[1] = w;  // the body now reads %w of the enclosing graph
  auto errors = verify_errors(g);
  EXPECT_TRUE(has(errors, "func @t: %h, %seq = scan: region ^body: %h2 = add: operand 1 %w is defined in an "
                          "enclosing graph; a region sees only its own parameters"))
      << all(errors);
}

TEST(Verifier, RegionSignatureIsChecked) {
  auto g = parse_graph(
      kiln::ir::testing::read_file(std::filesystem::path(KILN_TEST_DATA) / "ir" / "ops" / "scan_reverse.kir"));
  g->nodes()[0]->body->params()[1]->type = f32({4});
  auto errors = verify_errors(*g);
  EXPECT_TRUE(has(errors, "scan: body parameter %x has type f32[4], expected f32[3]")) << all(errors);
}

TEST(Verifier, NamesAttributesAndArity) {
  Chain c;
  c.b->name = "a";
  c.a->def->attrs.set("bogus", int64_t{1});
  c.b->def->operands.push_back(c.x);
  auto errors = verify_errors(c.g);
  EXPECT_TRUE(has(errors, "name %a is defined twice")) << all(errors);
  EXPECT_TRUE(has(errors, "relu: unknown attribute 'bogus'")) << all(errors);
  EXPECT_TRUE(has(errors, "has 2 operands, expected 1")) << all(errors);
  EXPECT_EQ(errors.size(), 3u) << all(errors);
  // The printer still shows what is there.
  EXPECT_NE(to_string(c.g).find("%a = relu %x {bogus=1}"), std::string::npos) << to_string(c.g);
}

TEST(Verifier, ForeignValueAndModule) {
  Chain c;
  Graph other("other");
  Value* y = other.add_param("y", f32({kBatch, 4}));
  c.b->def->operands[0] = y;
  auto errors = verify_errors(c.g);
  EXPECT_TRUE(has(errors, "operand 0 %y belongs to another graph")) << all(errors);

  Module m = parse_module("func @f() -> () {\n  return\n}\n");
  m.funcs.push_back(std::make_unique<Graph>("f"));
  errors = verify_errors(m);
  EXPECT_TRUE(has(errors, "func @f: defined twice in the module")) << all(errors);
  EXPECT_THROW(verify(m), Error);
}

}  // namespace
