#!/usr/bin/env bash
# Installs everything keyward needs to build, run and test, idempotently.
#
# Standard path: `rustup target add wasm32-unknown-unknown`. Where that target
# cannot be downloaded, it builds a wasm32 standard library for Debian's
# rustc-web toolchain instead (see ARCHITECTURE.md, "Toolchain"). A second run
# only checks and takes seconds. Source it (`. scripts/setup.sh`) to get the
# environment (PATH, *_BIN) that the build scripts use. KW_FORCE_DEBIAN_TOOLCHAIN=1
# takes the Debian path even where rustup works.
set -euo pipefail

KW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KW_WORKER_BUILD_VERSION="0.8.7"
KW_DEBIAN_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy lld-19)

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

has_wasm_std() { # $1: rustc
  local libdir
  libdir="$("$1" --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)" || return 1
  compgen -G "$libdir/libstd-*.rlib" >/dev/null
}

# Picks the toolchain that builds the worker; sets KW_WASM_PATH (prepended to
# PATH for wasm builds only, empty for the standard path).
setup_wasm_toolchain() {
  KW_WASM_PATH=""
  if [ -z "${KW_FORCE_DEBIAN_TOOLCHAIN:-}" ] && has_wasm_std rustc; then return; fi
  if [ -z "${KW_FORCE_DEBIAN_TOOLCHAIN:-}" ] && command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown >/dev/null 2>&1 \
     && has_wasm_std rustc; then
    log "added rustup target wasm32-unknown-unknown"
    return
  fi
  log "rustup cannot provide wasm32-unknown-unknown; using Debian's rustc-web"
  local missing=()
  for p in "${KW_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  local rustlib=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin
  if [ ! -e "$rustlib/rust-lld" ]; then
    as_root mkdir -p "$rustlib"
    as_root ln -sf /usr/lib/llvm-19/bin/lld "$rustlib/rust-lld"
  fi
  if ! has_wasm_std /usr/bin/rustc; then
    log "building the wasm32 standard library for /usr/bin/rustc (about 30 s)"
    local tmp
    tmp="$(mktemp -d)"
    mkdir -p "$tmp/src"
    printf '[package]\nname = "sysroot-probe"\nversion = "0.0.0"\nedition = "2021"\n[lib]\ncrate-type = ["cdylib"]\npath = "src/lib.rs"\n' >"$tmp/Cargo.toml"
    : >"$tmp/src/lib.rs"
    (cd "$tmp" && RUSTFLAGS=-Cembed-bitcode=yes RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort)
    local dest
    dest="$(/usr/bin/rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib"
    as_root mkdir -p "$dest"
    as_root cp "$tmp"/target/wasm32-unknown-unknown/release/deps/lib*.rlib "$dest/"
    rm -rf "$tmp"
    # Artifacts built against an older sysroot fail with "can't find crate".
    rm -rf "$KW_ROOT/target/wasm32-unknown-unknown"
  fi
  KW_WASM_PATH=/usr/bin
}

# The build tools are compiled unoptimised, both into one target directory (made on
# the first install, removed after the last): they only drive the build
# (wasm-bindgen then takes 0.5 s on keyward's wasm instead of 0.2 s), and a new
# machine compiles both in under 2 minutes instead of about 6.
KW_TOOLS_TARGET=""
cargo_tool() { # $1 crate, $2 version, $3 binary
  local have=""
  if [ -x "$HOME/.cargo/bin/$3" ]; then have="$("$HOME/.cargo/bin/$3" --version 2>/dev/null || true)"; fi
  case "$have" in
    *"$2"*) ;;
    *) log "cargo install $1 $2 (about a minute, once)"
       KW_TOOLS_TARGET="${KW_TOOLS_TARGET:-$(mktemp -d)}"
       # --force: cargo's own record may list the tool while its binary is gone.
       CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo install -q --force "$1" --version "$2" --target-dir "$KW_TOOLS_TARGET" ;;
  esac
}

setup_cargo_tools() {
  cargo_tool worker-build "$KW_WORKER_BUILD_VERSION" worker-build
  # The wasm-bindgen CLI must equal the library version in Cargo.lock.
  local bindgen
  bindgen="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$KW_ROOT/Cargo.lock")"
  cargo_tool wasm-bindgen-cli "$bindgen" wasm-bindgen
  if [ -n "$KW_TOOLS_TARGET" ]; then rm -rf "$KW_TOOLS_TARGET"; fi
}

setup_npm() {
  local stamp="$KW_ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$KW_ROOT/package-lock.json" -nt "$stamp" ]; then
    # `npm install --no-save` installs exactly what the lockfile pins and leaves it
    # untouched; unlike `npm ci`, it tolerates a registry that lacks some other
    # platform's optional packages (workerd for macOS and Windows).
    log "npm install (from package-lock.json)"
    (cd "$KW_ROOT" && npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# The console's browser tests drive Debian's Chromium (Playwright's own browser
# download does not work on these machines, and is never attempted).
setup_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "apt-get install chromium (for the console's browser tests, once)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
}

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
setup_wasm_toolchain
setup_cargo_tools
setup_npm
setup_browser

# Environment for the build, run and test scripts. node_modules/.bin comes first
# so that wrangler runs on the Node 22 that package.json installs; on the Debian
# path, /usr/bin's cargo and rustc then build everything, native and wasm32 alike.
export KW_ROOT KW_WASM_PATH
export PATH="$KW_ROOT/node_modules/.bin${KW_WASM_PATH:+:$KW_WASM_PATH}:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$KW_ROOT/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$KW_ROOT/node_modules/.bin/wasm-opt"
export WRANGLER_SEND_METRICS=false
