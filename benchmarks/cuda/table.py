"""Side-by-side table of one scripts/gpu-check run: reads its figures.jsonl (the JSON lines of
bench_cuda_gpu, bench_cuda_cpu and the baselines) and prints, per figure, taynode on the GPU, the
CPU backend and each baseline in microseconds, with the ratios to taynode's GPU time, then the
issue's acceptance figures (batch 100, float32) with their limits.

usage: python3 table.py figures.jsonl
"""
import json
import sys

LIMITS = [  # (figure, detail, limit in us) at batch 100, float
    ("f_eval", "", 20.0),
    ("coefficients", "K=3", 50.0),
    ("dopri5_solve", "rtol=atol=1.4e-8", 500.0),
    ("training_step", "RK4x4 | none | backprop", 1500.0),
    ("training_step", "RK4x4 | R3 | backprop", 2700.0),
]


def key(row):
    return row["figure"], row["type"], row["batch"], row["detail"].split(" (")[0]


def main(path):
    rows, examples = [], []
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "figure" in r and "backend" in r:
                rows.append(r)
            elif r.get("figure") == "mnist_example_iteration":
                examples.append(r)
    ours = {key(r): r for r in rows if r["backend"] == "cuda"}
    others = sorted({r["backend"] for r in rows} - {"cuda"})
    table = {}
    for r in rows:
        if r["backend"] != "cuda":
            table.setdefault(key(r), {})[r["backend"]] = r
    head = f"{'figure':14} {'type':6} {'batch':>6} {'detail':30} {'cuda us':>10} {'nfe':>5}"
    for o in others:
        head += f" {o + ' us':>14} {'x':>6}"
    print(head)
    for k in sorted(set(ours) | set(table), key=lambda k: (k[0], k[1], k[2], k[3])):
        r = ours.get(k)
        us = r.get("us") if r else None
        line = f"{k[0]:14} {k[1]:6} {k[2]:>6} {k[3][:30]:30} "
        line += f"{us:>10.1f} {r.get('nfe', -1):>5}" if us else f"{'-' if not r else 'error':>10} {'':>5}"
        for o in others:
            b = table.get(k, {}).get(o)
            if b and "us" in b:
                line += f" {b['us']:>14.1f} {b['us'] / us:>6.2f}" if us else f" {b['us']:>14.1f} {'':>6}"
            else:
                line += f" {('error' if b else '-'):>14} {'':>6}"
        print(line)
    print("\nacceptance (batch 100, float32; x = limit / measured, >= 1 meets it):")
    for fig, detail, limit in LIMITS:
        variants = [detail, (detail + " device").strip(), (detail + " graph").strip()]
        if fig == "dopri5_solve":  # the resident kernel (taylor/resident_solve.hpp), each rows_per_block
            variants += [f"{detail}, resident {n} rows/block" for n in (1, 2, 4, 8)]
        for variant in variants:
            r = ours.get((fig, "float", 100, variant))
            if r and "us" in r:
                print(f"  {fig:13} {variant:28} {r['us']:10.1f} us  limit {limit:7.0f}  x {limit / r['us']:.2f}")
            elif variant == detail:
                print(f"  {fig:13} {variant:28} not measured")
    none = ours.get(("training_step", "float", 100, "RK4x4 | none | backprop"))
    r3 = ours.get(("training_step", "float", 100, "RK4x4 | R3 | backprop"))
    if none and r3 and "us" in none and "us" in r3:
        print(f"  R3 / unregularized (RK4x4)     {r3['us'] / none['us']:.2f}  limit 1.8")
    # examples/mnist --device cuda [--graph] (scripts/gpu-check step 4b): the median iteration, and
    # the paper's 160 epochs x 600 iterations at that rate (limit: 5 minutes, evaluations not included).
    for r in examples:
        print(f"  mnist example, {r['device']:10} {r['reg']:4} {r['precision']}, batch {r['batch']}, {r['solver']}: "
              f"{r['ms']:.2f} ms/iteration, 160 epochs ~ {r['projected_160_epochs_minutes']:.1f} min"
              + ("  limit 5" if r["device"].startswith("cuda") else ""))


if __name__ == "__main__":
    main(sys.argv[1])
