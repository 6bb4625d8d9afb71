#!/usr/bin/env bash
# Re-vendor the libraries that render model answers (static/arena/markdown.js), and axe-core for the accessibility
# tests, into static/vendor/.
#
# Each package is fetched at its pinned version with `npm pack`, checked against its pinned tarball
# integrity, and only the files the site loads are copied, with their license files beside them. The
# packages whose code markdown-it bundles into its browser build contribute their license files only.
# static/vendor/VERSIONS lists what was copied. The output depends on the pins alone: running the script
# twice gives identical files. To upgrade, change a pin (version and integrity, from
# `npm view PACKAGE@VERSION dist.integrity`), run this script, then run tests/e2e/test_markdown.py.
set -euo pipefail

cd "$(dirname "$0")/.."
vendor=static/vendor

# package | version | license | tarball integrity | folder under static/vendor | files (path in the tarball[:name])
packages=(
  "markdown-it|15.0.3|MIT|sha512-+Az7Ojz3iRGu8KYMvJ6xVhvrxP3eE+vEtJX75Ow88XBpcQNV/0lGX5ZynIIBftREo4DC2jsveAMDaeltmm8QvQ==|markdown-it|dist/browser/markdown-it.esm.min.mjs LICENSE"
  "dompurify|3.5.0|(MPL-2.0 OR Apache-2.0)|sha512-LYC0ZkE8P1V42JsRYTwMdme/2ET8SpOc5AA2eOFjP/IadvRd2fwiT4TVz5vkfy0XUx12aS2UaRkTnfVPNOv9vw==|dompurify|dist/purify.es.mjs LICENSE LICENSE-MPL"
  "@highlightjs/cdn-assets|11.12.0|BSD-3-Clause|sha512-KvOKXODaiFmId9xaq3xc5xCL66wVLUuOngDbO9B/kewbFTqdGbn2nJxNhN3H5R1cgDTVj6R8vH0zgiNDEGjpDw==|highlightjs-cdn-assets|es/highlight.min.js LICENSE"
  "katex|0.19.1|MIT|sha512-jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA==|katex|dist/katex.mjs LICENSE"
  # Not loaded by the site: the accessibility tests inject it into the pages (tests/e2e/test_accessibility.py).
  "axe-core|4.14.1|MPL-2.0|sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==|axe-core|axe.min.js LICENSE"
  # Bundled inside markdown-it.esm.min.mjs (the versions markdown-it 15.0.3's dependency ranges resolve to).
  "entities|8.1.0|BSD-2-Clause|sha512-kxL7msIffSuh9aaFAMD7rxAIuTRMAHMeBtgHW2yUdWw732ZNh4MehkF2gdjvtdmikkaIP9bFDDJOPlsvm7avrA==|markdown-it/bundled|LICENSE:entities-LICENSE"
  "linkify-it|6.1.0|MIT|sha512-wJ/TwpSDTLepCrQoYWYIExIKg5Zchex2Nn5yk2mFnB+6PtdkHtyLx742md9csRjjOnGkKIS/RrbY7l8D6gT9Vw==|markdown-it/bundled|LICENSE:linkify-it-LICENSE"
  "mdurl|2.1.0|MIT|sha512-1+HBaOx0zi/dQWht8rNv9MYf9qqpqL/kxI0hXImU6Y547zM6Sni8BQibt7ifgMcYtQg41ao3Ivd6cnSM86inpg==|markdown-it/bundled|LICENSE:mdurl-LICENSE"
  "punycode.js|2.3.1|MIT|sha512-uxFIHU0YlHYhDQtV4R9J6a52SLx28BCjT+4ieh7IGbgwVJWO+km431c4yRlREUAsAmt/uMjQUyQHNEPf0M39CA==|markdown-it/bundled|LICENSE-MIT.txt:punycode.js-LICENSE"
  "uc.micro|3.0.0|MIT|sha512-U3PppEkleoTnIfi8BozMx3yju3qc/L6SwqWo2Sw+54PX+PX0q9I+r1Um5HCmqD7n9VDX5/v3vQH/AjA6deDdtw==|markdown-it/bundled|LICENSE.txt:uc.micro-LICENSE"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Fetch and check everything before touching static/vendor, so a failed download leaves it as it was.
for entry in "${packages[@]}"; do
  IFS="|" read -r name version _ integrity _ _ <<<"$entry"
  tarball=$(cd "$tmp" && npm pack --silent "$name@$version" | tail -n 1)
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w 0)"
  if [[ $got != "$integrity" ]]; then
    echo "vendor_refresh: $name@$version has integrity $got, pinned $integrity" >&2
    exit 1
  fi
  mkdir -p "$tmp/unpacked/$name"
  tar -xzf "$tmp/$tarball" -C "$tmp/unpacked/$name"
done

for entry in "${packages[@]}"; do
  IFS="|" read -r _ _ _ _ folder _ <<<"$entry"
  rm -rf "${vendor:?}/${folder%%/*}"
done

mkdir -p "$vendor"
{
  echo "# Written by scripts/vendor_refresh.sh; do not edit. package version license file sha256"
  for entry in "${packages[@]}"; do
    IFS="|" read -r name version license _ folder files <<<"$entry"
    mkdir -p "$vendor/$folder"
    for spec in $files; do
      src=${spec%%:*}
      dest=$(basename "${spec#*:}")
      cp "$tmp/unpacked/$name/package/$src" "$vendor/$folder/$dest"
      chmod 644 "$vendor/$folder/$dest"
      sum=$(sha256sum "$vendor/$folder/$dest" | cut -d " " -f 1)
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$version" "$license" "$folder/$dest" "$sum"
    done
  done
} >"$vendor/VERSIONS"

echo "vendor_refresh: ${#packages[@]} packages in $vendor (see $vendor/VERSIONS)"
