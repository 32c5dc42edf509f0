#!/usr/bin/env bash
# examples/miniboone runs unchanged under mpirun: the same short FFJORD training (12 iterations of
# batch 100, hidden 32,32, RK4 on 4 steps, R_2, double; validation after 6 and 12) and evaluation
# (Hutchinson and exact-trace NLL, NFE, R_2/B/K on 301 validation rows in batches of 150 — the
# last batch of 1 row is solved whole by each rank) by one process and by `mpirun -np 2`, on the
# shared MINIBOONE val.npy. Every logged loss and NFE, the validation log and the evaluation row
# must agree to the digits the files print (the shards' gradients are summed, the evaluation's
# solves share their steps), and only rank 0 may write. Then, under mpirun: 12 iterations straight
# against 6, a checkpoint and a resume to 12 — the final checkpoints must be byte-equal.
# Exit 77 (skip) without the data.
# usage: miniboone_mpirun.sh <miniboone binary> <mpiexec> <shared data dir> <work dir>
set -euo pipefail
# shellcheck source=tests/dist/mpirun_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/mpirun_common.sh"
bin="$1" mpiexec="$2" shared="$(realpath -m "$3")" work="$4"
data="$shared/miniboone"
[[ -f "$data/val.npy" ]] || { echo "no MINIBOONE val.npy in $data: skipped"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
args=(--data "$data" --hidden 32,32 --batch 100 --max-iterations 12 --solver rk4 --steps 4 --reg r2 --lam 0.01
      --precision double --log-every 3 --validate-every 6 --eval val --eval-subset 301 --eval-batch 150
      --exact-batch 150 --no-progress --seed 5)
run_one_and_two "${args[@]}"
status=0
same_as_one_process train_log.csv ms_per_iteration
same_as_one_process val_log.csv seconds
same_as_one_process eval.csv train_seconds median_ms_per_iteration
((status == 0)) && echo "miniboone under mpirun -np 2: training log, validation and evaluation equal to one process" \
  && cat "$work/two/eval.csv"

# Resume under mpirun (mpirun_common.sh): 6 iterations + resume to 12 against 12 straight.
resume_is_seamless 6 "${args[@]}" --eval none --validate-every 0 --checkpoint-every 3
exit $status
