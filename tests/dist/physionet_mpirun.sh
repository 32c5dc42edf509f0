#!/usr/bin/env bash
# examples/physionet runs unchanged under mpirun: the same short latent-ODE training (8 iterations
# of batch 10 on 40 training patients, RK4 on 4 steps with R_2, then RNODE, then adaptive Dopri5
# at 1e-5 with R_2 — one step-size sequence across the ranks, --rank-steps joint; the test monitor
# after 4 and 8) and evaluation (train and 21 test patients in batches of 20 — the last test batch of one
# patient is solved whole by each rank) by one process and by `mpirun -np 2`, on the shared
# PhysioNet 2012 records. Every logged loss, likelihood, MSE, KL, R and NFE, the monitor and the
# evaluation rows must agree to the digits the files print (each rank encodes its patients, the
# objective's sums are shared, the shards' gradients summed, the evaluation's solves share their
# steps), and only rank 0 may write. Then, under mpirun: 8 iterations straight against 4, a
# checkpoint and a resume to 8 — the final checkpoints must be byte-equal.
# Exit 77 (skip) without the records.
# usage: physionet_mpirun.sh <physionet binary> <mpiexec> <shared data dir> <work dir>
set -euo pipefail
# shellcheck source=tests/dist/mpirun_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/mpirun_common.sh"
bin="$1" mpiexec="$2" shared="$(realpath -m "$3")" work="$4"
data="$shared/physionet2012"
[[ -d "$data/set-a" ]] || { echo "no PhysioNet records in $data: skipped"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
status=0
common=(--data "$data" --cache "$work/records.cache" --patients 40 --test-patients 21 --batch 10 --max-iterations 8
        --solver rk4 --steps 4 --log-every 2 --monitor-every 4 --monitor-patients 11 --eval train,test
        --eval-batch 20 --no-progress --seed 4)
for reg in "--reg r2 --lam 1" "--reg rnode --lam-kin 0.1 --lam-fro 0.1" \
           "--reg r2 --lam 1 --solver dopri5 --steps 0 --rtol 1e-5 --atol 1e-5"; do
  read -r -a r <<< "$reg"
  args=("${common[@]}" "${r[@]}")
  run_one_and_two "${args[@]}"
  same_as_one_process train_log.csv ms_per_iteration
  same_as_one_process monitor.csv
  same_as_one_process eval.csv train_seconds median_ms_per_iteration
  ((status == 0)) && echo "physionet ${r[*]} under mpirun -np 2: training log, monitor and evaluation equal to one process" \
    && cat "$work/two/eval.csv"
done

# Resume under mpirun (mpirun_common.sh): 4 iterations + resume to 8 against 8 straight.
resume_is_seamless 4 "${common[@]}" --reg r2 --lam 1 --eval none --monitor-every 0 --checkpoint-every 2
exit $status
