# Timing helpers shared by the benchmarks (sourced).

# Nanoseconds since the epoch.
now() { date +%s%N; }

# The median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

# Runs a command RUNS times, output discarded; prints each run's wall time in µs, one per line.
times_us() {
  local t0 t1
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    echo $(( (t1 - t0) / 1000 ))
  done
}
