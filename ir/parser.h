// Reads the IR's text form (grammar in ir/printer.h) back into graphs.
//
// Nodes are built through Graph::add_node, so attributes are checked and result
// types inferred exactly as for graphs built in C++; the written result types
// must equal the inferred ones. Every error, including a shape error raised by
// add_node, is a ParseError located at the offending token or statement:
//   "model.kir:3:40: result type differs from the inferred one, expected f32[N,10], found f32[N,20]"
//
// The parser accepts any input without crashing, hanging or unbounded
// allocation: regions nest at most kMaxRegionDepth deep, integers must fit
// int64, and a type's dimensions (and their product, N counting as its factor)
// are at most kMaxDim; so are the entries of list attributes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace kiln {

class ParseError : public Error {
 public:
  ParseError(std::string file, int line, int column, const std::string& message);

  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  // The message without the "file:line:col: " prefix.
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_, column_;
  std::string message_;
};

}  // namespace kiln

namespace kiln::ir {

inline constexpr int kMaxRegionDepth = 32;
inline constexpr int64_t kMaxDim = int64_t{1} << 40;

// Any number of funcs (an empty text is an empty module); names must differ.
Module parse_module(std::string_view text, std::string_view filename = "<input>");
// Exactly one func.
std::unique_ptr<Graph> parse_graph(std::string_view text, std::string_view filename = "<input>");

}  // namespace kiln::ir
