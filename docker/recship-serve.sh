#!/bin/sh
# The image's entry point: fetches the bundle when RECSHIP_BUNDLE_URL is set, then becomes the
# server (PID 1: SIGTERM drains it). The server itself checks every file against bundle.json.
#
# The tarball is what the server will run, so it must be the one meant: an https URL and its
# RECSHIP_BUNDLE_SHA256 are required. RECSHIP_BUNDLE_ALLOW_HTTP=true accepts plain http (e.g. a
# server inside the cluster), RECSHIP_BUNDLE_ALLOW_UNVERIFIED=true a URL without a sha256.
set -eu
BUNDLE_DIR="${RECSHIP_BUNDLE_DIR:-/models/bundle}"

fail() {
  echo "error: $1" >&2
  exit 1
}

# Refuses a URL the image should not trust, before anything is downloaded.
check_url() {
  case "$1" in
    https://*) ;;
    http://*)
      [ "${RECSHIP_BUNDLE_ALLOW_HTTP:-}" = true ] ||
        fail "RECSHIP_BUNDLE_URL is plain http: anyone on the way can replace the model. Use https, or set RECSHIP_BUNDLE_ALLOW_HTTP=true to accept it" ;;
    *) fail "RECSHIP_BUNDLE_URL must be an https:// URL (got ${1%%://*}://…)" ;;
  esac
  if [ -z "${RECSHIP_BUNDLE_SHA256:-}" ]; then
    [ "${RECSHIP_BUNDLE_ALLOW_UNVERIFIED:-}" = true ] ||
      fail "RECSHIP_BUNDLE_SHA256 is not set: the download could not be checked. Set it to the tarball's sha256 (sha256sum bundle.tar.gz), or set RECSHIP_BUNDLE_ALLOW_UNVERIFIED=true to run whatever the URL serves"
    echo "warning: the bundle from $1 is not checked (RECSHIP_BUNDLE_ALLOW_UNVERIFIED=true)" >&2
  fi
}

# Streams the URL into a file (a large bundle is never held in memory).
download() {
  node -e 'const [url, out] = process.argv.slice(1);
    const { createWriteStream } = require("fs"); const { Readable } = require("stream"); const { pipeline } = require("stream/promises");
    fetch(url).then((r) => { if (!r.ok || !r.body) throw new Error(`${url}: HTTP ${r.status}`); return pipeline(Readable.fromWeb(r.body), createWriteStream(out)); })
      .catch((e) => { console.error(`error: could not download the bundle: ${e.message}`); process.exit(1); })' \
    "$1" "$2"
}

if [ -n "${RECSHIP_BUNDLE_URL:-}" ]; then
  check_url "$RECSHIP_BUNDLE_URL"
  work="$(mktemp -d "${TMPDIR:-/tmp}/recship-bundle.XXXXXX")"
  download "$RECSHIP_BUNDLE_URL" "$work/bundle.tar.gz"
  if [ -n "${RECSHIP_BUNDLE_SHA256:-}" ]; then
    actual="$(sha256sum "$work/bundle.tar.gz" | cut -d ' ' -f 1)"
    expected="$(echo "$RECSHIP_BUNDLE_SHA256" | tr 'A-F' 'a-f' | tr -d ' ')"
    [ "$actual" = "$expected" ] ||
      { rm -rf "$work"; fail "the bundle's sha256 $actual is not RECSHIP_BUNDLE_SHA256 ($expected)"; }
  fi
  mkdir -p "$BUNDLE_DIR"
  # the tarball holds bundle.json at its top level or inside one folder
  tar -xzf "$work/bundle.tar.gz" -C "$BUNDLE_DIR"
  rm -rf "$work"
  if [ ! -f "$BUNDLE_DIR/bundle.json" ]; then
    inner="$(dirname "$(find "$BUNDLE_DIR" -maxdepth 2 -name bundle.json | head -n 1)")"
    [ -n "$inner" ] && [ "$inner" != "." ] && BUNDLE_DIR="$inner"
  fi
fi
exec node /opt/recship/dist/cli/index.js serve --bundle "$BUNDLE_DIR" --host 0.0.0.0 --port "${RECSHIP_PORT:-8080}" "$@"
