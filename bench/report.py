#!/usr/bin/python3
"""Joins Kiln's benchmark results with the PyTorch peer's into the one table `make bench` prints.

Inputs (all written by scripts/bench.sh):
  --kiln      Google Benchmark JSON of build/bench/kiln_bench_models (with --benchmark_repetitions:
              the "median" aggregates are used)
  --peak      Google Benchmark JSON of build/bench/kiln_bench_fma_peak (the best repetition per
              thread count: noise only ever lowers a peak)
  --pytorch   one JSON per thread count from bench/peers/pytorch_seed_models.py; per row the
              fastest (mode, threads) wins
Per row: Kiln JIT ms, PyTorch ms and its mode, PyTorch / Kiln (above 1: Kiln is faster), Kiln
GFLOP/s (the FLOPs Kiln counts for the graph, per Kiln's time) and its share of the FMA peak for
Kiln's thread count, peak MB of a train step and minor page faults per call for both; and per
model the train step's JIT compile time, cold and from the disk cache.

--readme FILE rewrites the part of FILE between the bench markers with the table and the machine
it was measured on; without it the table goes to stdout only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys

MODELS = ["mlp", "cnn", "rnn", "shared_input", "shared_feature", "multi_input", "multi_output"]
ROWS = [("predict", 1), ("predict", 32), ("predict", 256), ("train_step", 1), ("train_step", 32), ("train_step", 256)]
BEGIN, END = "<!-- bench:begin (written by make bench: bench/report.py) -->", "<!-- bench:end -->"
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def gbench_runs(path: str) -> list[dict]:
    with open(path) as f:
        return json.load(f)["benchmarks"]


def run_key(b: dict) -> str:
    """The benchmark's name without the /iterations:N, /repeats:N and /real_time Google Benchmark appends."""
    return re.sub(r"/(iterations:\d+|repeats:\d+|real_time)", "", b["run_name"])


def kiln_rows(path: str) -> dict[str, dict]:
    """name -> {ms, counters...} from the median aggregates (or the only run without repetitions)."""
    out = {}
    for b in gbench_runs(path):
        if b.get("error_occurred"):
            raise SystemExit(f"report.py: Kiln benchmark {b['name']} failed: {b.get('error_message')}")
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        row = dict(b)
        row["ms"] = b["real_time"] * TO_MS[b["time_unit"]]
        out[run_key(b)] = row
    return out


def fma_peaks(path: str) -> dict[int, float]:
    """threads -> best GFLOP/s over the repetitions."""
    peaks: dict[int, float] = {}
    for b in gbench_runs(path):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        t = int(b.get("threads", 1))
        peaks[t] = max(peaks.get(t, 0.0), b["GFLOP/s"])
    if not peaks:
        raise SystemExit(f"report.py: no FMA peak in {path}")
    return peaks


def pytorch_results(paths: list[str]) -> tuple[list[dict], list[dict]]:
    configs, rows = [], []
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        configs.append(doc["config"])
        rows += doc["rows"]
    return configs, rows


def best_pytorch(rows: list[dict], model: str, program: str, batch: int) -> dict | None:
    ok = [r for r in rows if (r["model"], r["program"], r["batch"]) == (model, program, batch) and "ms" in r]
    return min(ok, key=lambda r: r["ms"]) if ok else None


def fmt(v, digits=3) -> str:
    """`digits` significant digits without an exponent (integers from 10**digits on); '-' for None."""
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.{max(digits - 1 - math.floor(math.log10(abs(v))), 0)}f}"


def table(kiln: dict, peaks: dict[int, float], torch_rows: list[dict], kiln_threads: int) -> list[str]:
    peak = peaks.get(kiln_threads) or peaks[max(peaks)]
    interpreter = any("/interpreter/" in name for name in kiln)  # BENCH_INTERPRETER=1
    lines = ["| model | program | batch | Kiln ms | PyTorch ms | PyTorch mode | PyTorch / Kiln | Kiln GFLOP/s "
             "| % of peak | Kiln MB | PyTorch MB | Kiln faults | PyTorch faults |" +
             (" Kiln interpreter ms |" if interpreter else ""),
             "|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|" + ("--:|" if interpreter else "")]
    for model in MODELS:
        for program, batch in ROWS:
            k = kiln.get(f"{program}/{model}/jit/batch:{batch}")
            t = best_pytorch(torch_rows, model, program, batch)
            if k is None and t is None:
                continue
            kms = k["ms"] if k else None
            gflops = k["MFLOP"] / kms if k and kms else None  # MFLOP per ms = GFLOP/s
            train = program == "train_step"
            cells = [
                model, program, str(batch), fmt(kms), fmt(t["ms"] if t else None),
                f"{t['mode']}, {t['threads']}t" if t else "-",
                fmt(t["ms"] / kms) if t and kms else "-",
                fmt(gflops), f"{100 * gflops / peak:.1f}" if gflops is not None else "-",
                fmt(k["peak_MB"]) if k and train else "-",
                fmt(t["peak_bytes"] / 1e6) if t and train and "peak_bytes" in t else "-",
                fmt(k["faults"], 2) if k else "-", fmt(t["faults"], 2) if t else "-"]
            if interpreter:
                i = kiln.get(f"{program}/{model}/interpreter/batch:{batch}")
                cells.append(fmt(i["ms"] if i else None))
            lines.append("| " + " | ".join(cells) + " |")
        for cache, label in (("cold", "cold"), ("disk_cache", "cached")):  # passes + LLVM, or a disk cache hit
            c = kiln.get(f"compile/{model}/train_step/{cache}")
            if c:
                cells = [model, "compile train_step", label, fmt(c["ms"])] + ["-"] * (len(lines[1].split("|")) - 6)
                lines.append("| " + " | ".join(cells) + " |")
    return lines


def command(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine(peaks: dict[int, float], configs: list[dict], kiln_threads: int) -> list[str]:
    cpu = re.search(r"Model name:\s*(.+)", command("lscpu"))
    libs = sorted({p for c in configs for p in c["blas"] if "lapack" not in os.path.basename(p)})
    malloc = sorted({os.path.basename(p) for c in configs for p in c["malloc"]})
    threads = sorted({c["threads"] for c in configs})
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = command("git", "describe", "--always", "--dirty")
    peak_text = ", ".join(f"{fmt(g)} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, g in sorted(peaks.items()))
    busy = max(peaks) > 1 and peaks[max(peaks)] < 0.75 * max(peaks) * peaks.get(1, 0)
    if busy:  # independent FMA chains scale with the cores unless something else runs on them
        peak_text += f" (the {max(peaks)}-thread peak does not scale: the machine was busy, every time is noisy)"
    return [
        f"Measured {date} on {cpu.group(1) if cpu else platform.processor()}, {os.cpu_count()} cores "
        f"({platform.system()} {platform.release()}), Kiln {commit} with {kiln_threads} threads. "
        f"FMA peak (build/bench/kiln_bench_fma_peak): {peak_text}.",
        f"PyTorch {configs[0]['torch'] if configs else '?'} (Debian python3-torch), BLAS {', '.join(libs) or '?'}, "
        f"malloc {', '.join(malloc) or '?'}, threads {' and '.join(map(str, threads))} (best per row), "
        f"oneDNN {'on' if configs and configs[0]['mkldnn'] else 'off'}.",
    ]


def explanation() -> list[str]:
    return [
        "Median ms per call (5 repetitions after warm-up). PyTorch: the fastest of eager, TorchScript and "
        "`optimize_for_inference` (predict) or eager and TorchScript (train_step), each with 1 and 2 threads. "
        "train_step = forward + binary cross-entropy (+ MSE for multi_output's sequence) + backward + SGD update. "
        "PyTorch / Kiln above 1: Kiln is faster. GFLOP/s counts Kiln's matmul/conv FLOPs (bench/models_bench.cpp); "
        "% of peak is of the FMA peak at Kiln's thread count. MB: bytes live during one train step (Kiln: the "
        "distinct buffers of arguments and results + planned arena, run as the trainer runs it: weights and "
        "optimizer slots updated in place, one buffer each; PyTorch: tensors live before the step + the peak of its CPU allocator's net "
        "allocations during it, from profiler memory events). Faults: minor page faults per call. "
        "compile train_step: the default passes plus LLVM for the train step graph, in a fresh JIT with no cache "
        "(cold) or loading the object from the disk cache (cached).",
    ]


def write_readme(path: str, body: list[str]) -> None:
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"report.py: {path} has no bench markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + "\n".join(body) + "\n" + END + tail
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--peak", required=True)
    ap.add_argument("--pytorch", action="append", default=[])
    ap.add_argument("--kiln-threads", type=int, default=int(os.environ.get("KILN_NUM_THREADS") or os.cpu_count()))
    ap.add_argument("--readme")
    args = ap.parse_args()

    kiln = kiln_rows(args.kiln)
    peaks = fma_peaks(args.peak)
    configs, torch_rows = pytorch_results(args.pytorch)
    body = machine(peaks, configs, args.kiln_threads) + [""] + \
        table(kiln, peaks, torch_rows, args.kiln_threads) + [""] + explanation()
    failed = sorted({f"{r['program']} {r['mode']}: {r['error']}" for r in torch_rows if "error" in r})
    if failed:
        body += ["", "PyTorch modes that did not run: " + "; ".join(failed)]
    print("\n".join(body))
    if args.readme:
        write_readme(args.readme, body)
        print(f"\n(written to {args.readme})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
