#!/usr/bin/env bash
# Generation speed with -t 1/2/4, on a quiet machine and with a second busy process (one core spinning), for each
# model given. Prints a Markdown table of median tokens/s over ROUNDS runs (default 3).
#   bench/threads.sh MODEL [MODEL...]          e.g. ../shared/models/stories260K.gguf /tmp/bench/tl-q4_0.gguf
# Environment: ROUNDS (default 3), TOKENS (default 32), JLLM (default ./jllm), THREADS (default "1 2 4").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-3}
tokens=${TOKENS:-32}
jllm=${JLLM:-./jllm}
threads=${THREADS:-1 2 4}
[[ $# -ge 1 ]] || { echo "usage: bench/threads.sh MODEL [MODEL...]" >&2; exit 2; }

speed() { # model threads -> tokens/s of one run
  "$jllm" generate -m "$1" -p "Once upon a time" -n "$tokens" --temp 0 -t "$2" 2>&1 >/dev/null \
    | sed -n 's/^generation: .*(\([0-9.]*\) tokens\/s).*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

busy_pid=""
stop_busy() { [[ -n "$busy_pid" ]] && kill "$busy_pid" 2>/dev/null || true; busy_pid=""; }
trap stop_busy EXIT

echo "| model | load | $(for t in $threads; do printf -- '-t %s | ' "$t"; done)"
echo "|---|---|$(for t in $threads; do printf -- '---|'; done)"
for model in "$@"; do
  for load in quiet busy; do
    if [[ $load == busy ]]; then
      (while :; do :; done) &
      busy_pid=$!
    fi
    declare -A runs=()
    for ((r = 0; r < rounds; r++)); do          # alternate the thread counts within each round
      for t in $threads; do runs[$t]+="$(speed "$model" "$t") "; done
    done
    row="| $(basename "$model") | $load |"
    for t in $threads; do row+=" $(echo "${runs[$t]}" | tr ' ' '\n' | grep . | median) |"; done
    echo "$row"
    unset runs
    stop_busy
  done
done
