#include "ir/ops.h"

#include <array>
#include <sstream>

namespace kiln::ir {

std::string_view attr_kind_name(AttrKind k) {
  switch (k) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::Bool: return "bool";
    case AttrKind::String: return "string";
    case AttrKind::Ints: return "ints";
    case AttrKind::Shape: return "shape";
    case AttrKind::DType: return "dtype";
  }
  return "?";
}

const AttrValue& AttrMap::raw(const std::string& k) const {
  auto it = m_.find(k);
  if (it == m_.end()) throw Error("missing attribute '" + k + "'");
  return it->second;
}

namespace {

AttrKind parse_kind(const std::string& s) {
  for (AttrKind k : {AttrKind::Int, AttrKind::Float, AttrKind::Bool, AttrKind::String, AttrKind::Ints,
                     AttrKind::Shape, AttrKind::DType})
    if (attr_kind_name(k) == s) return k;
  KILN_UNREACHABLE("bad attribute kind in ops.def: " + s);
}

std::vector<AttrSpec> parse_schema(std::string_view schema) {
  std::vector<AttrSpec> out;
  std::istringstream in{std::string(schema)};
  std::string tok;
  while (in >> tok) {
    auto colon = tok.find(':');
    KILN_ASSERT(colon != std::string::npos, "bad attribute schema token: " + tok);
    std::string name = tok.substr(0, colon);
    bool optional = !name.empty() && name.back() == '?';
    if (optional) name.pop_back();
    out.push_back({name, parse_kind(tok.substr(colon + 1)), optional});
  }
  return out;
}

std::array<OpInfo, kNumOps> build_table() {
  return {{
#define KILN_OP(E, NAME, NOPS, NRES, TRAITS, ATTRS) \
  OpInfo{OpKind::E, NAME, NOPS, NRES, static_cast<uint32_t>(TRAITS), parse_schema(ATTRS)},
#include "ir/ops.def"
#undef KILN_OP
  }};
}

const std::array<OpInfo, kNumOps>& table() {
  static const std::array<OpInfo, kNumOps> t = build_table();
  return t;
}

}  // namespace

const AttrSpec* OpInfo::attr(std::string_view n) const {
  for (const AttrSpec& a : attrs)
    if (a.name == n) return &a;
  return nullptr;
}

const OpInfo& op_info(OpKind k) { return table()[static_cast<size_t>(k)]; }
std::string_view op_name(OpKind k) { return op_info(k).name; }

std::optional<OpKind> parse_op_name(std::string_view s) {
  for (const OpInfo& i : table())
    if (i.name == s) return i.kind;
  return std::nullopt;
}

bool is_contraction(OpKind k) {
  return k == OpKind::Matmul || k == OpKind::Conv2D || k == OpKind::Conv2DInputGrad ||
         k == OpKind::Conv2DFilterGrad;
}

}  // namespace kiln::ir
