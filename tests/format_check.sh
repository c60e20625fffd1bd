#!/usr/bin/env bash
# Fails when a tracked C++ file differs from clang-format --style=file (the repo's .clang-format).
# tests/run.sh runs it with the whole suite; `clang-format -i FILE` fixes a file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null ||
  { echo "clang-format missing (deploy/local/setup.sh installs it)" >&2; exit 1; }
if ! out=$(git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --style=file --dry-run --Werror 2>&1); then
  echo "clang-format: these files differ from .clang-format (clang-format -i to fix):" >&2
  grep -oE '^[^:]+\.(cc|h):' <<<"$out" | sort -u | sed 's/:$//; s/^/  /' >&2
  exit 1
fi
echo "clang-format: every C++ file matches .clang-format"
