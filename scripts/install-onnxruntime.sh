#!/usr/bin/env bash
# install-onnxruntime.sh puts libonnxruntime.so.1.24.1 (the C API version that
# github.com/yalue/onnxruntime_go v1.27.0 is built against) into third_party/onnxruntime/lib,
# verified by sha256. Sources, in order:
#   1. a library already named by $ONNXRUNTIME_LIB (copied, then verified);
#   2. the one "lmpseg runtime install" put in the user cache
#      (${XDG_CACHE_HOME:-~/.cache}/lmpseg/onnxruntime/1.24.1/lib), verified;
#   3. the official release archive (short connect timeout: many machines cannot reach it);
#   4. the onnxruntime-node@1.24.1 package from the npm registry (npm pack + tar; no install
#      scripts run), which ships bin/napi-v6/linux/x64/libonnxruntime.so.1.
# "lmpseg runtime install" does 3 and 4 in Go (no npm needed) into the user cache.
# The CPU library from sources 3 and 4 has no CUDA provider; see docs/gpu.md for the GPU.
set -euo pipefail
VERSION=1.24.1
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/onnxruntime/lib"
lib="$dest/libonnxruntime.so.$VERSION"
# sha256 of the Linux x64 CPU library in onnxruntime-node@1.24.1 (measured 2026-11-21). The release
# archive could not be reached from our machines, so its library is accepted only if it has the same hash.
SHA256_LIB="${ORT_SHA256:-53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4}"

verify() { # verify FILE: true when its sha256 is the pinned one
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256_LIB" ]
}
finish() {
  ln -sf "libonnxruntime.so.$VERSION" "$dest/libonnxruntime.so.1"
  ln -sf "libonnxruntime.so.1" "$dest/libonnxruntime.so"
  echo "onnxruntime $VERSION installed in $dest"
  exit 0
}

if verify "$lib"; then echo "onnxruntime $VERSION already in $dest"; exit 0; fi
mkdir -p "$dest"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [ -n "${ONNXRUNTIME_LIB:-}" ] && [ -f "$ONNXRUNTIME_LIB" ]; then
  if [ "$(sha256sum "$ONNXRUNTIME_LIB" | cut -d' ' -f1)" = "$SHA256_LIB" ]; then
    cp "$ONNXRUNTIME_LIB" "$lib"; finish
  fi
  echo "install-onnxruntime: $ONNXRUNTIME_LIB is not the pinned onnxruntime $VERSION CPU build; using it at run time as given, not copying it" >&2
fi

cache_root="${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}"
cached="$cache_root/lmpseg/onnxruntime/$VERSION/lib/libonnxruntime.so.$VERSION"
if verify "$cached"; then cp "$cached" "$lib"; finish; fi

url="https://github.com/microsoft/onnxruntime/releases/download/v$VERSION/onnxruntime-linux-x64-$VERSION.tgz"
if curl -fsSL --connect-timeout 5 --max-time 300 -o "$tmp/ort.tgz" "$url" 2>/dev/null; then
  tar -xzf "$tmp/ort.tgz" -C "$tmp"
  cand="$tmp/onnxruntime-linux-x64-$VERSION/lib/libonnxruntime.so.$VERSION"
  if verify "$cand"; then cp "$cand" "$lib"; finish; fi
  echo "install-onnxruntime: release archive library failed the sha256 check; trying npm" >&2
fi

if ! command -v npm >/dev/null; then
  echo "install-onnxruntime: npm is needed to fetch onnxruntime-node@$VERSION (apt-get install npm); or run 'go run . runtime install' (no npm needed), or set ONNXRUNTIME_LIB" >&2
  exit 1
fi
(cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
cand="$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
if verify "$cand"; then cp "$cand" "$lib"; finish; fi
echo "install-onnxruntime: library from onnxruntime-node@$VERSION has sha256 $(sha256sum "$cand" | cut -d' ' -f1), expected $SHA256_LIB; refusing it" >&2
exit 1
