// Numeric CSV reading: one f32 matrix, with an optional header row.
//
// Quoted fields may hold the delimiter but not a line break (numeric tables
// never need one, and line numbers in errors then stay exact).
#include "runtime/io.h"

#include <charconv>
#include <fstream>

#include "ir/error.h"

namespace kiln::runtime {
namespace {

struct Cell {
  std::string text;
  bool quoted = false;
};

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

// Splits one line into cells; throws on an unterminated quote.
std::vector<Cell> split(const std::string& line, char delim, const std::string& where) {
  std::vector<Cell> cells;
  size_t i = 0;
  while (true) {
    Cell c;
    size_t start = i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size() && line[i] == '"') {
      c.quoted = true;
      ++i;
      while (true) {
        if (i >= line.size())
          throw Error("read_csv: " + where + ": column " + std::to_string(cells.size() + 1) + ": unterminated quote");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            c.text += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        c.text += line[i++];
      }
      while (i < line.size() && line[i] != delim) {
        if (line[i] != ' ' && line[i] != '\t')
          throw Error("read_csv: " + where + ": column " + std::to_string(cells.size() + 1) +
                      ": text after a closing quote");
        ++i;
      }
    } else {
      i = start;
      size_t end = line.find(delim, i);
      if (end == std::string::npos) end = line.size();
      c.text = trim(std::string_view(line).substr(i, end - i));
      i = end;
    }
    cells.push_back(std::move(c));
    if (i >= line.size()) break;
    ++i;  // the delimiter
  }
  return cells;
}

// Parses a whole cell as a float (accepts a leading '+', nan, inf).
bool parse_float(const std::string& s, float& out) {
  std::string t = trim(s);
  const char* b = t.data();
  const char* e = t.data() + t.size();
  if (b < e && *b == '+') ++b;
  if (b == e) return false;
  auto [p, ec] = std::from_chars(b, e, out);
  return (ec == std::errc() || ec == std::errc::result_out_of_range) && p == e;
}

}  // namespace

CsvTable read_csv_table(const std::string& path, const CsvOptions& opts) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("read_csv: " + path + ": cannot open");
  CsvTable table;
  std::vector<float> values;
  size_t cols = 0;
  int64_t rows = 0, first_line = 0, lineno = 0;
  bool first = true;
  std::string line;
  while (std::getline(f, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (lineno <= std::max<int64_t>(opts.skip_rows, 0)) continue;
    if (trim(line).empty()) continue;
    std::string where = path + ":" + std::to_string(lineno);
    std::vector<Cell> cells = split(line, opts.delimiter, where);
    if (first) {
      first = false;
      first_line = lineno;
      cols = cells.size();
      bool header = opts.header == CsvOptions::Header::Yes;
      if (opts.header == CsvOptions::Header::Auto) {
        float v;
        for (const Cell& c : cells) header = header || !parse_float(c.text, v);
      }
      if (header) {
        for (const Cell& c : cells) table.header.push_back(c.text);
        continue;
      }
    }
    if (cells.size() != cols)
      throw Error("read_csv: " + where + ": row has " + std::to_string(cells.size()) + " column(s), expected " +
                  std::to_string(cols) + " (as on line " + std::to_string(first_line) + ")");
    for (size_t c = 0; c < cells.size(); ++c) {
      float v;
      if (!parse_float(cells[c].text, v)) {
        std::string col = "column " + std::to_string(c + 1);
        if (!table.header.empty()) col += " (\"" + table.header[c] + "\")";
        throw Error("read_csv: " + where + ": " + col + ": " +
                    (cells[c].text.empty() ? std::string("empty cell") : "'" + cells[c].text + "' is not a number"));
      }
      values.push_back(v);
    }
    ++rows;
  }
  if (f.bad()) throw Error("read_csv: " + path + ": read error");
  if (first) throw Error("read_csv: " + path + ": the file is empty");
  table.data = Tensor({rows, static_cast<int64_t>(cols)}, std::move(values));
  return table;
}

Tensor read_csv(const std::string& path, const CsvOptions& opts) { return read_csv_table(path, opts).data; }

}  // namespace kiln::runtime
