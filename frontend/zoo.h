// The seven models of the Keras functional-API tutorial (SEED.md), built in a
// fresh session (clear_session() first) so their names match tf.keras's.
// Used by the `kiln` command line and by the tests.
#pragma once

#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::zoo {

// mlp, cnn, rnn, shared_input, shared_feature, multi_input, multi_output.
std::vector<std::string> names();
// Throws kiln::Error listing the valid names for an unknown one.
Model build(const std::string& name);

}  // namespace kiln::zoo
