#!/usr/bin/python3
"""The seven tutorial models of SEED.md in PyTorch, timed as bench/models_bench.cpp times Kiln.

Same architectures and shapes as frontend/zoo.cpp, same losses as frontend/training/tasks.cpp
(binary cross-entropy; plus MSE for multi_output's per-step output), same batches (1, 32, 256).

  predict     forward only, under torch.inference_mode(), in three modes:
              eager, torchscript (torch.jit.script), optimize_for_inference
              (torch.jit.optimize_for_inference of the frozen script: convs run in oneDNN)
  train_step  forward + loss + backward + SGD step (zero_grad(set_to_none=True) first), in two
              modes: eager, torchscript (the model and its loss scripted; backward and SGD eager)

Timing: warm-up calls first (>= 3 calls and >= --warmup seconds), then --repetitions
repetitions that each call until --min-time seconds have passed; the result is the median of
the repetitions' mean time per call (Google Benchmark with --benchmark_repetitions does the
same for Kiln). Also per row: minor page faults per timed call (getrusage ru_minflt), and for
train_step the peak bytes live during one step: the tensors live before it (inputs, targets,
weights, gradients) plus the peak of the net allocations of PyTorch's CPU allocator during the
step, from the profiler's memory events (buffers that OpenBLAS or oneDNN allocate themselves
are not seen).

Writes one JSON document: {"config": {...}, "rows": [...]}. The config says what actually ran:
torch version, thread count, and the BLAS and malloc libraries mapped into this process.

  /usr/bin/python3 bench/peers/pytorch_seed_models.py --threads 2 --out /tmp/torch.json
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = ["mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input", "multi_output"]
BATCHES = [1, 32, 256]
PREDICT_MODES = ["eager", "torchscript", "optimize_for_inference"]
TRAIN_MODES = ["eager", "torchscript"]
LEARNING_RATE = 0.01


# ---- The models (Keras layer names; Dense on an N-D tensor acts on the last axis) ----------------


class ConvPool(nn.Module):
    """Conv2D(relu, valid, stride 1) then MaxPooling2D(2x2, floor), NCHW."""

    def __init__(self, channels_in: int, filters: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, filters, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.conv(x)), 2)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(10, 10)
        self.hidden2 = nn.Linear(10, 20)
        self.hidden3 = nn.Linear(20, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, visible: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.hidden1(visible))
        h = F.relu(self.hidden2(h))
        h = F.relu(self.hidden3(h))
        return torch.sigmoid(self.output(h))


class CNN(nn.Module):
    """No Flatten: the Dense layers act on the channels of (N, 13, 13, 16), output (N, 13, 13, 1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = ConvPool(1, 32, 4)
        self.conv2 = ConvPool(32, 16, 4)
        self.hidden1 = nn.Linear(16, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, visible: torch.Tensor) -> torch.Tensor:
        p = self.conv2(self.conv1(visible))  # (N, 16, 13, 13)
        h = F.relu(self.hidden1(p.permute(0, 2, 3, 1)))  # channels last, as Keras
        return torch.sigmoid(self.output(h))


class RNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 10, batch_first=True)
        self.hidden2 = nn.Linear(10, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, visible: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(visible)  # the last state, as LSTM(10)
        return torch.sigmoid(self.output(F.relu(self.hidden2(h[0]))))


class SharedInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvPool(1, 32, 4)
        self.conv2 = ConvPool(1, 16, 8)
        self.hidden1 = nn.Linear(32 * 30 * 30 + 16 * 28 * 28, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, visible: torch.Tensor) -> torch.Tensor:
        flat1 = torch.flatten(self.conv1(visible), 1)
        flat2 = torch.flatten(self.conv2(visible), 1)
        merge = torch.cat([flat1, flat2], 1)
        return torch.sigmoid(self.output(F.relu(self.hidden1(merge))))


class SharedFeature(nn.Module):
    def __init__(self):
        super().__init__()
        self.extract1 = nn.LSTM(1, 10, batch_first=True)
        self.interp1 = nn.Linear(10, 10)
        self.interp11 = nn.Linear(10, 10)
        self.interp12 = nn.Linear(10, 20)
        self.interp13 = nn.Linear(20, 10)
        self.output = nn.Linear(20, 1)

    def forward(self, visible: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.extract1(visible)
        e = h[0]
        i1 = F.relu(self.interp1(e))
        i13 = F.relu(self.interp13(F.relu(self.interp12(F.relu(self.interp11(e))))))
        return torch.sigmoid(self.output(torch.cat([i1, i13], 1)))


class MultiInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv11 = ConvPool(1, 32, 4)
        self.conv12 = ConvPool(32, 16, 4)
        self.conv21 = ConvPool(3, 32, 4)
        self.conv22 = ConvPool(32, 16, 4)
        self.hidden1 = nn.Linear(16 * 13 * 13 + 16 * 5 * 5, 10)
        self.hidden2 = nn.Linear(10, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, visible1: torch.Tensor, visible2: torch.Tensor) -> torch.Tensor:
        flat1 = torch.flatten(self.conv12(self.conv11(visible1)), 1)
        flat2 = torch.flatten(self.conv22(self.conv21(visible2)), 1)
        h = F.relu(self.hidden1(torch.cat([flat1, flat2], 1)))
        return torch.sigmoid(self.output(F.relu(self.hidden2(h))))


class MultiOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.extract = nn.LSTM(1, 10, batch_first=True)
        self.class11 = nn.LSTM(10, 10, batch_first=True)
        self.class12 = nn.Linear(10, 10)
        self.output1 = nn.Linear(10, 1)
        self.output2 = nn.Linear(10, 1)  # TimeDistributed(Dense(1)): Linear acts on the last axis

    def forward(self, visible: torch.Tensor):
        extract, _ = self.extract(visible)  # return_sequences=True: (N, 100, 10)
        _, (h, _) = self.class11(extract)
        out1 = torch.sigmoid(self.output1(F.relu(self.class12(h[0]))))
        return out1, self.output2(extract)


# Per model: constructor, input shapes and target shapes (without the batch), as in tasks.cpp.
# Images are NCHW (PyTorch's native conv layout); Keras's (64, 64, 1) is (1, 64, 64) here.
SPECS = {
    "mlp": (MLP, [(10,)], [(1,)]),
    "cnn": (CNN, [(1, 64, 64)], [(13, 13, 1)]),
    "rnn": (RNN, [(100, 1)], [(1,)]),
    "shared_input": (SharedInput, [(1, 64, 64)], [(1,)]),
    "shared_feature": (SharedFeature, [(100, 1)], [(1,)]),
    "multi_input": (MultiInput, [(1, 64, 64), (3, 32, 32)], [(1,)]),
    "multi_output": (MultiOutput, [(100, 1)], [(1,), (100, 1)]),
}


class LossOne(nn.Module):
    """Binary cross-entropy of a one-input, one-output model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(self.model(x), y)


class LossTwoInputs(LossOne):
    """Binary cross-entropy of multi_input."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(self.model(x1, x2), y)


class LossTwoOutputs(LossOne):
    """multi_output: binary cross-entropy of the class plus MSE of the per-step output (weights 1, as Keras)."""

    def forward(self, x: torch.Tensor, y1: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        out1, out2 = self.model(x)
        return F.binary_cross_entropy(out1, y1) + F.mse_loss(out2, y2)


def loss_module(name: str, model: nn.Module) -> nn.Module:
    _, in_shapes, out_shapes = SPECS[name]
    if len(out_shapes) == 2:
        return LossTwoOutputs(model)
    return LossTwoInputs(model) if len(in_shapes) == 2 else LossOne(model)


def make_data(name: str, batch: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Inputs and 0/1 targets of the task's kind (values only matter for relu sparsity)."""
    g = torch.Generator().manual_seed(1)
    _, in_shapes, out_shapes = SPECS[name]
    xs = [torch.rand((batch, *s), generator=g) - 0.5 for s in in_shapes]
    ys = [(torch.arange(batch) % 2).float().reshape(batch, *([1] * len(s))).expand(batch, *s).contiguous()
          for s in out_shapes]
    if name == "multi_output":
        ys[1] = xs[0].clone()  # output 2 regresses each step of the input
    return xs, ys


# ---- Timing --------------------------------------------------------------------------------------


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(fn, warmup: float, min_time: float, repetitions: int) -> dict:
    """Median over repetitions of the mean ms per call, after warm-up; minor faults per timed call."""
    start, calls = time.perf_counter(), 0
    while calls < 3 or time.perf_counter() - start < warmup:
        fn()
        calls += 1
    means, timed, faults = [], 0, minor_faults()
    for _ in range(repetitions):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        means.append(elapsed / n)
        timed += n
    faults = minor_faults() - faults
    return {"ms": statistics.median(means) * 1e3, "ms_min": min(means) * 1e3, "calls": timed,
            "faults": faults / timed}


def tensor_bytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts)


def peak_step_bytes(step, live_before: int) -> int:
    """live_before plus the peak net allocation of PyTorch's CPU allocator during one call of step()."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_us())  # stable: same-time events keep their recorded order
    net = peak = 0
    for e in events:
        net += e.nbytes()
        peak = max(peak, net)
    return live_before + peak


# ---- The programs --------------------------------------------------------------------------------


def predict_fn(name: str, mode: str, xs: list[torch.Tensor]):
    model = SPECS[name][0]().eval()
    if mode == "torchscript":
        model = torch.jit.script(model)
    elif mode == "optimize_for_inference":
        model = torch.jit.optimize_for_inference(torch.jit.script(model))

    def run():
        with torch.inference_mode():
            return model(*xs)

    return run


def train_fn(name: str, mode: str, xs: list[torch.Tensor], ys: list[torch.Tensor]):
    model = SPECS[name][0]()
    loss_fn = loss_module(name, model)
    if mode == "torchscript":
        loss_fn = torch.jit.script(loss_fn)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=LEARNING_RATE, foreach=True)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(*xs, *ys)
        loss.backward()
        opt.step()
        return loss

    def live_bytes() -> int:  # what is live between steps: data, weights, last step's gradients
        return tensor_bytes(xs) + tensor_bytes(ys) + tensor_bytes(params) + \
            tensor_bytes([p.grad for p in params if p.grad is not None])

    return run, live_bytes


def loaded_libraries(*needles: str) -> list[str]:
    """Real paths of the shared objects mapped into this process whose file name contains a needle."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if path.startswith("/") and any(n in os.path.basename(path) for n in needles):
                found.add(os.path.realpath(path))
    return sorted(found)


def config(threads: int) -> dict:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "requested_threads": threads,
        "blas": loaded_libraries("blas", "lapack"),
        "malloc": loaded_libraries("tcmalloc", "jemalloc") or ["glibc malloc"],
        "mkldnn": torch.backends.mkldnn.is_available(),
        "python": sys.executable,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    ap.add_argument("--programs", default="predict,train_step")
    ap.add_argument("--warmup", type=float, default=0.05, help="seconds of warm-up calls (at least 3 calls)")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--require", action="append", default=[],
                    help="fail unless a mapped library's name contains this (e.g. openblas, tcmalloc)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    cfg = config(args.threads)
    mapped = cfg["blas"] + cfg["malloc"]
    for need in args.require:
        if not any(need in os.path.basename(p) for p in mapped):
            print(f"pytorch_seed_models.py: required library '{need}' is not loaded; mapped: {mapped}",
                  file=sys.stderr)
            return 1
    print(f"pytorch: {json.dumps(cfg)}", file=sys.stderr)

    rows = []
    for name in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            xs, ys = make_data(name, batch)
            for program in args.programs.split(","):
                for mode in (PREDICT_MODES if program == "predict" else TRAIN_MODES):
                    row = {"model": name, "program": program, "batch": batch, "mode": mode, "threads": args.threads}
                    try:
                        if program == "predict":
                            row.update(measure(predict_fn(name, mode, xs), args.warmup, args.min_time,
                                               args.repetitions))
                        else:
                            run, live_bytes = train_fn(name, mode, xs, ys)
                            row.update(measure(run, args.warmup, args.min_time, args.repetitions))
                            row["peak_bytes"] = peak_step_bytes(run, live_bytes())
                    except Exception as e:  # an unsupported mode is a row with an error, shown by the report
                        if mode == "eager":
                            raise
                        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    rows.append(row)
                    shown = f"{row['ms']:.4f} ms" if "ms" in row else row["error"]
                    print(f"pytorch threads={args.threads} {program}/{name}/{mode}/batch:{batch}: {shown}",
                          file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump({"config": cfg, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
