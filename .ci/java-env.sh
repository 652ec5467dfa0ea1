# Sourced by ./jllm and .ci/run: sets JAVA_HOME to a JDK 25 (Temurin preferred), installing one from Debian if none is found.
find_jdk25() {
  local c
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/java-25-openjdk* /usr/lib/jvm/jdk-25*; do
    if [[ -n "$c" && -x "$c/bin/javac" ]] && "$c/bin/java" -version 2>&1 | grep -q 'version "25'; then
      echo "$c"; return 0
    fi
  done
  return 1
}
if ! JAVA_HOME="$(find_jdk25)"; then
  echo "jllm: no JDK 25 found; trying to install one (apt-get install openjdk-25-jdk-headless)" >&2
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq openjdk-25-jdk-headless) >&2 || true
  fi
  JAVA_HOME="$(find_jdk25)" || { echo "jllm: JDK 25 is required (set JAVA_HOME to a JDK 25)" >&2; exit 1; }
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
