#!/usr/bin/env bash
# Refresh the vendored front-end assets in jiedao/web/static/vendor/.
#
# The app itself needs neither Node nor the internet: the built files are
# committed.  Node/npm (and the npm registry) are only needed to run this
# script when refreshing or upgrading them.
#
# Usage:   tools/vendor/build.sh
# Upgrade: change the exact versions in tools/vendor/package.json, run this
#          script, review `git status` / `git diff --stat`, then commit.
#
# What it does:
#   1. npm install of tools/vendor/package.json in a throw-away temp dir
#      (never inside the repo; no lock file, no node_modules left behind);
#   2. checks that the installed versions are exactly the pinned ones;
#   3. copies only the needed dist files, plus licence files;
#   4. strips sourceMappingURL comments (the .map files are not vendored, and
#      Django's ManifestStaticFilesStorage fails collectstatic on a missing map);
#   5. strips any remote @import from the CSS and fails if a CSS file would
#      still fetch anything from another origin (the CSP forbids it);
#   6. replaces vendor/{tabler,htmx,leaflet,echarts}/ and regenerates
#      vendor/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dest="$repo/jiedao/web/static/vendor"

for tool in npm node; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: '$tool' is required to refresh vendored assets" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/jiedao-vendor.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "==> npm install in $work"
cp "$here/package.json" "$work/package.json"
(cd "$work" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error)
nm="$work/node_modules"

echo "==> checking installed versions against tools/vendor/package.json"
node - "$work" <<'JS'
const fs = require("fs"), path = require("path");
const work = process.argv[2];
const want = JSON.parse(fs.readFileSync(path.join(work, "package.json"))).dependencies;
let bad = 0;
for (const [name, ver] of Object.entries(want)) {
  if (!/^\d+\.\d+\.\d+$/.test(ver)) { console.error(`${name}: version "${ver}" is not an exact x.y.z pin`); bad++; continue; }
  const got = JSON.parse(fs.readFileSync(path.join(work, "node_modules", name, "package.json"))).version;
  if (got !== ver) { console.error(`${name}: wanted ${ver}, installed ${got}`); bad++; }
  else console.log(`    ${name}@${got}`);
}
process.exit(bad ? 1 : 0);
JS

out="$work/out"
mkdir -p "$out/tabler" "$out/htmx" "$out/leaflet/images" "$out/echarts"

need() { [ -f "$1" ] || { echo "build.sh: expected file missing from package: $1" >&2; exit 1; }; }
take() { need "$1"; cp "$1" "$2"; }

echo "==> copying dist files"
# Tabler (core CSS + JS bundle; JS already bundles Bootstrap and Popper).
take "$nm/@tabler/core/dist/css/tabler.min.css" "$out/tabler/"
take "$nm/@tabler/core/dist/js/tabler.min.js"   "$out/tabler/"
# htmx
take "$nm/htmx.org/dist/htmx.min.js" "$out/htmx/"
take "$nm/htmx.org/LICENSE"          "$out/htmx/LICENSE"
# Leaflet
take "$nm/leaflet/dist/leaflet.js"  "$out/leaflet/"
take "$nm/leaflet/dist/leaflet.css" "$out/leaflet/"
for img in "$nm"/leaflet/dist/images/*; do take "$img" "$out/leaflet/images/"; done
take "$nm/leaflet/LICENSE" "$out/leaflet/LICENSE"
# ECharts (full build; bundles zrender, whose licence is kept alongside).
take "$nm/echarts/dist/echarts.min.js" "$out/echarts/"
take "$nm/echarts/LICENSE"             "$out/echarts/LICENSE"
take "$nm/echarts/NOTICE"              "$out/echarts/NOTICE"
take "$nm/zrender/LICENSE"             "$out/echarts/LICENSE-zrender"
# @tabler/core ships no LICENSE file on npm. Its /*! ... */ header (kept in
# tabler.min.css/js) names the copyright holders and MIT; write the standard
# MIT text with those copyright lines next to the files.
tabler_copyright="$(sed -n '1,10p' "$out/tabler/tabler.min.css" | sed -nE 's/^ *\* *(Copyright .*)$/\1/p')"
[ -n "$tabler_copyright" ] || { echo "build.sh: no Copyright line in tabler.min.css header" >&2; exit 1; }
grep -q 'Licensed under MIT' "$out/tabler/tabler.min.css" || { echo "build.sh: tabler.min.css header no longer says MIT; check the licence" >&2; exit 1; }
{
    printf 'The MIT License (MIT)\n\n%s\n\n' "$tabler_copyright"
    cat <<'MIT'
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.
MIT
} > "$out/tabler/LICENSE"
# tabler.min.js bundles Popper (an npm dependency of @tabler/core) and
# Bootstrap's JS (built in, so fetch the matching Bootstrap package with
# `npm pack` only to take its LICENSE).  Both are MIT.
take "$nm/@popperjs/core/LICENSE.md" "$out/tabler/LICENSE-popper"
bs_version="$(grep -oE 'static get VERSION\(\)\{return"[0-9]+\.[0-9]+\.[0-9]+"\}' "$out/tabler/tabler.min.js" | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | sort -u)"
[ "$(printf '%s\n' "$bs_version" | grep -c .)" -eq 1 ] || { echo "build.sh: cannot tell which Bootstrap version tabler.min.js bundles (got: '${bs_version}')" >&2; exit 1; }
(cd "$work" && npm pack "bootstrap@$bs_version" --silent >/dev/null && tar -xzf "bootstrap-$bs_version.tgz" package/LICENSE)
take "$work/package/LICENSE" "$out/tabler/LICENSE-bootstrap"
echo "$bs_version" > "$work/bootstrap-version"

echo "==> stripping sourceMappingURL comments (maps are not vendored)"
find "$out" -type f \( -name '*.js' -o -name '*.css' \) -print0 |
    xargs -0 sed -i -E 's@/[/*][#@] sourceMappingURL=[^ *]*( ?\*/)?@@g'

echo "==> removing remote @import rules from CSS and checking for remote URLs"
find "$out" -type f -name '*.css' -print0 |
    xargs -0 sed -i -E 's@\@import[^;]*(https?:)?//[^;]*;@@g'
fail=0
while IFS= read -r -d '' css; do
    # Drop data: URIs first (their SVG xmlns="http://www.w3.org/..." is not a fetch).
    stripped="$(sed -E "s@url\(\"data:[^\"]*\"\)@@g; s@url\('data:[^']*'\)@@g; s@url\(data:[^)]*\)@@g" "$css")"
    if grep -qE '@import' <<<"$stripped"; then
        echo "build.sh: $css still contains @import" >&2; fail=1
    fi
    if grep -qiE 'url\(\s*["'\'']?\s*(https?:)?//' <<<"$stripped"; then
        echo "build.sh: $css references a remote url(...):" >&2
        grep -oiE '.{0,40}url\(\s*["'\'']?\s*(https?:)?//[^)]*\)' <<<"$stripped" >&2 || true
        fail=1
    fi
    if grep -qiE 'sourceMappingURL' <<<"$stripped"; then
        echo "build.sh: $css still has a sourceMappingURL" >&2; fail=1
    fi
done < <(find "$out" -type f -name '*.css' -print0)
if grep -rlE 'sourceMappingURL=' "$out" --include='*.js' >/dev/null; then
    echo "build.sh: a JS file still has a sourceMappingURL" >&2; fail=1
fi
[ "$fail" -eq 0 ] || exit 1

echo "==> writing vendor/README.md"
node - "$work" "$out" > "$out/README.md" <<'JS'
const fs = require("fs"), path = require("path");
const [work, out] = process.argv.slice(2);
const pkg = (n) => JSON.parse(fs.readFileSync(path.join(work, "node_modules", n, "package.json")));
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]).sort();
const size = (f) => fs.statSync(f).size;
const fmt = (n) => n >= 1024 * 1024 ? (n / 1048576).toFixed(2) + " MiB" : n >= 1024 ? (n / 1024).toFixed(1) + " KiB" : n + " B";
const rows = [
  ["tabler", "@tabler/core", "Tabler UI kit (Bootstrap 5 based); tabler.min.js bundles Bootstrap JS and Popper, so load no separate bootstrap.js. No Tabler icons, no web fonts."],
  ["htmx", "htmx.org", "htmx (core only, no extensions)."],
  ["leaflet", "leaflet", "Leaflet map library; leaflet.css loads images/ relative to itself."],
  ["echarts", "echarts", "Apache ECharts full build; bundles zrender (BSD-3-Clause, see LICENSE-zrender)."],
];
let md = `# Vendored front-end assets

Generated by \`tools/vendor/build.sh\` from the exact versions pinned in
\`tools/vendor/package.json\`. Do not edit these files by hand: change the pin
and re-run the script (needs Node/npm and the npm registry; the app itself
needs neither, nor any internet access).

Changes made to the upstream files:

- \`sourceMappingURL\` comments removed (source maps are not vendored; a
  dangling reference breaks Django's \`ManifestStaticFilesStorage\`).
- Any \`@import\` of a remote stylesheet (e.g. web fonts) is removed from CSS;
  the build fails if a CSS file would still fetch anything from another origin.
  Tabler's CSS uses only inline \`data:\` URIs (SVG icons for form controls),
  so a CSP needs \`img-src 'self' data:\`.

| Package | Version | Licence | Directory |
| --- | --- | --- | --- |
`;
for (const [dir, name] of rows) {
  const p = pkg(name);
  md += `| [${name}](https://www.npmjs.com/package/${name}/v/${p.version}) | ${p.version} | ${p.license} | \`${dir}/\` |\n`;
}
md += `\n## Files taken\n`;
let total = 0;
for (const [dir, name, note] of rows) {
  const p = pkg(name);
  md += `\n### \`${dir}/\` — ${name} ${p.version} (${p.license})\n\n${note}\n\n`;
  for (const f of walk(path.join(out, dir))) {
    const s = size(f); total += s;
    md += `- \`${path.relative(out, f)}\` (${fmt(s)})\n`;
  }
}
md += `\nTotal: ${fmt(total)}.\n`;
const bs = fs.readFileSync(path.join(work, "bootstrap-version"), "utf8").trim();
md += `\nLicence notes: @tabler/core ships no LICENSE file on npm, so
\`tabler/LICENSE\` is the standard MIT text with the copyright lines from the
header of \`tabler.min.css\` (https://github.com/tabler/tabler/blob/main/LICENSE).
\`tabler.min.js\` bundles Bootstrap ${bs} JS and Popper ${pkg("@popperjs/core").version} (both MIT):
\`tabler/LICENSE-bootstrap\` comes from the bootstrap@${bs} npm package and
\`tabler/LICENSE-popper\` from @popperjs/core. The other packages' LICENSE (and
ECharts' NOTICE) files are copied from their npm packages.
`;
process.stdout.write(md);
JS

echo "==> installing into $dest"
mkdir -p "$dest"
for d in tabler htmx leaflet echarts; do
    rm -rf "${dest:?}/$d"
    cp -R "$out/$d" "$dest/$d"
done
cp "$out/README.md" "$dest/README.md"

echo "==> done:"
(cd "$dest" && find . -type f | sort | xargs du -b | awk '{printf "%10d  %s\n", $1, $2; t+=$1} END {printf "%10d  total\n", t}')
