// The IR's text form (`.kir`): printing. ir/parser.h reads the same grammar
// back, and print -> parse -> print is byte-identical.
//
//   module    ::= (func ("\n" func)*)?              funcs separated by a blank line
//   func      ::= "func" "@" name "(" params? ")" "->" "(" types? ")" "{" "\n"
//                 stmt* "return" values? "\n" "}" "\n"
//   params    ::= param ("," param)*
//   param     ::= value ":" type
//   stmt      ::= (values "=")? opname values? attrs? ":" results region? "\n"
//   results   ::= type | "(" types? ")"             a bare type for exactly one result
//   region    ::= "{" "^" name "(" params? ")" ":" stmt* "return" values? "}"
//   values    ::= value ("," value)*
//   value     ::= "%" name
//   name      ::= [A-Za-z0-9_.-]+ | string          anything else is quoted: %"my name"
//   type      ::= dtype "[" (dim ("," dim)*)? "]"   f32[N,10], f32[], i1[N,1], f32[N*169,16]
//   dim       ::= int | "N" | "N*" int              N: the batch dimension (at most one)
//   dtype     ::= "f32" | "i32" | "i1"
//   attrs     ::= "{" attr ("," attr)* "}"          in the op's schema order (OpInfo::attrs)
//   attr      ::= ident "=" attrval
//   attrval   ::= int | float | "true" | "false" | string | "[" (dim ("," dim)*)? "]" | dtype
//   float     ::= shortest round-trip decimal that contains "." or "e"; "inf", "-inf", "nan"
//   string    ::= '"' (char | "\\" ["\\nrt] | "\\x" hex hex)* '"'
//
// Whitespace is free (the printer indents by two spaces per region level) and
// `//` starts a comment to the end of the line. A region's body is isolated
// from above: it sees only its own parameters; value names are scoped per graph.
// Example:
//
//   func @mlp.forward(%x: f32[N,10], %dense.kernel: f32[10,10], %dense.bias: f32[10]) -> (f32[N,10]) {
//     %dense.matmul = matmul %x, %dense.kernel : f32[N,10]
//     %dense.bias_add = add %dense.matmul, %dense.bias {broadcast_dims=[1]} : f32[N,10]
//     %dense = relu %dense.bias_add : f32[N,10]
//     return %dense
//   }
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "ir/graph.h"

namespace kiln::ir {

std::string to_string(const Graph& g);
std::string to_string(const Module& m);
void print(std::ostream& os, const Graph& g);
void print(std::ostream& os, const Module& m);

// --- pieces of the text form, shared with the parser, verifier and DOT export ---

// `name` if it is a bare name ([A-Za-z0-9_.-]+), else a quoted C string.
std::string format_name(std::string_view name);
// "%name" / "%\"my name\"".
std::string value_ref(const Value& v);
// A C string literal with escapes for '"', '\\', and bytes outside printable ASCII.
std::string quote_string(std::string_view s);
// Shortest round-trip form that always contains '.' or 'e', or inf/-inf/nan.
std::string format_float(double v);
// One attribute value, formatted for an attribute of kind `kind`.
std::string format_attr(AttrKind kind, const AttrValue& v);
// " {a=1, b=[2,3]}" in schema order, or "" when the node has no attributes.
std::string format_attrs(const Node& n);
// "%a, %b = op %x, %y {attrs} : (t1, t2)" without the region.
std::string format_node_head(const Node& n);

}  // namespace kiln::ir
