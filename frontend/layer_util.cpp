// Shared helpers of the layer implementations (see layer_util.h).
#include "layer_util.h"

namespace kiln::detail {

void check_input_spec(const std::string& layer, size_t index, const Dims& shape, const InputSpec& spec) {
  std::string head = "Input " + std::to_string(index) + " of layer \"" + layer + "\" is incompatible with the layer: ";
  int64_t ndim = static_cast<int64_t>(shape.size());
  if (spec.ndim && ndim != *spec.ndim)
    throw Error(head + "expected ndim=" + std::to_string(*spec.ndim) + ", found ndim=" + std::to_string(ndim) +
                ". Full shape received: " + shape_to_python(shape));
  if (spec.min_ndim && ndim < *spec.min_ndim)
    throw Error(head + "expected min_ndim=" + std::to_string(*spec.min_ndim) + ", found ndim=" + std::to_string(ndim) +
                ". Full shape received: " + shape_to_python(shape));
  for (const auto& [axis, value] : spec.axes) {
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim || shape[a] != value)
      throw Error(head + "expected axis " + std::to_string(axis) + " of input shape to have value " +
                  std::to_string(value) + ", but received input with shape " + shape_to_python(shape));
  }
}

std::string describe(const Layer& layer) { return "layer \"" + layer.name() + "\" (" + layer.class_name() + ")"; }

std::string ir_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "v" : out;
}

Dims with_batch(const std::vector<int64_t>& shape, std::optional<int64_t> batch, const std::string& where) {
  for (int64_t d : shape)
    if (d <= 0)
      throw Error(where + ": every dimension of shape " + shape_to_python(shape) +
                  " must be a positive integer (only the batch dimension is left unknown, and it is not part "
                  "of the shape)");
  if (batch && *batch <= 0) throw Error(where + ": batch_size must be positive, got " + std::to_string(*batch));
  Dims d{batch ? *batch : ir::kBatch};
  d.insert(d.end(), shape.begin(), shape.end());
  return d;
}

std::string check_padding(const std::string& padding, const std::string& where) {
  if (padding == "valid" || padding == "same") return padding;
  throw Error("The `padding` argument of " + where + " must be \"valid\" or \"same\". Received: padding=\"" + padding +
              "\".");
}

std::optional<AxisWindow> window_axis(int64_t in, int64_t k, int64_t s, bool same) {
  if (!same) {
    if (in < k) return std::nullopt;
    return AxisWindow{(in - k) / s + 1, 0, 0};
  }
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + k - in, 0);
  return AxisWindow{out, total / 2, total - total / 2};
}

}  // namespace kiln::detail
