#!/usr/bin/env bash
# Nexus Studio set-up: idempotent, into .venv at the repository root.
#
#   ./setup.sh run [APP ARGS]   set up, then launch the app
#   ./setup.sh test [PYTEST ARGS]  set up, then run lint, the import contract and the whole test suite
#   ./setup.sh install          set up only
#   ./setup.sh launcher         set up, then add Nexus Studio to the desktop's applications menu
#
# Environment: PYTHON=python3.12 picks the interpreter (3.11+); NEXUS_SKIP_APT=1 skips system packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.nexus-setup-stamp"
TORCH_PIN="torch==2.13.0"
cd "$ROOT"

say() { printf '\033[1;34m[nexus]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[nexus]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[nexus]\033[0m %s\n' "$*" >&2; exit 1; }

# --- Python 3.11+ ------------------------------------------------------------------------------
find_python() {
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3.11 python3)
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

# --- system packages (apt, as root or with passwordless sudo; otherwise a clear message) ---------
# Qt's xcb/EGL runtime libraries, fonts, espeak-ng (the always-available voice), bubblewrap (sandbox),
# xvfb (headless GUI runs), desktop-file-utils (checks the launcher).
SYSTEM_PACKAGES=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 fonts-dejavu-core espeak-ng bubblewrap xvfb desktop-file-utils)

install_system_packages() {
  [ "${NEXUS_SKIP_APT:-0}" = "1" ] && return 0
  command -v dpkg-query >/dev/null 2>&1 || { warn "Not a Debian/Ubuntu system: make sure Qt 6's runtime libraries, espeak-ng, bubblewrap and xvfb are installed."; return 0; }
  local missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      warn "These system packages are missing: ${missing[*]}"
      warn "Install them with:  sudo apt-get install -y ${missing[*]}"
      warn "(continuing: the app runs without them, but speech, the sandbox or a real display may not work)"
      return 0
    fi
  fi
  say "Installing system packages: ${missing[*]}"
  if ! { $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
         { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }; }; then
    warn "apt-get could not install: ${missing[*]}. Install them by hand; continuing."
  fi
}

# --- the virtual environment ---------------------------------------------------------------------
requirements_fingerprint() {
  { cat "$ROOT/pyproject.toml"; echo "$TORCH_PIN"; "$VENV/bin/python" -V 2>&1; } | sha256sum | cut -d' ' -f1
}

setup_venv() {
  local py
  py="$(find_python)" || die "Python 3.11 or newer is needed. Install it (e.g. sudo apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11."
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating $VENV with $("$py" -V)"
    "$py" -m venv "$VENV" || die "Could not create the virtual environment. On Debian/Ubuntu: sudo apt-get install python3-venv"
  fi
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(requirements_fingerprint)" ]; then
    return 0
  fi
  say "Installing Python packages into .venv (first run takes a few minutes)"
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install --quiet --upgrade pip setuptools wheel
  # torch first, pinned: later requirements that accept 2.13.0 then install nothing more. Where a CPU
  # wheel of it is on disk (pip's find-links), pip takes that; elsewhere the registry's (CUDA) build.
  "${pip[@]}" install --quiet "$TORCH_PIN"
  "${pip[@]}" install --quiet -e "$ROOT[ml,dev,bench]"
  requirements_fingerprint > "$STAMP"
  say "Python packages are ready"
}

setup() {
  install_system_packages
  setup_venv
}

# --- commands -------------------------------------------------------------------------------------
run_tests() {
  export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
  local bin="$VENV/bin"
  say "ruff"
  "$bin/ruff" check "$ROOT"
  say "import contract: nexus_core never imports Qt or app"
  (cd "$ROOT" && "$bin/lint-imports" --no-cache)
  say "pytest"
  "$bin/python" -m pytest "$@"
}

command="${1:-run}"
[ $# -gt 0 ] && shift
case "$command" in
  run) setup; exec "$VENV/bin/python" "$ROOT/main.py" "$@" ;;
  test) setup; run_tests "$@" ;;
  install) setup ;;
  launcher) setup; exec "$VENV/bin/nexus" launcher install ;;
  -h|--help|help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "Unknown command '$command'. Use: ./setup.sh run | test | install | launcher" ;;
esac
