#!/usr/bin/env bash
# The C drop-in against glibc: capi/tests/abi.c's cases print the same lines under both,
# and both abort on a pointer no allocator returned (the drop-in with one line naming it).
# Usage: capi/tests/abi.sh path/to/liballockit_capi.so
set -euo pipefail
lib=$(realpath "$1")
here=$(dirname "$0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O1 -w -o "$work/abi" "$here/abi.c"

"$work/abi" > "$work/glibc.txt"
LD_PRELOAD="$lib" "$work/abi" > "$work/allockit.txt"
if ! diff -u "$work/glibc.txt" "$work/allockit.txt"; then
    echo "abi: the drop-in differs from glibc (- glibc, + allockit)"
    exit 1
fi
echo "abi: $(wc -l < "$work/glibc.txt") cases identical to glibc"

for kind in interior static stack foreign-mmap realloc-interior; do
    set +e
    "$work/abi" bad "$kind" > /dev/null 2> "$work/glibc.err"
    glibc_rc=$?
    LD_PRELOAD="$lib" "$work/abi" bad "$kind" > /dev/null 2> "$work/allockit.err"
    allockit_rc=$?
    set -e
    if [ "$allockit_rc" -ne 134 ] || ! grep -q "^allockit: .*invalid pointer 0x" "$work/allockit.err"; then
        echo "abi: bad $kind: the drop-in exited $allockit_rc, said: $(cat "$work/allockit.err")"
        exit 1
    fi
    echo "abi: bad $kind: aborted like glibc (glibc $glibc_rc: $(head -c 60 "$work/glibc.err" | tr -d '\n'); allockit: $(tr -d '\n' < "$work/allockit.err"))"
done
