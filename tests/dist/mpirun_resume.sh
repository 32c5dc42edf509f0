# Sourced by the examples' mpirun tests (mnist_mpirun.sh, miniboone_mpirun.sh): resume under
# mpirun -np 2, where rank 0 wrote the checkpoint and both ranks load it.
#   resume_is_seamless HALF ARGS...   ARGS: the example's options with an end (epochs or
#                                     --max-iterations) and --checkpoint-every dividing HALF
# Runs ARGS straight, then to iteration HALF and resumed from its checkpoint; the two final
# checkpoints (parameters and optimizer state) must be byte-equal. Uses $bin, $mpiexec, $work;
# sets status=1 on a difference.
resume_is_seamless() {
  local half="$1"
  shift
  "$mpiexec" --oversubscribe -np 2 "$bin" "$@" --out "$work/straight" > "$work/straight.log"
  "$mpiexec" --oversubscribe -np 2 "$bin" "$@" --max-iterations "$half" --out "$work/first" > "$work/first.log"
  "$mpiexec" --oversubscribe -np 2 "$bin" "$@" --resume "$work/first/checkpoint.bin" --out "$work/resumed" \
    > "$work/resumed.log"
  grep -q "resumed from .* at iteration $half" "$work/resumed.log" ||
    { echo "the resume did not start at iteration $half" >&2; status=1; }
  if cmp "$work/straight/checkpoint.bin" "$work/resumed/checkpoint.bin"; then
    echo "mpirun -np 2: $half iterations + resume give the checkpoint of the uninterrupted run, byte for byte"
  else
    echo "the resumed run's final checkpoint differs from the uninterrupted run's" >&2
    status=1
  fi
}
