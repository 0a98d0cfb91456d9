#!/usr/bin/env bash
# buf lint and buf breaking over proto/ (the configuration and its reasons: proto/buf.yaml).
#
# Breaking changes are checked against two references, both from git history:
#   - the parent commit, so that no commit breaks the contract of the one before (in a tree with
#     uncommitted changes to proto/, the last commit);
#   - the commit that adopted buf (the first to carry proto/buf.yaml, where v1's wire shape was
#     settled for the last time), so that a series of commits cannot break it bit by bit.
# A reference the clone does not hold (a shallow clone) is reported and skipped, never faked.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_DIR=tools/buf
BUF="$BUF_DIR/node_modules/.bin/buf"
if [ ! -x "$BUF" ]; then
  # Exactly the lockfile's version, its integrity hash checked by npm.
  npm ci --prefix "$BUF_DIR" --no-audit --no-fund --loglevel=error >/dev/null
fi

"$BUF" lint proto
echo "buf lint: proto/ clean"

against() {
  local ref=$1 why=$2
  if ! git cat-file -e "$ref:proto/buf.yaml" 2>/dev/null; then
    echo "buf breaking: skipped against $why ($ref has no proto/buf.yaml or is not in this clone)"
    return 0
  fi
  "$BUF" breaking proto --against ".git#ref=$ref,subdir=proto"
  echo "buf breaking: nothing broken since $why ($(git rev-parse --short "$ref"))"
}

if git diff --quiet HEAD -- proto; then
  against "HEAD~1" "the parent commit"
else
  # Uncommitted changes to the contract (a developer's tree): against what they change.
  against "HEAD" "the last commit"
fi
adopted=$(git log --diff-filter=A --format=%H -- proto/buf.yaml | tail -n 1)
if [ -n "$adopted" ]; then
  against "$adopted" "buf's adoption"
fi
