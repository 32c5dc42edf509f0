#!/usr/bin/env bash
# examples/mnist runs unchanged under mpirun: the same short training (10 iterations of batch 100,
# RK4 on 2 steps, R_3, double) and evaluation (Dopri5 1.4e-8 on batches of 500, R_2/B/K metrics)
# by one process and by `mpirun -np 2`, on the 1000-image MNIST smoke slice of ../shared/data
# (linked as both the training and the test split). Every logged loss, error and NFE, the monitor's
# NFE and the evaluation row must agree to the digits the files print (they do bit for bit in
# double: the shards' gradients are summed, the evaluation's solves share their steps), and only
# rank 0 may write. Then, under mpirun: 20 iterations straight against 10 iterations, a checkpoint
# and a resume to 20 — the final checkpoints (parameters and optimizer state) must be byte-equal.
# Exit 77 (skip) without the slice.
# usage: mnist_mpirun.sh <mnist binary> <mpiexec> <shared data dir> <work dir>
set -euo pipefail
# shellcheck source=tests/dist/mpirun_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/mpirun_common.sh"
bin="$1" mpiexec="$2" shared="$(realpath -m "$3")" work="$4"
smoke="$shared/mnist/smoke"
[[ -f "$smoke/t10k-first1000-images-idx3-ubyte" ]] || { echo "no MNIST smoke slice in $smoke: skipped"; exit 77; }
rm -rf "$work" && mkdir -p "$work/data"
for split in train t10k; do
  ln -s "$smoke/t10k-first1000-images-idx3-ubyte" "$work/data/$split-images-idx3-ubyte"
  ln -s "$smoke/t10k-first1000-labels-idx1-ubyte" "$work/data/$split-labels-idx1-ubyte"
done
args=(--data "$work/data" --subset 1000 --epochs 1 --solver rk4 --steps 2 --reg r3 --lam 0.05
      --precision double --log-every 5 --monitor-every 5 --monitor-batch 100 --eval test --eval-batch 500
      --no-plot --no-progress --seed 3)
run_one_and_two "${args[@]}"
status=0
same_as_one_process train_log.csv ms_per_iteration
same_as_one_process eval.csv median_ms_per_iteration
diff "$work/one/monitor.csv" "$work/two/monitor.csv" >&2 || { echo "monitor.csv differs" >&2; status=1; }
((status == 0)) && echo "mnist under mpirun -np 2: training log, monitor NFE and evaluation equal to one process" \
  && cat "$work/two/eval.csv"

# Resume under mpirun (mpirun_common.sh): 10 iterations + resume to 20 against 20 straight.
resume_is_seamless 10 "${args[@]}" --epochs 2 --eval none --checkpoint-every 5
exit $status
