#!/usr/bin/env bash
# Installs promtool (the Debian package `prometheus`) when it is missing, for checking the rules:
#   deploy/observability/promtool.sh && promtool check rules deploy/observability/rules.yml
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || { echo "promtool is not installed and installing it needs root: sudo apt-get install -y prometheus" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 || { echo "promtool is not installed and this is not a Debian system; install Prometheus's promtool" >&2; exit 1; }
# The package also ships a server; only its promtool is used here.
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; then
  apt-get update -q >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null \
    || { echo "apt-get install prometheus failed" >&2; exit 1; }
fi
command -v promtool >/dev/null 2>&1 || { echo "installed prometheus, but found no promtool" >&2; exit 1; }
