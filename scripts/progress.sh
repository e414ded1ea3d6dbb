# Sourced by the setup scripts: run a slow step quietly, with its output kept in a log.
#
#   step LOG "Installing X" command args...
#
# prints "Installing X..." and, on a terminal, the seconds elapsed while it runs, then "done";
# on failure the last lines of LOG and the command's exit status. The full output stays in LOG.

step() {
  local log=$1 message=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  : >"$log"
  local start=$SECONDS status=0
  "$@" >>"$log" 2>&1 &
  local pid=$!
  if [ -t 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      printf '\r%s... %ds' "$message" $((SECONDS - start))
      sleep 1
    done
    wait "$pid" || status=$?
    printf '\r%s... ' "$message"
  else
    echo -n "$message... "
    wait "$pid" || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    echo "failed (exit status $status). The end of $log:"
    tail -n 30 "$log" | sed 's/^/    /'
    return "$status"
  fi
  echo "done ($((SECONDS - start))s)."
}
