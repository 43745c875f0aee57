// Data files: NumPy .npy arrays and numeric CSV tables.
//
// Every malformed file is a kiln::Error naming the file and the problem (and
// for CSV the line and column); no input can crash the reader or make it
// allocate more than the file could hold.
#pragma once

#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace kiln::runtime {

// Reads a .npy file (format versions 1.0, 2.0, 3.0; C order). Dtypes: '<f4' ->
// f32, '<i4' -> i32, '|b1' -> i1; '<f8' and '<i8' (numpy's defaults) are
// converted to f32 and i32 (i8 values must fit in 32 bits). Rejects Fortran
// order, big-endian data, other dtypes, malformed or truncated headers, and
// data shorter or longer than the header says.
Tensor read_npy(const std::string& path);

// Writes `t` as a version 1.0 .npy file ('<f4', '<i4' or '|b1', C order),
// atomically: a temporary file in the same directory, fsync, then rename.
void write_npy(const std::string& path, const Tensor& t);

struct CsvOptions {
  enum class Header { Auto, Yes, No };
  // Auto: the first row is a header if any of its cells is not a number.
  Header header = Header::Auto;
  char delimiter = ',';
  // Lines dropped before the header (or the first data row), e.g. a banner.
  int skip_rows = 0;
};

struct CsvTable {
  std::vector<std::string> header;  // empty when the file has none
  Tensor data;                      // f32 [rows, cols]
};

// Reads a numeric CSV file. Cells are trimmed of spaces and tabs, may be
// double-quoted ("" escapes a quote), and parse as decimal floats (also nan,
// inf). Blank lines are skipped; CRLF and a UTF-8 byte-order mark are accepted.
// A non-numeric or empty cell, an unterminated quote or a row with a different
// number of columns throws kiln::Error naming file:line and the column.
CsvTable read_csv_table(const std::string& path, const CsvOptions& opts = {});
Tensor read_csv(const std::string& path, const CsvOptions& opts = {});

}  // namespace kiln::runtime
