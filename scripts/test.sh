#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# Unit, protocol, simulation and crash tests, then the planted-bug hunt.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
cargo test --locked -p paxon-sim --features planted-bugs --test planted_bugs -- --nocapture
