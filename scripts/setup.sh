#!/usr/bin/env bash
# Installs everything virtplane needs on Debian 12, as root: the libvirt stack from Debian's packages, a
# Node.js of a supported LTS line, and the npm dependencies from the lock file. Safe to run again: it skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js: 22 (22.15 or later) or 24, the LTS lines the dependencies support. A node on PATH of one of those is
# used as it is. Otherwise (Debian 12's own nodejs is 18) this project gets its own Node.js 24 in .node/: the
# official binary, with its headers, as the npm registry ships it (node-linux-<arch>), and npm 11 beside it,
# fetched with whatever npm is there (Debian's own is fine). scripts/node and .node/bin/npm run that copy.
NODE_VERSION=24.22.3
NPM_VERSION=11.21.2
supported_node() { "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a === 22 ? (b >= 15 ? 0 : 1) : a >= 24 ? 0 : 1)' 2>/dev/null; }

# chromium and tesseract-ocr: tests drive GraphiQL and the consoles in Debian's browser (playwright-core
# downloads none) and read its screenshots; ipxe and grub (grub-mkrescue) make the guests they boot; jq for the
# `virtplane` example script (clients/cli/examples) and its test; tmux gives `virtplane console` a terminal in its test.
packages=(dbus libvirt-dbus libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  dnsmasq-base nftables lvm2 xorriso iproute2 iptables ipxe iputils-ping chromium
  grub-pc-bin grub-common mtools tesseract-ocr jq tmux
  g++ make python3)  # better-sqlite3 is compiled here: its install fetches no prebuilt binary
system_node=$(command -v node || true)
if [ -n "$system_node" ] && supported_node "$system_node" && command -v npm >/dev/null; then
  local_node=false
else
  local_node=true
  # Debian's npm (and the nodejs 18 it needs) only to fetch the project's own Node.js.
  command -v npm >/dev/null || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Recommends would pull in a desktop's worth of packages; libvirt-dbus's own dependencies are enough.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's udev gives /dev/kvm to group kvm (mode 0660); machines without udev leave it root-only, so libvirt's
# qemu user cannot use it and libvirtd re-probes QEMU on nearly every call ("KVM was enabled when probing …
# but it is not available now"), costing seconds each. Set what udev would have set.
if [ -c /dev/kvm ] && [ "$(id -u)" = 0 ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

if $local_node; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "setup: no Node.js $NODE_VERSION package for $(uname -m); install Node.js 22 or 24 and run this again" >&2; exit 1 ;;
  esac
  if [ "$(.node/bin/node --version 2>/dev/null)" != "v$NODE_VERSION" ] || [ "$(.node/bin/npm --version 2>/dev/null)" != "$NPM_VERSION" ]; then
    echo "setup: installing Node.js $NODE_VERSION and npm $NPM_VERSION for this project into .node/ (found: $(node --version 2>/dev/null || echo 'no node'))"
    rm -rf .node
    # npm checks each tarball against the registry's integrity hash. The npm fetched is for the Node.js fetched
    # beside it, not for the one running this install: its engine warning here says nothing, hence --loglevel.
    npm install --prefix .node --no-save --no-package-lock --no-audit --no-fund --no-update-notifier --loglevel=error \
      "node-linux-$arch@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null
    mkdir -p .node/bin
    ln -s "../node_modules/node-linux-$arch/bin/node" .node/bin/node
    printf '#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/../node_modules/npm/bin/npm-cli.js" "$@"\n' >.node/bin/npm
    chmod +x .node/bin/npm
  fi
  node=.node/bin/node
  npm=.node/bin/npm
  # The dependencies' install scripts run on it too, and node-gyp compiles better-sqlite3 against the headers
  # that came with it instead of downloading them.
  export PATH="$PWD/.node/bin:$PATH"
  export npm_package_config_node_gyp_nodedir="$PWD/.node/node_modules/node-linux-$arch"
  export npm_config_nodedir="$npm_package_config_node_gyp_nodedir" # older node-gyp reads only this one
else
  node=node
  npm=npm
  # The same for a Node.js on PATH that has its headers beside it: a nodedir in an npmrc, set for another
  # Node.js, would otherwise build a better-sqlite3 that this one refuses to load (NODE_MODULE_VERSION).
  prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
  if [ -f "$prefix/include/node/node_version.h" ]; then
    export npm_package_config_node_gyp_nodedir="$prefix" npm_config_nodedir="$prefix"
  fi
fi

# node_modules holds compiled code for one Node.js: it is installed again when the lock file or the Node.js changed.
# A native module built for another Node.js loads only when first used: open a database to see.
sqlite_works() { "$node" -e 'new (require("better-sqlite3"))(":memory:").close()'; }
built_for="$("$node" -p 'process.version + " " + process.arch')"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ "$(cat node_modules/.virtplane-node 2>/dev/null)" != "$built_for" ] || ! sqlite_works 2>/dev/null; then
  echo "setup: installing npm dependencies for Node.js $built_for"
  "$npm" ci --no-audit --no-fund
  sqlite_works || { echo "setup: better-sqlite3 does not work on Node.js $built_for (see above)" >&2; exit 1; }
  echo "$built_for" >node_modules/.virtplane-node
fi
