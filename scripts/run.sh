#!/usr/bin/env bash
# run.sh [sluice-server flags...]: installs what is missing, builds Release and starts the
# broker in the foreground with its defaults (data in ./data) plus any flags given.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
bash scripts/build.sh release
exec ./build/release/sluice-server "$@"
