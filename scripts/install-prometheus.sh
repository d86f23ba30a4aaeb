#!/usr/bin/env bash
# Installs Debian's `prometheus` package if `prometheus` is not on PATH,
# without starting its system service: gate's tests and demo run their own
# Prometheus on 127.0.0.1 with a generated config.
set -euo pipefail
if command -v prometheus >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-prometheus: prometheus is missing; install it with: sudo apt-get install prometheus" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
fi
trap 'if [ -n "$created" ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "install-prometheus: installed $(prometheus --version 2>&1 | head -n1)"
