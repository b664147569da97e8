#!/usr/bin/env bash
# Fetch and unpack the pinned registry packages that `jest-wgpu data build` turns into data/.
# Usage: scripts/fetch-data-sources.sh DIR      (DIR should be outside the repository)
# Result: DIR/npm/<pkg>/package/..., DIR/deb/openclipart-svg/usr/share/openclipart/svg,
#         DIR/archives/* (the downloaded .tgz/.deb) and DIR/SHA256SUMS of those archives.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 DIR" >&2; exit 2; fi
DIR="$1"
mkdir -p "$DIR/archives" "$DIR/npm" "$DIR/deb"
DIR="$(cd "$DIR" && pwd)"
NPM_PKGS=(
  "@iconify-json/noto@1.2.9"
  "@iconify-json/twemoji@1.2.5"
  "@iconify-json/fluent-emoji-flat@1.2.6"
  "@iconify-json/openmoji@1.2.29"
  "emojilib@4.0.3"
  "@mdi/svg@7.4.47"
  "@tabler/icons@3.52.0"
)
DEB_PKGS=("openclipart-svg=1:0.18+dfsg-19")

cd "$DIR/archives"
for p in "${NPM_PKGS[@]}"; do
  # npm pack names the tarball <scope>-<name>-<version>.tgz
  base="$(echo "${p%@*}" | sed -e 's/^@//' -e 's#/#-#')-${p##*@}.tgz"
  [ -f "$base" ] || npm pack --silent "$p" >/dev/null
  [ -f "$base" ] || { echo "npm pack $p did not produce $base" >&2; exit 1; }
  name="${p%@*}"; dest="$DIR/npm/$(echo "$name" | sed -e 's/^@//' -e 's#/#-#')"
  rm -rf "$dest"; mkdir -p "$dest"; tar xzf "$base" -C "$dest"
done
chmod 777 "$DIR/archives" || true
for d in "${DEB_PKGS[@]}"; do
  name="${d%%=*}"
  if ! ls "$name"_*.deb >/dev/null 2>&1; then
    apt-get download "$d" || { apt-get update >/dev/null && apt-get download "$d"; }
  fi
  dest="$DIR/deb/$name"; rm -rf "$dest"; mkdir -p "$dest"
  dpkg-deb -x "$name"_*.deb "$dest"
done
# Noto is Apache-2.0, whose text must travel with the data; Debian's base-files ships it.
mkdir -p "$DIR/licenses"
cp /usr/share/common-licenses/Apache-2.0 "$DIR/licenses/Apache-2.0"
sha256sum -- *.tgz *.deb | LC_ALL=C sort -k2 > "$DIR/SHA256SUMS"
echo "sources ready in $DIR"; cat "$DIR/SHA256SUMS"
