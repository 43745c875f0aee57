"""Writes keras3_lstm_dense.weights.h5 with h5py the way Keras 3.15 writes it.

Run with Debian's python3-h5py (h5py 3.7, numpy 1.24):
    /usr/bin/python3 tests/data/persistence/make_keras3_weights.py

Keras itself is not installable here, so this replays the h5py calls that
keras/src/saving/saving_lib.py (v3.15.1) makes for model.save_weights(
"x.weights.h5") on

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4),
                              keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse"); model.fit(...)

_save_state walks the model ("" -> "sequential"), its layers under "layers/"
named by class (lstm, dense; Sequential.layers leaves out the InputLayer),
the LSTM's cell ("layers/lstm/cell", named "lstm_cell"), and the optimizer.
Each calls H5IOStore.make(path, metadata={"name": obj.name}):
    h5_file.create_group(path).create_group("vars"); vars.attrs["name"] = name
(for path "": h5_file.create_group("vars")), then save_own_variables sets
vars[str(i)] = numpy array. The weights are ramps start + 0.001 * i so the
test can check every value; the optimizer's are what Adam holds (iterations,
learning rate, then a momentum and a velocity per weight: add_optimizer_variables
interleaves them).
"""
import os

import h5py
import numpy as np


def ramp(shape, start):
    n = int(np.prod(shape)) if shape else 1
    return (start + 0.001 * np.arange(n, dtype=np.float32)).astype(np.float32).reshape(shape)


def make(h5, path, name):
    group = h5.create_group(path).create_group("vars") if path else h5.create_group("vars")
    group.attrs["name"] = name
    return group


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras3_lstm_dense.weights.h5")
    with h5py.File(out, "w") as h5:
        make(h5, "", "sequential")
        make(h5, "layers/lstm", "lstm")
        cell = make(h5, "layers/lstm/cell", "lstm_cell")
        cell["0"] = ramp((3, 16), 0.5)  # kernel
        cell["1"] = ramp((4, 16), -0.25)  # recurrent_kernel
        cell["2"] = ramp((16,), 1.0)  # bias
        dense = make(h5, "layers/dense", "dense")
        dense["0"] = ramp((4, 2), 2.0)  # kernel
        dense["1"] = ramp((2,), -1.0)  # bias
        opt = make(h5, "optimizer", "adam")
        opt["0"] = np.array(7, dtype=np.int64)  # iterations
        opt["1"] = np.array(0.001, dtype=np.float32)  # learning_rate
        shapes = [(3, 16), (4, 16), (16,), (4, 2), (2,)]
        for i, shape in enumerate(shapes):  # per weight, interleaved: momentum, velocity
            opt[str(2 + 2 * i)] = np.zeros(shape, dtype=np.float32)
            opt[str(3 + 2 * i)] = np.zeros(shape, dtype=np.float32)


if __name__ == "__main__":
    main()
