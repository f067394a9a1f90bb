"""The benchmarks' limits are bounds: the least work (counted by hand on tiny shapes) at the
fastest rate measured."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@contextmanager
def _load(name: str) -> Iterator[Any]:
    """``benchmarks/<name>.py`` loaded from its file (removed from ``sys.modules`` afterwards)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_sweep_limit_counts_the_least_work() -> None:
    """By hand: 6 layers, first steered layer 2. Layers 0-2 once per token; layers 3-4 per
    coefficient at every token; the top layer per coefficient: keys/values of every token and
    the rest at the last token; the unembedding at the last token."""
    with _load("sweep") as bench:
        sh = bench.Shape(d=8, inter=16, layers=6, heads=2, kv_heads=1, head_dim=4, vocab=11)
        kv = 2 * 2 * 8 * 4
        assert sh.linear == 2 * (8 * 8 + 8 * 8 + 3 * 8 * 16) + kv
        prompts = [[1, 2, 3, 4], [1, 2, 5]]          # prefix 2, own tokens 2 and 1
        att = 4 * 2 * 4                              # per (query, key) pair

        def layer(start: int, n: int) -> int:         # n tokens from position start, one layer
            return n * sh.linear + att * sum(start + j + 1 for j in range(n))

        once = 3 * (layer(0, 2) + layer(2, 2) + layer(2, 1))
        middle = 2 * (layer(0, 2) + layer(2, 2) + layer(2, 1))
        top = 2 * kv + (2 * kv + sh.linear - kv + att * 4) + (1 * kv + sh.linear - kv + att * 3)
        unembed = 2 * 2 * 8 * 11
        want = once + 3 * (middle + top + unembed)
        assert bench.necessary_flops(sh, prompts, 2, 3) == want
        # the last layer steered alone: everything below it once, the top layer per coefficient
        below = 5 * (layer(0, 2) + layer(2, 2) + layer(2, 1))
        assert bench.necessary_flops(sh, prompts, 5, 1) == below + top + unembed


def test_meter_keeps_the_fastest_measurement() -> None:
    with _load("rates") as rates:
        values = iter([3.0, 5.0, 4.0])
        meter = rates.Meter(lambda: next(values))
        for _ in range(3):
            meter.measure()
        assert meter.best == 5.0 and meter.seen == [3.0, 5.0, 4.0]
        assert "best of 3" in meter.describe(1.0, "x")


def test_families_benchmark_runs_both_paths_and_agrees() -> None:
    """The per-family table: an adapter family on the fast path, one without on the generic
    path, both equal to the Hugging Face loop."""
    with _load("families") as bench:
        line = bench.main(["--quick", "--families", "llama,gpt2"])
    fields = dict(kv.split("=") for kv in line.split(": ", 1)[1].split())
    assert fields["n"] == "2" and fields["fast"] == "llama"
    assert float(fields["max_abs_diff"]) <= 1e-5


JOB_LOG = """Sweeping harmfulness reading vector over 27 coefficients
sweeps done (129 s)
Sweeping 8 random directions at r = -1, -0.5, 0, 0.5, 1
random directions done (63 s)
theory link, fits and verdicts done (51 s)

Done in 258 s. Outputs in /tmp/x:
"""


def test_validate_job_reads_the_stage_lines() -> None:
    """The job benchmark reads each stage's time from the job's own lines, counts a run over the
    target as missed, and refuses a log of a job that did not finish."""
    import pytest

    with _load("validate_job") as vj:
        stages = vj.parse_stages(JOB_LOG)
        assert stages == {"sweeps": 129.0, "random directions": 63.0,
                          "theory link, fits, verdicts": 51.0, "job": 258.0}
        runs = [vj.JobTimes(stages, 264.6), vj.JobTimes({**stages, "job": 290.0}, 297.0)]
        assert runs[0].outside_sweeps == 129.0
        assert vj.summary(runs, 260.0) == ("validate_job: runs=2 wall=265,297 job=258,290 "
                                           "target=260 met=0 of 2")   # met on the wall time
        edge = [vj.JobTimes({**stages, "job": t - 6}, t) for t in (250.0, 255.0, 260.0, 290.0)]
        assert vj.summary(edge, 260.0).endswith("met=3 of 4")   # at the target counts as met
        assert "| 1 | 129 s | 63 s | 51 s | 258 s | 129 s | 264.6 s | 0.99 |" in vj.table(runs, 260.0)
        no_random = vj.parse_stages(JOB_LOG.replace("random directions done (63 s)\n", ""))
        assert no_random["random directions"] is None
        with pytest.raises(ValueError, match="did not finish"):
            vj.parse_stages(JOB_LOG.split("Done in")[0])


def test_replay_does_the_work_it_is_given(monkeypatch: Any) -> None:
    """The GEMM-only replay runs the layer's products until the requested FLOPs are done (one
    warm-up round besides) and reports the time of exactly that work."""
    import torch

    from tests.empirics.tiny import tiny_llama

    lm = tiny_llama()
    done: list[int] = []
    linear = torch.nn.functional.linear

    def counting(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        done.append(2 * x.shape[0] * w.shape[0] * w.shape[1])
        return linear(x, w)

    with _load("rates") as rates:
        mats = rates.layer_matrices(lm)
        per_round = sum(2 * 8 * w.shape[0] * w.shape[1] for w in mats)
        monkeypatch.setattr(torch.nn.functional, "linear", counting)
        seconds = rates.gemm_replay(lm, 3 * per_round, rows=8)
    assert sum(done) == 4 * per_round and len(done) == 4 * len(mats)
    assert seconds > 0


def test_sustained_rate_is_work_over_time() -> None:
    """The sustained rate is all the work over all the time (a harmonic mean of the calls'
    rates), not the mean of the rates: calls of 4 and 12 ms doing 1 GFLOP each hold 125
    GFLOP/s, while their rates average 167; the best is the fastest call's."""
    import time

    import torch

    durations = iter([0.004, 0.012] * 10_000)
    threads = torch.get_num_threads()
    with _load("sustained") as sustained:
        held = sustained.hold(lambda: time.sleep(next(durations)), 10**9, 2.5,
                              threads=1 if threads > 1 else 2)
    assert torch.get_num_threads() == threads  # restored for the tests that follow
    assert 200 < held.best <= 250
    assert 0.75 * 125 < held.mean < 1.02 * 125  # sleeps only overrun
    assert held.mean_over_best < 0.65 and len(held.windows) == 1
