#!/usr/bin/env bash
# Fetches axe-core (the accessibility rules engine that
# TestBrowserAccessibility runs inside Chromium) from the npm registry into
# a cache outside the repository, checks the tarball against the sha512 the
# registry publishes for this version, and prints the path of axe.min.js.
# The one place that names the version and its checksum: .ci/run and
# `make axe` both call it. Needs curl, sha512sum and tar; not Node.
#
#   export HAUL_AXE_JS="$(bash .ci/axe.sh)"
#
# To move to another version: take "version" and "dist.integrity" from the
# registry's metadata at the path /axe-core/latest (on AXE_URL's host), and
# turn the integrity into hex with:
#   echo '<base64 after sha512->' | base64 -d | od -An -tx1 | tr -d ' \n'
set -euo pipefail

AXE_VERSION=4.14.1
# dist.integrity sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
AXE_SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
AXE_URL="https://registry.npmjs.org/axe-core/-/axe-core-${AXE_VERSION}.tgz"

dir="${XDG_CACHE_HOME:-$HOME/.cache}/haul/axe-core-${AXE_VERSION}"
tgz="$dir/axe-core-${AXE_VERSION}.tgz"
js="$dir/axe.min.js"
mkdir -p "$dir"

verified() { [ -f "$tgz" ] && echo "$AXE_SHA512  $tgz" | sha512sum --check --status; }

if ! verified; then
  tmp="$(mktemp "$dir/.download.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp" "$AXE_URL"
  if ! echo "$AXE_SHA512  $tmp" | sha512sum --check --status; then
    echo "axe.sh: $AXE_URL does not match the sha512 in .ci/axe.sh" >&2
    exit 1
  fi
  mv "$tmp" "$tgz"
fi
# Extracted from the checked tarball on every call (it is quick), so what
# the test runs is always what was verified.
tar -xzmf "$tgz" -C "$dir" --strip-components=1 package/axe.min.js
echo "$js"
