#!/usr/bin/env bash
# Installs what building and testing Paxon needs on a fresh machine of this
# project's kind (Debian with a Rust toolchain from rustup). Idempotent.
set -euo pipefail

need_component() {
    if ! cargo "$1" --version >/dev/null 2>&1; then
        echo "installing rustup component $2"
        rustup component add "$2"
    fi
}
need_component fmt rustfmt
need_component clippy clippy

# Debian packages the tests use: etcd-client provides etcdctl, which
# paxon-proto's wire-compatibility test and crates/paxon/tests drive;
# protobuf-compiler provides protoc, which the build script of the Rust
# etcd-client crate (a dev-dependency of crates/paxon) needs; iproute2
# provides `ip`, with which crates/paxon/tests/faults builds its network
# namespaces; etcd-server provides the etcd that `paxon bench` (and its
# smoke test) runs beside Paxon; chromium is the headless browser in which
# crates/paxon/tests/ops loads the live status page.
packages=(etcd-client etcd-server protobuf-compiler iproute2 chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi
