#!/usr/bin/python3
"""Tests bench/report.py on small hand-made result files (ctest bench.report; no PyTorch needed)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench")


def gbench(runs):
    return {"context": {}, "benchmarks": runs}


def kiln_run(name, ms, aggregate="median", **counters):
    return {"name": f"{name}/real_time_{aggregate}", "run_name": f"{name}/real_time", "run_type": "aggregate",
            "aggregate_name": aggregate, "real_time": ms * 1e3, "time_unit": "us", **counters}


def torch_row(program, batch, mode, threads, ms=None, **extra):
    """A row as pytorch_seed_models.py writes it: with ms, or with an error instead."""
    row = {"model": "mlp", "program": program, "batch": batch, "mode": mode, "threads": threads, **extra}
    if ms is not None:
        row.update(ms=ms, faults=0.0)
    return row


class ReportTest(unittest.TestCase):
    def run_report(self, kiln, peak, torch_docs, readme_text=None):
        with tempfile.TemporaryDirectory() as d:
            files = {"kiln.json": kiln, "peak.json": peak}
            files.update({f"torch{i}.json": doc for i, doc in enumerate(torch_docs)})
            for name, doc in files.items():
                with open(os.path.join(d, name), "w") as f:
                    json.dump(doc, f)
            cmd = [sys.executable, os.path.join(BENCH, "report.py"), "--kiln", os.path.join(d, "kiln.json"),
                   "--peak", os.path.join(d, "peak.json"), "--kiln-threads", "2"]
            for i in range(len(torch_docs)):
                cmd += ["--pytorch", os.path.join(d, f"torch{i}.json")]
            if readme_text is not None:
                with open(os.path.join(d, "README.md"), "w") as f:
                    f.write(readme_text)
                cmd += ["--readme", os.path.join(d, "README.md")]
            out = subprocess.run(cmd, capture_output=True, text=True)
            readme = open(os.path.join(d, "README.md")).read() if readme_text is not None else None
            return out, readme

    def fixtures(self):
        kiln = gbench([
            kiln_run("train_step/mlp/jit/batch:32", 0.5, MFLOP=50.0, faults=0.0, peak_MB=1.5),
            kiln_run("train_step/mlp/jit/batch:32", 0.9, aggregate="mean", MFLOP=50.0, faults=0.0, peak_MB=1.5),
            kiln_run("compile/mlp/train_step/cold/iterations:1/repeats:5", 120.0),
        ])
        peak = gbench([
            {"name": "fma_peak/real_time/threads:1", "run_name": "fma_peak/real_time/threads:1",
             "run_type": "iteration", "threads": 1, "GFLOP/s": 90.0, "real_time": 1, "time_unit": "ms"},
            {"name": "fma_peak/real_time/threads:2", "run_name": "fma_peak/real_time/threads:2",
             "run_type": "iteration", "threads": 2, "GFLOP/s": 200.0, "real_time": 1, "time_unit": "ms"},
            {"name": "fma_peak/real_time/threads:2", "run_name": "fma_peak/real_time/threads:2",
             "run_type": "iteration", "threads": 2, "GFLOP/s": 150.0, "real_time": 1, "time_unit": "ms"},
        ])
        config = {"torch": "1.13", "threads": 1, "blas": ["/x/openblas-pthread/libblas.so.3"],
                  "malloc": ["/x/libtcmalloc.so.4"], "mkldnn": True}
        t1 = {"config": config, "rows": [torch_row("train_step", 32, "eager", 1, 2.0, peak_bytes=3e6),
                                         torch_row("train_step", 32, "torchscript", 1, error="RuntimeError: x")]}
        t2 = {"config": {**config, "threads": 2},
              "rows": [torch_row("train_step", 32, "eager", 2, 1.5, peak_bytes=4e6)]}
        return kiln, peak, [t1, t2]

    def test_row_joins_the_median_and_the_fastest_pytorch(self):
        out, _ = self.run_report(*self.fixtures())
        self.assertEqual(out.returncode, 0, out.stderr)
        row = next(line for line in out.stdout.splitlines() if line.startswith("| mlp | train_step | 32 |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        # Kiln 0.5 ms (median, not the 0.9 mean); PyTorch 1.5 ms (eager, 2 threads) -> 3x;
        # 50 MFLOP / 0.5 ms = 100 GFLOP/s = 50 % of the best 2-thread peak (200).
        self.assertEqual(cells[3:11], ["0.500", "1.50", "eager, 2t", "3.00", "100", "50.0", "1.50", "4.00"])
        self.assertIn("| mlp | compile train_step | cold | 120 |", out.stdout)
        self.assertIn("train_step torchscript: RuntimeError: x", out.stdout)

    def test_readme_section_is_replaced_between_the_markers(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location("report", os.path.join(BENCH, "report.py"))
        report = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(report)
        before = f"# Title\n\n{report.BEGIN}\nold table\n{report.END}\nafter\n"
        out, readme = self.run_report(*self.fixtures(), readme_text=before)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(readme.startswith(f"# Title\n\n{report.BEGIN}\n"))
        self.assertTrue(readme.endswith(f"{report.END}\nafter\n"))
        self.assertNotIn("old table", readme)
        self.assertIn("| mlp | train_step | 32 |", readme)

    def test_readme_without_markers_is_an_error(self):
        out, readme = self.run_report(*self.fixtures(), readme_text="# no markers\n")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no bench markers", out.stderr)
        self.assertEqual(readme, "# no markers\n")


if __name__ == "__main__":
    unittest.main()
