#!/usr/bin/env bash
# check_layers.sh [ROOT]: fails (exit 1, naming file, line and rule) when an #include crosses a
# layer the wrong way. The build runs it before compiling anything (target sl_check_layers).
#
#   base/            includes nothing of ours but base/
#   protocol/        base/, protocol/           (pure: no I/O, no clock)
#   storage/         base/, protocol/, storage/
#   broker/net/      the layers below, net/      (connections know no protocol)
#   broker/core/     the layers below, core/     (partitions and topics know no protocol)
#   broker/kafka/    the layers below, net/, core/, kafka/, broker/config.h
#   broker/nats/     the layers below, net/, core/, nats/, broker/config.h, broker/nats_users.h
#                    (the config's reading of nats-server's authorization users)
#   broker/http/     the layers below, net/, core/, http/, broker/config.h
#   broker/cluster/  the layers below, core/, cluster/, broker/config.h (no protocol wing)
#   broker/*.c|h     the top (config, server, main): anything
#   client/          its own headers only: the CLI talks to brokers through librdkafka and nats.c,
#                    never through the broker's code
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"

allowed() { # dir -> space-separated allowed include prefixes
    case "$1" in
        base) echo "base/" ;;
        protocol) echo "base/ protocol/" ;;
        storage) echo "base/ protocol/ storage/" ;;
        broker/net) echo "base/ protocol/ storage/ broker/net/" ;;
        broker/core) echo "base/ protocol/ storage/ broker/core/" ;;
        broker/kafka) echo "base/ protocol/ storage/ broker/net/ broker/core/ broker/kafka/ broker/config.h" ;;
        broker/nats) echo "base/ protocol/ storage/ broker/net/ broker/core/ broker/nats/ broker/config.h broker/nats_users.h" ;;
        broker/http) echo "base/ protocol/ storage/ broker/net/ broker/core/ broker/http/ broker/config.h" ;;
        broker/cluster) echo "base/ protocol/ storage/ broker/core/ broker/cluster/ broker/config.h" ;;
        broker) echo "base/ protocol/ storage/ broker/" ;;
        client) echo "client/" ;;
        *) echo "" ;;
    esac
}

# One grep over every file and no process per file or include: on a loaded 2-core machine the
# check runs in the build and six times in tests/layers_test.sh.
bad=0
declare -A rules_of
mapfile -d '' files < <(find base protocol storage broker client -name '*.[ch]' -print0 2>/dev/null)
for f in "${files[@]}"; do
    dir=${f%/*}
    [[ -n ${rules_of[$dir]+x} ]] && continue
    rules_of[$dir]=$(allowed "$dir")
    if [[ -z ${rules_of[$dir]} ]]; then
        echo "check_layers: $f: no layer rule for folder $dir (add one to scripts/check_layers.sh)" >&2
        bad=1
    fi
done
while IFS= read -r hit; do
    f=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    inc=${rest#*:}
    inc=${inc#*\"}
    inc=${inc%%\"*}
    dir=${f%/*}
    rules=${rules_of[$dir]}
    [[ -z $rules ]] && continue
    ok=0
    # client/ includes its own headers by bare name ("cli.h").
    if [[ $dir == client && $inc != */* ]]; then ok=1; fi
    for prefix in $rules; do
        if [[ "$inc" == "$prefix"* ]]; then ok=1; break; fi
    done
    if [[ $ok -eq 0 ]]; then
        echo "check_layers: $f:$line includes \"$inc\": $dir may include only: $rules" >&2
        bad=1
    fi
done < <(if ((${#files[@]})); then grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "${files[@]}"; fi)

if [[ $bad -ne 0 ]]; then
    echo "check_layers: layering violations (see above)" >&2
    exit 1
fi
