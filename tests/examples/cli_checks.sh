#!/usr/bin/env bash
# Command-line checks of the examples and benchmarks (issue 10's defects 1 and 5), one ctest case
# per function below:  cli_checks.sh CASE BINARY
# Each case runs the real binary and checks its exit status, its message and the files it leaves.
# Exit 0: pass, 1: fail, 77: skipped (no MNIST smoke slice where a case needs it).
set -uo pipefail
case_name="$1"
bin="$2"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/taynode-cli-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
smoke="${TAYNODE_SHARED_DATA:-../shared/data}/mnist/smoke"
failures=0

check() {  # check DESCRIPTION CONDITION...
  local what="$1"
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
# run_fails PATTERN ARGS...: the binary exits non-zero and says PATTERN (extended regex).
run_fails() {
  local pattern="$1"
  shift
  local out status
  out="$("$bin" "$@" 2>&1)"
  status=$?
  if ((status != 0)) && grep -Eq -- "$pattern" <<<"$out"; then return 0; fi
  echo "  $bin $*: exit $status, output:"
  sed 's/^/    /' <<<"$out" | tail -n 5
  return 1
}
# A data folder in the layout mnist expects, made of the 1000-image smoke slice.
smoke_data() {
  [[ -f "$smoke/t10k-first1000-images-idx3-ubyte" ]] || { echo "skipped: no MNIST smoke slice in $smoke"; exit 77; }
  mkdir -p "$tmp/data"
  for split in train t10k; do
    ln -s "$(cd "$smoke" && pwd)/t10k-first1000-images-idx3-ubyte" "$tmp/data/$split-images-idx3-ubyte"
    ln -s "$(cd "$smoke" && pwd)/t10k-first1000-labels-idx1-ubyte" "$tmp/data/$split-labels-idx1-ubyte"
  done
}
mnist_quick=(--subset 200 --batch 50 --epochs 1 --eval none --no-plot --no-progress --log-every 1)

mnist_options() {
  # Rejected while parsing, before any data is read (--data does not exist).
  local nodata=(--data "$tmp/none" --out "$tmp/out")
  check "--seed -1 is rejected" run_fails 'seed.*-1' "${nodata[@]}" --seed -1
  check "--batch -5 is rejected (not wrapped to 2^64 - 5)" run_fails 'batch.*-5' "${nodata[@]}" --batch -5
  check "--checkpoint-every -3 is rejected" run_fails 'checkpoint-every' "${nodata[@]}" --checkpoint-every -3
  check "--max-iterations -1 is rejected" run_fails 'max-iterations' "${nodata[@]}" --max-iterations -1
  check "a negative learning rate is rejected" run_fails 'lr-values' "${nodata[@]}" --lr-values=-0.1,0.01,1e-3,1e-4
  check "--momentum 5 is rejected" run_fails 'momentum' "${nodata[@]}" --momentum 5
  check "--lam nan is rejected" run_fails 'lam' "${nodata[@]}" --reg r2 --lam nan
  check "--batch larger than --subset is rejected before loading" run_fails 'batch 300 exceeds --subset 200' \
    "${nodata[@]}" --subset 200 --batch 300
  check "--device tpu is rejected" run_fails "device must be cpu or cuda \\(got 'tpu'\\)" "${nodata[@]}" --device tpu
  check "--graph without --device cuda is rejected" run_fails 'graph needs --device cuda' "${nodata[@]}" --graph
  check "--graph with an adaptive solver is rejected" run_fails 'graph needs' "${nodata[@]}" --device cuda --graph \
    --solver dopri5 --steps 0
  check "a failed run leaves no output folder" test ! -e "$tmp/out"
  # A constant learning rate: one value, no boundaries (it used to fail: "1 values, 3 boundaries").
  smoke_data
  local out
  out="$("$bin" --data "$tmp/data" --out "$tmp/const" "${mnist_quick[@]}" --max-iterations 2 --lr-values 0.05 2>&1)"
  check "--lr-values 0.05 trains with a constant rate" grep -q 'lr 5e-02' <<<"$out"
  # --epochs 0 with --resume writes no logs, and says so.
  out="$("$bin" --data "$tmp/data" --out "$tmp/eval" --epochs 0 --eval none --no-plot \
          --resume "$tmp/const/checkpoint.bin" 2>&1)"
  check "--epochs 0 --resume names only the files it wrote" \
    grep -q 'wrote .*{settings.json,eval.csv,results.json}' <<<"$out"
  check "... and wrote no training log" test ! -e "$tmp/eval/train_log.csv"
  # --device cuda: trains where a GPU is; elsewhere (this CI: no driver) fails naming the CUDA call
  # or the missing CUDA build, before writing anything.
  local status
  out="$("$bin" --data "$tmp/data" --out "$tmp/cuda" "${mnist_quick[@]}" --max-iterations 1 --device cuda 2>&1)"
  status=$?
  if ((status == 0)); then
    check "--device cuda trains on the GPU in float" grep -q 'parameters, float' <<<"$out"
  else
    check "--device cuda without a GPU fails with a clear message" \
      grep -Eq 'mnist: error: (taynode::cuda: cudaMalloc failed|--device cuda: this mnist was built without CUDA)' <<<"$out"
    check "... and leaves no output folder" test ! -e "$tmp/cuda"
  fi
}

mnist_diverging_run() {
  # Issue 10, defect 1: a run that diverges must not replace the last good checkpoint with NaNs.
  # Resumed at iteration 4 with λ = 1e300, the parameters are still finite (if huge) after
  # iteration 5 and become non-finite in the update of iteration 6: the checkpoint of iteration 5
  # must survive (before the fix, that of iteration 6 replaced it, full of NaNs).
  smoke_data
  "$bin" --data "$tmp/data" --out "$tmp/out" "${mnist_quick[@]}" --max-iterations 4 --checkpoint "$tmp/c.bin" \
    >/dev/null 2>&1
  check "4 iterations write a checkpoint" test -s "$tmp/c.bin"
  check "a diverging resumed run fails" run_fails 'iteration 6 made the parameters non-finite' \
    --data "$tmp/data" --out "$tmp/out" "${mnist_quick[@]}" --epochs 3 --reg r3 --lam 1e300 \
    --resume "$tmp/c.bin" --checkpoint "$tmp/c.bin" --checkpoint-every 1
  # Loading rejects non-finite values, so a successful resume also shows the file is finite.
  local out
  out="$("$bin" --data "$tmp/data" --out "$tmp/out2" "${mnist_quick[@]}" --epochs 0 --resume "$tmp/c.bin" 2>&1)"
  check "its checkpoint is the last good one: finite, resumable, at iteration 5" \
    grep -q "resumed from .* at iteration 5\$" <<<"$out"
}

toy_options() {
  # (--iterations 20: a build without these checks trains briefly instead of for minutes.)
  check "--lambda nan is rejected" run_fails 'lambda.*finite' --lambda nan --out "$tmp/toy" --iterations 20
  check "--lr inf is rejected" run_fails 'lr.*finite' --lr inf --out "$tmp/toy" --iterations 20
  : >"$tmp/file"
  local out
  out="$("$bin" --out "$tmp/file/toy" --iterations 20 2>&1)"
  check "an unwritable --out fails" test $? -ne 0
  check "... before training (no result table)" \
    bash -c "! grep -q 'fit RMSE' <<<'$out' && grep -q 'cannot create' <<<'$out'"
  check "--device tpu is rejected" run_fails 'device' --device tpu --out "$tmp/toy" --iterations 20
  # --device cuda: trains where a GPU is; elsewhere fails naming the CUDA call (or the missing CUDA
  # build) and leaves no output folder.
  out="$("$bin" --device cuda --out "$tmp/toy_cuda" --iterations 20 2>&1)"
  if (($? != 0)); then
    check "--device cuda without a GPU fails with a clear message" \
      grep -Eq 'toy: error: (taynode::cuda: cudaMalloc failed|--device cuda: this toy was built without CUDA)' <<<"$out"
    check "... and leaves no output folder" test ! -e "$tmp/toy_cuda"
  else
    check "--device cuda trains on the GPU" grep -q 'fit RMSE' <<<"$out"
  fi
}

miniboone_options() {
  # Rejected before any data is read (--data does not exist) and before the output folder is made.
  local nodata=(--data "$tmp/none" --out "$tmp/mb")
  check "--batch 0 is rejected" run_fails 'batch must be >= 1' "${nodata[@]}" --batch 0
  check "--batch -5 is rejected (not wrapped to 2^64 - 5)" run_fails 'batch.*-5' "${nodata[@]}" --batch -5
  check "--lam nan is rejected" run_fails 'lam.*finite' "${nodata[@]}" --reg r2 --lam nan
  check "--reg r2 without --lam is rejected" run_fails 'needs --lam > 0' "${nodata[@]}" --reg r2
  check "--reg rnode without weights is rejected" run_fails 'lam-kin' "${nodata[@]}" --reg rnode
  check "--solver rk4 --steps 0 is rejected" run_fails 'no error estimate' "${nodata[@]}" --steps 0
  check "--hidden 64,0 is rejected" run_fails 'hidden widths' "${nodata[@]}" --hidden 64,0
  check "--gradient foo is rejected" run_fails 'backprop or adjoint' "${nodata[@]}" --gradient foo
  check "--samples -3 is rejected" run_fails 'samples.*-3' "${nodata[@]}" --samples -3
  check "a missing data folder is an error naming it" run_fails "$tmp/none" "${nodata[@]}"
  check "--collective-timeout -1 is rejected" run_fails 'collective-timeout must be >= 0' "${nodata[@]}" \
    --collective-timeout -1
  check "a failed run leaves no output folder" test ! -e "$tmp/mb"
}

physionet_options() {
  # Rejected before any data is read (--data does not exist) and before the output folder is made.
  local nodata=(--data "$tmp/none" --out "$tmp/ph")
  check "--batch 0 is rejected" run_fails 'batch must be >= 1' "${nodata[@]}" --batch 0
  check "--batch -5 is rejected (not wrapped to 2^64 - 5)" run_fails 'batch.*-5' "${nodata[@]}" --batch -5
  check "--lam nan is rejected" run_fails 'lam.*finite' "${nodata[@]}" --reg r3 --lam nan
  check "--reg r3 without --lam is rejected" run_fails 'needs --lam > 0' "${nodata[@]}" --reg r3
  check "--reg r7 is rejected" run_fails 'none, r2..r6, rnode' "${nodata[@]}" --reg r7 --lam 1
  check "--reg rnode without weights is rejected" run_fails 'lam-kin' "${nodata[@]}" --reg rnode
  check "--solver rk4 --steps 0 is rejected" run_fails 'no error estimate' "${nodata[@]}" --solver rk4
  check "--gradient foo is rejected" run_fails 'backprop or adjoint' "${nodata[@]}" --gradient foo
  check "--samples 0 is rejected" run_fails 'samples must be >= 1' "${nodata[@]}" --samples 0
  check "--normalization foo is rejected" run_fails 'normalization' "${nodata[@]}" --normalization foo
  check "--lr-decay 2 is rejected" run_fails 'lr-decay' "${nodata[@]}" --lr-decay 2
  check "--eval foo is rejected" run_fails 'eval must be' "${nodata[@]}" --eval foo
  check "a missing data folder is an error naming it" run_fails "$tmp/none" "${nodata[@]}"
  check "--collective-timeout -1 is rejected" run_fails 'collective-timeout must be >= 0' "${nodata[@]}" \
    --collective-timeout -1
  check "a failed run leaves no output folder" test ! -e "$tmp/ph"
}

mnist_threads_identical() {
  # --threads 2 trains bit-identically to --threads 1 (backend/cpu_threads.hpp): every logged
  # loss, error and NFE, and the final checkpoint (parameters and optimizer state) byte for byte.
  smoke_data
  local args=(--data "$tmp/data" --subset 200 --batch 100 --epochs 2 --solver rk4 --steps 2 --reg r3 --lam 0.05
              --eval test --eval-batch 200 --no-plot --no-progress --log-every 1 --monitor-every 2 --monitor-batch 100)
  "$bin" "${args[@]}" --threads 1 --out "$tmp/t1" > "$tmp/t1.log" 2>&1 || { cat "$tmp/t1.log"; failures=1; return; }
  "$bin" "${args[@]}" --threads 2 --out "$tmp/t2" > "$tmp/t2.log" 2>&1 || { cat "$tmp/t2.log"; failures=1; return; }
  for f in train_log.csv eval.csv; do  # all columns but the timing (the last)
    check "$f equal for 1 and 2 threads" diff <(sed 's/,[^,]*$//' "$tmp/t1/$f") <(sed 's/,[^,]*$//' "$tmp/t2/$f")
  done
  check "monitor.csv equal for 1 and 2 threads" diff "$tmp/t1/monitor.csv" "$tmp/t2/monitor.csv"
  check "final checkpoints byte-equal for 1 and 2 threads" cmp "$tmp/t1/checkpoint.bin" "$tmp/t2/checkpoint.bin"
  check "the log reports 2 threads" grep -q '"threads": 2' "$tmp/t2/results.json"
}

bench_train_missing_data() {
  check "a missing data folder is an error, not random pixels" run_fails "$tmp/none" 1 "$tmp/none"
}

"$case_name"
exit $((failures > 0))
