#!/usr/bin/env bash
# Serving throughput: jllm serve against llama.cpp's llama-server on the same GGUF file, same threads, slots and
# context, alternating servers round by round. Each round starts the server, waits for /health, sends one warm-up
# request, then runs bench/ServeBench.java with 1, 2, 4 and 8 concurrent streaming clients (REQUESTS requests each
# of TOKENS tokens, ignore_eos, greedy) and stops the server. Results go to OUT (JSON lines); the summary table
# (medians over the rounds) is printed at the end.
#
#   ./jllm synth --shape tinyllama-1.1b --type q4_0 --vocab ../shared/vocab/ggml-vocab-llama-spm.gguf -o /tmp/tl-q4_0.gguf
#   bench/serve.sh /tmp/tl-q4_0.gguf
#
# Environment: ROUNDS (2), REQUESTS per client (2), TOKENS (64), THREADS (2), SLOTS (8), CTX (8192), PORT (18080),
# CLIENTS ("1 2 4 8"), SERVERS ("jllm llama"), OUT (bench-serve-DATE.jsonl).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/.ci/java-env.sh"
model=${1:?usage: bench/serve.sh MODEL.gguf}
rounds=${ROUNDS:-2}
requests=${REQUESTS:-2}
tokens=${TOKENS:-64}
threads=${THREADS:-2}
slots=${SLOTS:-8}
ctx=${CTX:-8192}
port=${PORT:-18080}  # each server start takes the next port (a stopped server's connections may hold the last)
clients=${CLIENTS:-1 2 4 8}
servers=${SERVERS:-jllm llama}
out=${OUT:-bench-serve-$(date -u +%Y%m%dT%H%M%S).jsonl}
peers="$here/../shared/peers/llama.cpp/run"
pid=

stop_server() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  pid=
}
trap stop_server EXIT

start_server() {
  port=$((port + 1))
  url="http://127.0.0.1:$port"
  case "$1" in
    jllm) "$here/jllm" serve -m "$model" -t "$threads" -np "$slots" -c "$ctx" --port "$port" >/dev/null 2>"$out.$1.log" & ;;
    llama) "$peers" llama-server -m "$model" -t "$threads" -np "$slots" -c "$ctx" --port "$port" >/dev/null 2>"$out.$1.log" & ;;
  esac
  pid=$!
  for _ in $(seq 1 600); do
    if curl -sf "$url/health" >/dev/null 2>&1; then
      return
    fi
    kill -0 "$pid" 2>/dev/null || { echo "bench: $1 did not start (see $out.$1.log)" >&2; exit 1; }
    sleep 0.5
  done
  echo "bench: $1 was not ready after 300 s" >&2
  exit 1
}

echo "bench: $model, $threads threads, $slots slots, context $ctx, $tokens tokens per request, $requests requests per client, $rounds rounds -> $out" >&2
for round in $(seq 1 "$rounds"); do
  for server in $servers; do
    start_server "$server"
    java "$here/bench/ServeBench.java" run "$url" 1 1 8 warmup >/dev/null
    for c in $clients; do
      java "$here/bench/ServeBench.java" run "$url" "$c" "$requests" "$tokens" "$server" | tee -a "$out"
    done
    stop_server
  done
done
java "$here/bench/ServeBench.java" summary "$out"
