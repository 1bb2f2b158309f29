# shellcheck shell=bash
# Host daemons tracked by pidfile. Processes are only ever signalled by the pid
# recorded when we started them, and only while /proc/<pid>/exe is still the
# binary we started. Needs RUN_DIR and LOG_DIR; source common.sh first.

_pidfile() { echo "${RUN_DIR}/$1.pid"; }

# daemon_pid NAME: print the pid if NAME is running as we started it.
daemon_pid() {
  local file pid exe
  file="$(_pidfile "$1")"
  [[ -f "${file}" ]] || return 1
  { read -r pid && read -r exe; } <"${file}" || return 1
  [[ -n "${pid}" && -d "/proc/${pid}" ]] || return 1
  [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null)" == "${exe}" ]] || return 1
  echo "${pid}"
}

daemon_running() { daemon_pid "$1" >/dev/null; }

# daemon_start NAME BINARY ARGS...: start BINARY in its own session, output to
# ${LOG_DIR}/NAME.log, unless it is already running.
daemon_start() {
  local name="$1" bin="$2" pid
  shift 2
  if pid="$(daemon_pid "${name}")"; then
    log "${name}: already running (pid ${pid})"
    return 0
  fi
  [[ -x "${bin}" ]] || die "${name}: ${bin} is not executable"
  mkdir -p "${RUN_DIR}" "${LOG_DIR}"
  echo "=== $(date -Is) starting ${name}: ${bin} $*" >>"${LOG_DIR}/${name}.log"
  # Without job control a background job is no process group leader, so setsid
  # needs no fork and $! is the daemon itself.
  setsid "${bin}" "$@" >>"${LOG_DIR}/${name}.log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n%s\n' "${pid}" "$(readlink -f "${bin}")" >"$(_pidfile "${name}")"
  log "${name}: started (pid ${pid}, log ${LOG_DIR}/${name}.log)"
}

# daemon_stop NAME [TIMEOUT]: SIGTERM, then SIGKILL after TIMEOUT seconds.
daemon_stop() {
  local name="$1" timeout="${2:-15}" pid i
  if pid="$(daemon_pid "${name}")"; then
    log "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      [[ -d "/proc/${pid}" ]] || break
      sleep 0.1
    done
    if [[ -d "/proc/${pid}" ]]; then
      log "${name} did not stop in ${timeout}s, killing pid ${pid}"
      kill -KILL "${pid}" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$(_pidfile "${name}")"
}

# daemon_fail NAME MESSAGE: report a failed component with the end of its log.
daemon_fail() {
  local name="$1"
  shift
  {
    echo "ERROR: ${name} failed: $*"
    if [[ -f "${LOG_DIR}/${name}.log" ]]; then
      echo "--- last lines of ${LOG_DIR}/${name}.log:"
      tail -n 40 "${LOG_DIR}/${name}.log"
    fi
  } >&2
  exit 1
}
