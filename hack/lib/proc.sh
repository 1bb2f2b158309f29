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
  # A binary replaced by a rebuild shows as "<path> (deleted)": still ours.
  case "$(readlink "/proc/${pid}/exe" 2>/dev/null)" in
    "${exe}" | "${exe} (deleted)") echo "${pid}" ;;
    *) return 1 ;;
  esac
}

daemon_running() { daemon_pid "$1" >/dev/null; }

# _fingerprint BINARY ARGS...: what a daemon was started with: the binary (and
# its inode, so a rebuild counts), its arguments and the contents of every
# argument that names a file.
_fingerprint() {
  local a
  {
    stat -L -c '%i %Y' "$1"
    for a in "$@"; do
      echo "${a}"
      if [[ -f "${a}" ]]; then sha256sum <"${a}"; fi
    done
  } | sha256sum | cut -d' ' -f1
}

# daemon_start NAME BINARY ARGS...: start BINARY in its own session, output to
# ${LOG_DIR}/NAME.log, unless it is already running with the same binary,
# arguments and config files (then it is left alone; otherwise restarted).
# With DAEMON_NETNS set (a path like /run/netns/NAME), in that network namespace.
daemon_start() {
  local name="$1" bin="$2" pid fp netns=()
  [[ -z "${DAEMON_NETNS:-}" ]] || netns=(nsenter "--net=${DAEMON_NETNS}")
  shift 2
  fp="$(_fingerprint "${bin}" "$@")"
  if pid="$(daemon_pid "${name}")"; then
    if [[ "$(sed -n 3p "$(_pidfile "${name}")")" == "${fp}" ]]; then
      log "${name}: already running (pid ${pid})"
      return 0
    fi
    log "${name}: configuration changed, restarting"
    daemon_stop "${name}"
  fi
  [[ -x "${bin}" ]] || die "${name}: ${bin} is not executable"
  mkdir -p "${RUN_DIR}" "${LOG_DIR}"
  echo "=== $(date -Is) starting ${name}: ${bin} $*" >>"${LOG_DIR}/${name}.log"
  # Without job control a background job is no process group leader, so setsid
  # needs no fork and $! is the daemon itself (nsenter execs it too).
  setsid "${netns[@]}" "${bin}" "$@" >>"${LOG_DIR}/${name}.log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n%s\n%s\n' "${pid}" "$(readlink -f "${bin}")" "${fp}" >"$(_pidfile "${name}")"
  log "${name}: started (pid ${pid}, log ${LOG_DIR}/${name}.log)"
}

# daemon_stop NAME [TIMEOUT]: SIGTERM, then SIGKILL after TIMEOUT seconds.
daemon_stop() { daemons_stop "${2:-15}" "$1"; }

# daemons_stop TIMEOUT NAME...: stop several daemons at once.
daemons_stop() {
  local timeout="$1" name pid i pids=() names=()
  shift
  for name in "$@"; do
    if pid="$(daemon_pid "${name}")"; then
      log "stopping ${name} (pid ${pid})"
      kill -TERM "${pid}" 2>/dev/null || true
      pids+=("${pid}")
      names+=("${name}")
    fi
  done
  for ((i = 0; i < timeout * 10; i++)); do
    _any_alive "${pids[@]}" || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if _alive "${pids[i]}"; then
      log "${names[i]} did not stop in ${timeout}s, killing pid ${pids[i]}"
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
  done
  for name in "$@"; do rm -f "$(_pidfile "${name}")"; done
  for ((i = 0; i < 20; i++)); do
    _any_alive "${pids[@]}" || break
    sleep 0.1
  done
}

# _alive PID: the process exists and is not a zombie.
_alive() {
  [[ -r "/proc/$1/stat" ]] || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

_any_alive() {
  local p
  for p in "$@"; do _alive "${p}" && return 0; done
  return 1
}

# daemon_fail NAME MESSAGE: report a failed component with the end of its log.
daemon_fail() {
  local name="$1"
  shift
  {
    echo "ERROR: ${name} failed: $*"
    if [[ -f "${LOG_DIR}/${name}.log" ]]; then
      echo "--- last lines of ${LOG_DIR}/${name}.log:"
      grep -v DEPRECATION "${LOG_DIR}/${name}.log" | tail -n 25 | cut -c1-400
    fi
  } >&2
  exit 1
}
