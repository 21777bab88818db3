#!/usr/bin/env bash
# layers_test.sh ROOT: the layering check passes on the tree as it is, and fails, naming the
# file, on a copy where storage/ includes a broker/ header and protocol/ includes storage/.
set -euo pipefail
root="$1"
bash "$root/scripts/check_layers.sh" "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/scripts"
cp "$root/scripts/check_layers.sh" "$tmp/scripts/"
cp -r "$root/base" "$root/protocol" "$root/storage" "$root/broker" "$root/client" "$tmp/"
echo '#include "broker/core/topics.h"' >> "$tmp/storage/log.c"
if out=$(bash "$tmp/scripts/check_layers.sh" "$tmp" 2>&1); then
    echo "FAIL: storage including broker/ was not refused" >&2; exit 1
fi
grep -q 'storage/log.c:.*broker/core/topics.h' <<<"$out" || { echo "FAIL: message does not name the file: $out" >&2; exit 1; }
sed -i '$d' "$tmp/storage/log.c"
echo '#include "storage/log.h"' >> "$tmp/protocol/errors.c"
if bash "$tmp/scripts/check_layers.sh" "$tmp" >/dev/null 2>&1; then
    echo "FAIL: protocol including storage/ was not refused" >&2; exit 1
fi
sed -i '$d' "$tmp/protocol/errors.c"
echo '#include "broker/kafka/kafka.h"' >> "$tmp/broker/core/topics.c"
if bash "$tmp/scripts/check_layers.sh" "$tmp" >/dev/null 2>&1; then
    echo "FAIL: core including a protocol wing was not refused" >&2; exit 1
fi
sed -i '$d' "$tmp/broker/core/topics.c"
echo '#include "broker/core/topics.h"' >> "$tmp/client/main.c"
if out=$(bash "$tmp/scripts/check_layers.sh" "$tmp" 2>&1); then
    echo "FAIL: client/ including broker/ was not refused" >&2; exit 1
fi
grep -q 'client/main.c:.*broker/core/topics.h' <<<"$out" || { echo "FAIL: message does not name the file: $out" >&2; exit 1; }
echo "layers: the check passes today and refuses four violations"
