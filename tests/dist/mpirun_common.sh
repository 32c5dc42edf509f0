# Sourced by the examples' mpirun tests (mnist_mpirun.sh, miniboone_mpirun.sh, physionet_mpirun.sh).
# They set $bin (the example), $mpiexec, $work and status=0.

# Runs the example with ARGS by one process into $work/one and by `mpirun -np 2` into $work/two
# (logs beside them); the 2-rank run must report its ranks and a per-rank throughput line.
run_one_and_two() {
  rm -rf "$work/one" "$work/two"
  "$bin" "$@" --out "$work/one" > "$work/one.log"
  "$mpiexec" --oversubscribe -np 2 "$bin" "$@" --out "$work/two" > "$work/two.log"
  grep -q "data-parallel over 2 MPI ranks" "$work/two.log" || { echo "the mpirun run did not report 2 ranks" >&2; exit 1; }
  grep -q "/s per rank" "$work/two.log" || { echo "no per-rank throughput line" >&2; exit 1; }
}

# The columns of a CSV file without those named (timings); commas inside quotes ("32,32") first
# become semicolons so that fields are split where the header's are.
columns_without() {
  local file="$1"
  shift
  sed -E ':a; s/^(([^"]*"[^"]*")*[^"]*"[^",]*),/\1;/; ta' "$file" | awk -F, -v drop="$*" '
    BEGIN { n = split(drop, d, " "); for (i = 1; i <= n; ++i) skip[d[i]] = 1 }
    NR == 1 { for (i = 1; i <= NF; ++i) gone[i] = ($i in skip) }
    { line = ""; for (i = 1; i <= NF; ++i) if (!gone[i]) line = line $i ","; print line }'
}

# FILE of the one-process run ($work/one) and of the 2-rank run ($work/two) agree but for the
# named columns, and have a row beyond the header; else status=1.
same_as_one_process() {
  local file="$1"
  shift
  if ! diff <(columns_without "$work/one/$file" "$@") <(columns_without "$work/two/$file" "$@") >&2; then
    echo "$file differs between 1 process and 2 ranks" >&2
    status=1
  fi
  if [[ "$(wc -l < "$work/two/$file")" -lt 2 ]]; then
    echo "$file has no rows" >&2
    status=1
  fi
}

# Resume under mpirun -np 2, where rank 0 wrote the checkpoint and both ranks load it.
#   resume_is_seamless HALF ARGS...   ARGS: the example's options with an end (epochs or
#                                     --max-iterations) and --checkpoint-every dividing HALF
# Runs ARGS straight, then to iteration HALF and resumed from its checkpoint; the two final
# checkpoints (parameters and optimizer state) must be byte-equal; else status=1.
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
