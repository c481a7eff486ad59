#!/usr/bin/env bash
# Installs everything virtplane needs on Debian 12, as root: the libvirt stack from Debian's packages and
# the npm dependencies from the lock file (Node.js 20 with npm must be there). Safe to run again: it skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 20 or later with npm is the one thing this script does not install: Debian 12's own nodejs is 18,
# which better-sqlite3 12 and this project do not run on.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null; then
  echo "setup: virtplane needs Node.js 20 or later with npm (found: $(node --version 2>/dev/null || echo 'no node')," \
    "$(command -v npm >/dev/null && echo "npm $(npm --version)" || echo 'no npm')). Debian 12's nodejs package is 18:" \
    "install Node.js 20 (e.g. NodeSource's nodejs 20 package for Debian), then run this again." >&2
  exit 1
fi

# chromium and tesseract-ocr: tests drive GraphiQL and the consoles in Debian's browser (playwright-core
# downloads none) and read its screenshots; ipxe and grub (grub-mkrescue) make the guests they boot; jq for the
# `virtplane` example script (clients/cli/examples) and its test; tmux gives `virtplane console` a terminal in its test.
packages=(dbus libvirt-dbus libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  dnsmasq-base nftables lvm2 xorriso iproute2 iptables ipxe iputils-ping chromium
  grub-pc-bin grub-common mtools tesseract-ocr jq tmux)

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

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund
fi
