#!/usr/bin/env bash
# Coverage-guided fuzzing of jllm's parsers with Jazzer (issue 16; TESTING.md, "Fuzzing").
# Usage: bench/fuzz.sh list                   the targets
#        bench/fuzz.sh TARGET [MINUTES]       fuzz one target (Class#method or a unique part of it), 10 minutes by default
#        bench/fuzz.sh all [MINUTES]          every target in turn, MINUTES each
#        bench/fuzz.sh seeds                  rewrite the seed inputs from ../shared (FuzzSeeds)
# ./mvnw verify only replays the saved corpora (src/test/resources/**/*FuzzTestInputs/). Fuzzing runs at nice 19 in
# its own build directory (target-fuzz), keeps its growing corpus in .cifuzz-corpus/ (not committed) and writes each
# input that breaks a target's contract into that target's Inputs directory as crash-<sha1>: fix the parser, keep the
# input (rename it after what it found), and the replay guards the fix from then on. Figures per target: the last
# "DONE"/"pulse" line of the log in target-fuzz/fuzz-logs/ (executions, cov = edges reached, ft = features).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/.ci/java-env.sh"
cd "$root"
build="$root/target-fuzz"
logs="$build/fuzz-logs"

targets() {
  grep -rl --include='*FuzzTest.java' '@FuzzTest' src/test/java | sort | while read -r f; do
    cls="$(basename "$f" .java)"
    awk '/@FuzzTest/ {want=1} want && /void [a-zA-Z0-9_]+\(/ {match($0, /void [a-zA-Z0-9_]+\(/); print substr($0, RSTART+5, RLENGTH-6); want=0}' "$f" \
      | while read -r m; do echo "$cls#$m"; done
  done
}

fuzz_one() {
  local target="$1" minutes="$2"
  mkdir -p "$logs"
  local log="$logs/${target/\#/.}.log"
  echo "fuzz: $target for $minutes min (log: ${log#$root/})" >&2
  # JUnit's own timeouts would end the whole campaign; Jazzer hands each target's @Timeout to libFuzzer (-timeout).
  # keep_going: a finding does not end the campaign; each distinct one (by stack trace) is saved as crash-<sha1>.
  JAZZER_FUZZ=1 JAZZER_MAX_DURATION="${minutes}m" JAZZER_KEEP_GOING="${FUZZ_KEEP_GOING:-50}" nice -n 19 ./mvnw -B test -DbuildDir="$build" \
      -Dtest="$target" -Dsurefire.failIfNoSpecifiedTests=false -Djunit.jupiter.execution.timeout.mode=disabled \
      -Djazzer.valueprofile=true >"$log" 2>&1 && status=0 || status=$?
  grep -E '^#[0-9]+ +(DONE|pulse)' "$log" | tail -1 >&2 || true
  grep -E '^(==[0-9]+== )?(Java Exception|.*FuzzerSecurityIssue|.*crash-[0-9a-f]+)' "$log" | head -5 >&2 || true
  return $status
}

case "${1:-}" in
  list) targets ;;
  seeds)
    build="$root/target-fuzz-seeds"
    ./mvnw -q -B test-compile dependency:build-classpath -DbuildDir="$build" -Dmdep.includeScope=test \
        -Dmdep.outputFile="$build/test.classpath" >&2
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$build/test-classes:$build/classes:$(cat "$build/test.classpath")" \
        dev.jllm.FuzzSeeds src/test/resources 2> >(grep -v 'incubator modules' >&2) ;;
  all)
    failed=0
    for t in $(targets); do fuzz_one "$t" "${2:-10}" || failed=1; done
    exit $failed ;;
  ""|-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  *)
    matches=$(targets | grep -F -- "$1" || true)
    if [[ $(printf '%s\n' "$matches" | grep -c .) -ne 1 ]]; then
      echo "fuzz: '$1' names $(printf '%s\n' "$matches" | grep -c .) targets; bench/fuzz.sh list shows them" >&2; exit 2
    fi
    fuzz_one "$matches" "${2:-10}" ;;
esac
