#!/usr/bin/env bash
# Coverage-guided fuzzing of jllm's parsers with Jazzer (issue 16; TESTING.md, "Fuzzing").
# Usage: bench/fuzz.sh list                   the targets
#        bench/fuzz.sh TARGET [MINUTES]       fuzz one target (Class#method or a unique part of it), 10 minutes by default
#        bench/fuzz.sh all [MINUTES]          every target in turn, MINUTES each
#        bench/fuzz.sh seeds                  rewrite the seed inputs from ../shared (FuzzSeeds)
#        bench/fuzz.sh keep TARGET [KB]       keep a small cover of what fuzzing reached: libFuzzer's set-cover merge of
#                                             the generated corpus, its inputs of at most KB (4) KiB, as cov-<sha1>
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

one_target() {
  local matches
  matches=$(targets | grep -F -- "$1" || true)
  if [[ $(printf '%s\n' "$matches" | grep -c .) -ne 1 ]]; then
    echo "fuzz: '$1' names $(printf '%s\n' "$matches" | grep -c .) targets; bench/fuzz.sh list shows them" >&2; exit 2
  fi
  echo "$matches"
}

tools_build() {
  tools="$root/target-fuzz-tools"
  ./mvnw -q -B test-compile dependency:build-classpath -DbuildDir="$tools" -Dmdep.includeScope=test \
      -Dmdep.outputFile="$tools/test.classpath" >&2
  classpath="$tools/test-classes:$tools/classes:$(cat "$tools/test.classpath")"
}

case "${1:-}" in
  list) targets ;;
  seeds)
    tools_build
    "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$classpath" dev.jllm.FuzzSeeds src/test/resources \
        2> >(grep -v 'incubator modules' >&2) ;;
  keep)
    target=$(one_target "${2:-}")
    cls=$(grep -rl --include="${target%%#*}.java" '@FuzzTest' src/test/java | head -1)
    pkg=$(dirname "${cls#src/test/java/}")
    fqcn="${pkg//\//.}.${target%%#*}"
    generated=".cifuzz-corpus/$fqcn/${target#*#}"
    inputs="src/test/resources/$pkg/${target%%#*}Inputs/${target#*#}"
    [[ -d "$generated" ]] || { echo "fuzz: no generated corpus in $generated (fuzz first)" >&2; exit 1; }
    tools_build
    merged=$(mktemp -d)
    # what the corpus already holds counts as covered: only inputs that reach more are added to it
    find "$inputs" -maxdepth 1 -type f ! -name 'cov-*' -exec cp {} "$merged/" \;
    nice -n 19 "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$classpath" com.code_intelligence.jazzer.Jazzer \
        --target_class="$fqcn" --target_method="${target#*#}" -merge=1 -set_cover_merge=1 "$merged" "$generated" \
        >"$tools/keep.log" 2>&1 || { tail -20 "$tools/keep.log" >&2; exit 1; }
    rm -f "$inputs"/cov-*
    kept=0
    for f in $(find "$merged" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}'); do
      if [[ $(stat -c %s "$f") -le $(( ${3:-4} * 1024 )) ]]; then
        cp "$f" "$inputs/cov-$(sha1sum "$f" | cut -c1-40)"; kept=$((kept + 1))
      fi
    done
    echo "fuzz: kept $kept new inputs of the set cover in $inputs ($(du -sh "$inputs" | cut -f1) with the seeds)" >&2
    rm -rf "$merged" ;;
  all)
    failed=0
    for t in $(targets); do fuzz_one "$t" "${2:-10}" || failed=1; done
    exit $failed ;;
  ""|-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  *) fuzz_one "$(one_target "$1")" "${2:-10}" ;;
esac
