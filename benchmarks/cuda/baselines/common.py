"""Shared by the GPU baselines: the JSON line format of benchmarks/cuda/gpu_bench.cu and its timing
rule (calls per round chosen so one round lasts >= 20 ms, seven rounds, median per call)."""
import json
import statistics
import sys
import time
import traceback

ROUNDS = 7


def set_quick(quick):
    global ROUNDS
    ROUNDS = 3 if quick else 7


def emit(figure, backend, type_, batch, detail, us=None, nfe=None, error=None):
    row = {"figure": figure, "backend": backend, "type": type_, "batch": batch, "detail": detail}
    if error is None:
        row["us"] = round(us, 3)
        row["nfe"] = -1 if nfe is None else int(nfe)
    else:
        row["error"] = error
    print(json.dumps(row), flush=True)


def median_seconds(fn, sync):
    """fn() launches the work; sync() waits for it (block_until_ready / cuda.synchronize)."""
    sync(fn())  # warm-up: compilation, autotuning, allocator
    t0 = time.perf_counter()
    sync(fn())
    once = time.perf_counter() - t0
    calls = int(min(max(0.02 / max(once, 1e-7), 1), 2000))
    per_call = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        out = None
        for _ in range(calls):
            out = fn()
        sync(out)
        per_call.append((time.perf_counter() - t0) / calls)
    return statistics.median(per_call)


def guarded(figure, backend, type_, batch, detail, body):
    """Runs body() -> (seconds, nfe) and emits its line; a failure is reported, not fatal."""
    try:
        sec, nfe = body()
        emit(figure, backend, type_, batch, detail, us=1e6 * sec, nfe=nfe)
    except Exception as e:  # noqa: BLE001 - every failure is reported as a figure's error
        traceback.print_exc(file=sys.stderr)
        emit(figure, backend, type_, batch, detail, error=f"{type(e).__name__}: {e}"[:300])
