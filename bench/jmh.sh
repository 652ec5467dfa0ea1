#!/usr/bin/env bash
# JMH microbenchmarks of jllm's kernels and a memory-bandwidth probe, then a table of GB/s against the bandwidth.
# Usage: bench/jmh.sh [--no-probe] [JMH options] [benchmark regex ...]   (bench/jmh.sh -h for all options)
#   bench/jmh.sh                                   everything (about 7 minutes)
#   bench/jmh.sh -p kernel=Q4_0,Q8_0 -p batch=1 MatVec
# The machine is shared: run timings under the lock, e.g. flock /tmp/bench.lock bench/jmh.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/.ci/java-env.sh"
build="$root/target"
cpfile="$build/jmh.classpath"
stamp="$build/jmh.stamp"
if [[ ! -f "$stamp" || ! -f "$cpfile" ]] || [[ -n "$(find "$root/src" "$root/pom.xml" -newer "$stamp" -print -quit 2>/dev/null)" ]]; then
  echo "jmh: building (first use or sources changed) ..." >&2
  (cd "$root" && ./mvnw -q -B test-compile dependency:build-classpath -Dmdep.includeScope=test \
      -Dmdep.outputFile="$cpfile" >&2) || { echo "jmh: build failed" >&2; exit 1; }
  touch "$stamp"
fi
exec "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
  -cp "$build/test-classes:$build/classes:$(cat "$cpfile")" dev.jllm.jmh.JmhMain "$@" \
  2> >(grep -v --line-buffered -E '^WARNING: Using incubator modules' >&2)
