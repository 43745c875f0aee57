// plan-memory: liveness-based buffer assignment for a graph's top level.
//
// Where each value lives while a compiled step runs:
//   param   the caller's parameter buffer: parameters, and results that update
//           a parameter in place (below);
//   result  the caller's result buffer: a graph result is computed straight
//           into it;
//   view    the buffer of another value: a reshape is a view of its operand;
//   arena   one scratch arena with two pools, like codegen's plan: a fixed pool
//           for values without a batch dimension (offsets in bytes, 64-byte
//           aligned) and a batch pool for values with one, whose offsets and
//           sizes are per unit of N (rounded to 16 bytes), so the plan is made
//           once for a symbolic N and the arena is fixed + batch * N bytes
//           for every batch size (no replanning when N changes).
// Buffers are assigned by liveness: a value lives from its node to its last
// top-level use; intervals are packed by greedy first fit, largest first.
// In place: an elementwise op or loop fusion writes its result into an operand
// of the same type that dies there (elementwise code reads element i before
// writing element i). Region bodies are not planned here (a fusion's body
// lives in registers; a scan body has its own arena in codegen).
//
// Train steps (frontend/training/step_graphs.h: the last parameter is
// %optimizer.learning_rate, and the last results are the new weights and the
// new optimizer state, in parameter order): each of those results reuses its
// parameter's buffer when that is legal (every other use of the parameter
// comes first, or the producing loop kernel reads it elementwise), so weights
// and optimizer state are updated in place.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "passes/pass_manager.h"

namespace kiln::passes {

struct BufferSlot {
  enum class Kind { Param, Result, View, Fixed, Batch };
  Kind kind = Kind::Fixed;
  int64_t offset = 0;  // Fixed: bytes; Batch: bytes per unit of N
  int64_t bytes = 0;   // Fixed: bytes; Batch: bytes per unit of N (rounded)
  int index = -1;      // Param / Result: the index
  const ir::Value* shares = nullptr;  // View: the value viewed; in-place: the operand overwritten
  int first = 0, last = 0;            // live node positions (inclusive)
};

struct MemoryPlan {
  std::unordered_map<const ir::Value*, BufferSlot> slots;  // every top-level value
  std::vector<std::pair<int, int>> in_place_results;      // (result, parameter) sharing a buffer
  int in_place_nodes = 0;                                  // nodes that overwrite an operand
  int64_t fixed_bytes = 0, batch_bytes = 0;                // the arena: fixed + batch * N
  int64_t unplanned_fixed = 0, unplanned_batch = 0;        // every intermediate in its own (aligned) buffer

  int64_t peak_bytes(int64_t n) const { return fixed_bytes + batch_bytes * n; }
  int64_t unplanned_bytes(int64_t n) const { return unplanned_fixed + unplanned_batch * n; }
  // "arena 1024 + 96*N bytes (at N=32: 4096; unplanned 12288), 3 in place, 2 updates in place"
  std::string summary(int64_t n = 32) const;
};

MemoryPlan plan_memory(const ir::Graph& g);

// The IR with each top-level value's buffer as a `//` comment on its line, and
// the arena summary on the first line: still valid .kir (comments are ignored).
std::string print_with_plan(const ir::Graph& g);

// The registered pass: plans g (unchanged) and reports the summary.
PassResult plan_memory_pass(ir::Graph& g);

}  // namespace kiln::passes
