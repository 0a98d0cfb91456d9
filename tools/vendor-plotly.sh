#!/usr/bin/env bash
# Re-fetch the plotly.js bundle the HTML report embeds (agent_service/report/static/vendor/) from
# the npm registry with the ordinary npm client, and check it against the pinned integrity.
# Run by hand to upgrade: change VERSION and INTEGRITY, run, then update PLOTLY_SHA256 in
# agent_service/report/page.py (tests/report checks the vendored file against it).
set -euo pipefail
PACKAGE=plotly.js-cartesian-dist-min
VERSION=4.1.1
INTEGRITY='sha512-o8GrFeusncwBIxbBynRJpY4pkgVB6caM+JLpwrLYbbsO7dZ8FJ+SVN2Fr+L7kiG/Z6w4P5O0Jus/Qr5EefHVeg=='
DEST="$(cd "$(dirname "$0")/.." && pwd)/agent_service/report/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "$PACKAGE@$VERSION" >/dev/null
tarball="$PACKAGE-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "integrity mismatch for $tarball: $actual" >&2
  exit 1
fi
tar xzf "$tarball"
cp package/plotly-cartesian.min.js "$DEST/plotly-cartesian.min.js"
cp package/LICENSE "$DEST/plotly.js-LICENSE"
sha256sum "$DEST/plotly-cartesian.min.js"
