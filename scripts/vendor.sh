#!/usr/bin/env bash
# The patched crates in third_party/: each is a crates.io release plus the patch beside it,
# third_party/NAME.patch, whose first line names the release and the checksum of its .crate.
#
#   scripts/vendor.sh check                 every copy is its release plus its patch, and
#                                           every [patch.crates-io] entry is in use
#   scripts/vendor.sh save NAME             after editing third_party/NAME: write its patch
#   scripts/vendor.sh update NAME VERSION   re-vendor NAME at another release: the release
#                                           plus the patch (fails where the patch does not apply)
#
# A dependency update that moves past a patched release leaves the patch unused (Cargo.lock
# lists it under [[patch.unused]]); `check` fails on that instead of the patch being lost.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
cache="${PHANTOM_CACHE:-$HOME/.cache/phantom-sync}/crates"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "vendor: $*" >&2; exit 1; }

# The .crate of NAME VERSION: from cargo's download cache, else from crates.io.
fetch() {
  local name="$1" version="$2" file
  file="$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -1 || true)"
  if [ -z "$file" ]; then
    file="$cache/$name-$version.crate"
    if [ ! -f "$file" ]; then
      mkdir -p "$cache"
      curl -fsSL --retry 3 -o "$file.part" "https://static.crates.io/crates/$name/$name-$version.crate" ||
        fail "cannot download $name $version from crates.io"
      mv "$file.part" "$file"
    fi
  fi
  echo "$file"
}

# Unpacks NAME VERSION into $work/upstream (checking its checksum when one is given).
unpack() {
  local name="$1" version="$2" sum="${3:-}" file
  file="$(fetch "$name" "$version")"
  if [ -n "$sum" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
    fail "$name $version: the .crate does not match the checksum in third_party/$name.patch"
  fi
  rm -rf "$work/upstream" && mkdir -p "$work/upstream"
  tar -xzf "$file" -C "$work/upstream" --strip-components=1
  # A library's own Cargo.lock plays no part in a build that depends on it: not vendored.
  rm -f "$work/upstream/.cargo_vcs_info.json" "$work/upstream/.cargo-ok" "$work/upstream/Cargo.lock"
}

# The release a patch was made from: "NAME VERSION SHA256" on its first line.
header() {
  local patch="$root/third_party/$1.patch"
  [ -f "$patch" ] || fail "third_party/$1 has no patch (scripts/vendor.sh save $1)"
  head -1 "$patch" | sed -n 's/^upstream: //p'
}

# The copy as it would be vendored, without our notes: $work/copy.
copy_of() {
  rm -rf "$work/copy" && cp -r "$root/third_party/$1" "$work/copy"
  rm -f "$work/copy/PATCHED.md" "$work/copy/Cargo.lock"
}

apply_to_upstream() {
  (cd "$work/upstream" && tail -n +2 "$root/third_party/$1.patch" | git apply --whitespace=nowarn -p1) ||
    fail "third_party/$1.patch does not apply to $2 $3: port it by hand, then scripts/vendor.sh save $1"
}

save() {
  local name="$1" version
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' "third_party/$name/Cargo.toml" | head -1)"
  unpack "$name" "$version"
  copy_of "$name"
  local sum
  sum="$(sha256sum "$(fetch "$name" "$version")" | cut -d' ' -f1)"
  {
    echo "upstream: $name $version $sum"
    (cd "$work" && rm -rf a b && mv upstream a && mv copy b && git diff --no-index --no-prefix --binary a b || true)
  } > "third_party/$name.patch"
  echo "third_party/$name.patch: $name $version, $(grep -c '^diff --git' "third_party/$name.patch") files changed"
}

update() {
  local name="$1" version="$2" notes
  read -r _ old _ <<< "$(header "$name")"
  unpack "$name" "$version"
  apply_to_upstream "$name" "$name" "$version"
  notes="$(cat "third_party/$name/PATCHED.md")"
  rm -rf "third_party/$name" && cp -r "$work/upstream" "third_party/$name"
  printf '%s\n' "$notes" > "third_party/$name/PATCHED.md"
  save "$name"
  echo "third_party/$name: $old → $version; update PATCHED.md's version, then cargo update -p $name"
}

check() {
  local name version sum patched
  patched="$(sed -n '/^\[patch.crates-io\]/,/^\[/{s/^\([a-z0-9_-]*\) = { path = "third_party\/\([^"]*\)".*/\1 \2/p}' Cargo.toml)"
  [ -n "$patched" ] || fail "no [patch.crates-io] entries in Cargo.toml"
  if grep -q '^\[\[patch.unused\]\]' Cargo.lock; then
    fail "Cargo.lock lists a patch nothing uses: $(sed -n '/^\[\[patch.unused\]\]/,/^$/p' Cargo.lock | sed -n 's/^name = "\(.*\)"/\1/p' | tr '\n' ' ')— re-vendor it at the version now required (scripts/vendor.sh update NAME VERSION)"
  fi
  while read -r name dir; do
    [ "$name" = "$dir" ] || fail "[patch.crates-io] $name points at third_party/$dir"
    read -r _ version sum <<< "$(header "$name")"
    grep -A2 "^name = \"$name\"$" Cargo.lock | grep -q "^version = \"$version\"$" ||
      fail "$name $version is vendored but Cargo.lock uses another version"
    unpack "$name" "$version" "$sum"
    apply_to_upstream "$name" "$name" "$version"
    copy_of "$name"
    diff -r "$work/upstream" "$work/copy" > "$work/drift" ||
      fail "third_party/$name differs from $name $version plus its patch (scripts/vendor.sh save $name):
$(head -20 "$work/drift")"
    echo "$name $version: the release plus third_party/$name.patch, in use"
  done <<< "$patched"
  for dir in third_party/*/; do
    name="$(basename "$dir")"
    grep -q "^$name " <<< "$patched" || fail "third_party/$name is not in [patch.crates-io]"
  done
}

case "${1:-}" in
  check) check ;;
  save) [ $# -eq 2 ] || fail "usage: scripts/vendor.sh save NAME"; save "$2" ;;
  update) [ $# -eq 3 ] || fail "usage: scripts/vendor.sh update NAME VERSION"; update "$2" "$3" ;;
  *) fail "usage: scripts/vendor.sh check | save NAME | update NAME VERSION" ;;
esac
