// Prints graphs and modules in the text form documented in ir/printer.h.
#include "ir/printer.h"

#include <charconv>
#include <cmath>
#include <sstream>

namespace kiln::ir {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

std::string join_types(const std::vector<Value*>& vs) {
  std::string s;
  for (size_t i = 0; i < vs.size(); ++i) s += (i ? ", " : "") + (vs[i] ? vs[i]->type.to_string() : "<null>");
  return s;
}

std::string join_refs(const std::vector<Value*>& vs) {
  std::string s;
  for (size_t i = 0; i < vs.size(); ++i) s += (i ? ", " : "") + (vs[i] ? value_ref(*vs[i]) : "%<null>");
  return s;
}

std::string params_to_string(const Graph& g) {
  std::string s;
  for (size_t i = 0; i < g.params().size(); ++i) {
    const Value* p = g.params()[i];
    s += (i ? ", " : "") + (p ? value_ref(*p) + ": " + p->type.to_string() : "%<null>");
  }
  return s;
}

void print_body(std::ostream& os, const Graph& g, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  for (const Node* n : g.nodes()) {
    os << pad << format_node_head(*n);
    if (n->body) {
      os << " {\n" << pad << "  ^" << format_name(n->body->name) << "(" << params_to_string(*n->body) << "):\n";
      print_body(os, *n->body, indent + 2);
      os << pad << "}";
    }
    os << "\n";
  }
  os << pad << "return";
  if (!g.results().empty()) os << " " << join_refs(g.results());
  os << "\n";
}

}  // namespace

std::string format_name(std::string_view name) {
  bool bare = !name.empty();
  for (char c : name) bare = bare && is_name_char(c);
  return bare ? std::string(name) : quote_string(name);
}

std::string value_ref(const Value& v) { return "%" + format_name(v.name); }

std::string quote_string(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string format_attr(AttrKind kind, const AttrValue& v) {
  if (const auto* x = std::get_if<int64_t>(&v)) return std::to_string(*x);
  if (const auto* x = std::get_if<double>(&v)) return format_float(*x);
  if (const auto* x = std::get_if<bool>(&v)) return *x ? "true" : "false";
  if (const auto* x = std::get_if<std::string>(&v)) return quote_string(*x);
  if (const auto* x = std::get_if<DType>(&v)) return std::string(dtype_name(*x));
  const auto& xs = std::get<std::vector<int64_t>>(v);
  if (kind == AttrKind::Shape) return dims_to_string(xs);
  std::string s = "[";
  for (size_t i = 0; i < xs.size(); ++i) s += (i ? "," : "") + std::to_string(xs[i]);
  return s + "]";
}

std::string format_attrs(const Node& n) {
  const OpInfo& info = n.info();
  std::vector<std::string> parts;
  for (const AttrSpec& spec : info.attrs)
    if (n.attrs.has(spec.name)) parts.push_back(spec.name + "=" + format_attr(spec.kind, n.attrs.raw(spec.name)));
  // Attributes outside the schema (an invalid node) are still shown, so nothing is silently lost.
  for (const auto& [k, v] : n.attrs)
    if (!info.attr(k)) parts.push_back(format_name(k) + "=" + format_attr(AttrKind::Ints, v));
  if (parts.empty()) return "";
  std::string s = " {";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? ", " : "") + parts[i];
  return s + "}";
}

std::string format_node_head(const Node& n) {
  std::string s;
  if (!n.results.empty()) s += join_refs(n.results) + " = ";
  s += std::string(n.info().name);
  if (!n.operands.empty()) s += " " + join_refs(n.operands);
  s += format_attrs(n) + " : ";
  s += n.results.size() == 1 ? join_types(n.results) : "(" + join_types(n.results) + ")";
  return s;
}

void print(std::ostream& os, const Graph& g) {
  std::string res;
  for (size_t i = 0; i < g.results().size(); ++i) {
    const Value* v = g.results()[i];
    res += (i ? ", " : "") + (v ? v->type.to_string() : "<null>");
  }
  os << "func @" << format_name(g.name) << "(" << params_to_string(g) << ") -> (" << res << ") {\n";
  print_body(os, g, 2);
  os << "}\n";
}

void print(std::ostream& os, const Module& m) {
  for (size_t i = 0; i < m.funcs.size(); ++i) {
    if (i) os << "\n";
    print(os, *m.funcs[i]);
  }
}

std::string to_string(const Graph& g) {
  std::ostringstream os;
  print(os, g);
  return os.str();
}

std::string to_string(const Module& m) {
  std::ostringstream os;
  print(os, m);
  return os.str();
}

}  // namespace kiln::ir
