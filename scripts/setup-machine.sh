#!/usr/bin/env bash
# Installs and starts what the service, the sensor and the tests need on a Debian 12 machine.
# Idempotent: installs only what is missing, starts only what is not running. Needs root for apt and eBPF.
set -euo pipefail

packages=(clang llvm libbpf-dev bpftool podman runc busybox-static postgresql iproute2 prometheus-alertmanager)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages (${missing[*]}); run as root to install them, or install them yourself." >&2
  else
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ "$(id -u)" -eq 0 ]; then
  # libbpf needs these file systems; containers without systemd often lack them.
  mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi
