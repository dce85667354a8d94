#!/usr/bin/env bash
# Installs the Debian 12 packages rscovlm needs, skipping those already installed.
#   scripts/install-deps.sh            core + io + CLI + tests
#   scripts/install-deps.sh --torch    also LibTorch (CPU) for the plugins
#   scripts/install-deps.sh --golden   Python torch/torchvision to regenerate tests/data/video
# Needs root (or sudo) only when something is missing. When another apt/dpkg run holds the package
# manager's lock, it waits for it (RSCOVLM_APT_LOCK_WAIT seconds at most, default 600; polling every
# RSCOVLM_APT_LOCK_POLL seconds, default 5) instead of failing at once.
set -euo pipefail

packages=(build-essential cmake pkg-config python3
          libxtensor-dev xtl-dev nlohmann-json3-dev doctest-dev libcli11-dev
          libstb-dev libtinyxml2-dev libtiff-dev libcpp-httplib-dev
          libdeflate-dev zlib1g-dev libjpeg62-turbo-dev clang-format wordnet-base
          libgdal-dev python3-gdal)
for arg in "$@"; do
  case "$arg" in
    --torch) packages+=(libtorch-dev libopenblas0 libgloo-dev) ;;
    --bench) packages+=(python3-pil python3-numpy python3-opencv python3-shapely nodejs npm) ;;
    --unicode) packages+=(unicode-data) ;;
    --golden) packages+=(python3-pil python3-numpy python3-torch python3-torchvision python3-nltk) ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: these Debian packages are missing and installing them needs root:" >&2
  echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
  echo "run this script as root (or install sudo), or install them yourself" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
lock_wait="${RSCOVLM_APT_LOCK_WAIT:-600}"
lock_poll="${RSCOVLM_APT_LOCK_POLL:-5}"
deadline=$((SECONDS + lock_wait))
# Runs apt-get; while it fails because another package manager run holds a lock (dpkg's frontend or
# database lock, or apt's lists/archives lock), waits and retries until the deadline.
apt() {
  local err rc
  err="$(mktemp)"
  while :; do
    rc=0
    "${SUDO[@]}" apt-get "$@" 2>"$err" || rc=$?
    if [ "$rc" -ne 0 ] && grep -qE "Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock" "$err"; then
      if [ "$SECONDS" -lt "$deadline" ]; then
        echo "install-deps: another package manager run holds its lock; waiting (at most $((deadline - SECONDS)) s more):" >&2
        grep -m1 -E "Could not get lock|Unable to" "$err" | sed 's/^/  /' >&2
        sleep "$lock_poll"
        continue
      fi
      echo "install-deps: gave up waiting for the package manager's lock after ${lock_wait} s" >&2
    fi
    cat "$err" >&2
    rm -f "$err"
    return "$rc"
  done
}
apt update -q
apt install -y -q --no-install-recommends "${missing[@]}"
