#!/usr/bin/env bash
# Recovery throughput over the real network (BENCHMARKS.md, "Recovery"):
# PartyA, restored from a backup that lost LOST of N transactions (merkle-v1,
# STATE bytes of data per output state), reconciles with PartyB, recovers
# what was found with AutomaticRecoveryFlow, and reconciles again. Prints
# each step's wall time, the recovery's transactions and bytes per second,
# and the recovery row.
#
#   benchmarks/recovery.sh N LOST [raised|default] [STATE]
#   benchmarks/recovery.sh 20000 1000 raised 1024
#
# `raised`: maxAllowedTransactions = 1000, maxAllowedRequests = 1000,
# maxAllowedSizeInBytes = 10000000 per timeWindowForMaxAllowedSize = 1M (the
# highest Corda's ranges allow). `default`: Corda's defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
lost=${2:-1000}
limits=${3:-raised}
state=${4:-1024}
cargo build --release -q -p ledger-sync
bin=$PWD/target/release/ledger-sync
work=$(mktemp -d)
a="O=PartyA, L=London, C=GB"
b="O=PartyB, L=London, C=GB"
now() { date +%s.%N; }
t0=$(now)
$bin network bootstrap --dir "$work/net" --nodes "$a" "$b" --base-port "${PORT:-22000}" \
    --transactions "$n" --lost "$lost" --state-bytes "$state" | tail -1
t1=$(now)
echo "bootstrap and recording: $(echo "$t1 - $t0" | bc) s"
if [ "$limits" = raised ]; then
    for node in PartyA PartyB; do
        printf 'maxAllowedTransactions = 1000\nmaxAllowedRequests = 1000\nmaxAllowedSizeInBytes = 10000000\ntimeWindowForMaxAllowedSize = 1M\ntimeWindowForMaxAllowedRequests = 1M\n' \
            > "$work/net/$node/plugins/config/ledger-recover-0.3.0.conf"
    done
fi
$bin node --dir "$work/net/PartyA" >"$work/a.log" 2>&1 & pa=$!
$bin node --dir "$work/net/PartyB" >"$work/b.log" 2>&1 & pb=$!
trap 'kill $pa $pb 2>/dev/null; rm -rf "$work"' EXIT
flow() { $bin flow start "$1" --node "$work/net/PartyA"; }
status() { flow "GetReconciliationStatusForPartyFlow party: \"$b\", isRequester: true"; }
until flow "IsReconciliationScheduledForPartyFlow party: \"$b\"" >/dev/null 2>&1; do sleep 0.2; done
reconcile() {
    local before after
    before=$(status 2>/dev/null | grep stateMachineRunId || true)
    until flow "ScheduleReconciliationFlow parties: [\"$b\"]" >/dev/null 2>&1; do sleep 0.2; done
    while true; do
        after=$(status)
        if ! echo "$after" | grep -q IN_PROGRESS \
            && [ "$(echo "$after" | grep stateMachineRunId)" != "$before" ]; then break; fi
        sleep 0.1
    done
    echo "$after" | grep -o 'lastReconciliationStatus=[A-Z_]*'
}
t2=$(now)
reconcile
t3=$(now)
echo "first reconciliation: $(echo "$t3 - $t2" | bc) s"
flow "AutomaticRecoveryFlow party: \"$b\"" >/dev/null
until flow "GetRecoveryRequestsFlow party: \"$b\"" | grep -q 'status=\(COMPLETED\|FAILED\)'; do
    sleep 0.1
done
t4=$(now)
row=$(flow "GetRecoveryRequestsFlow party: \"$b\"")
recovered=$(echo "$row" | grep -o 'recovered=[0-9]*' | head -1 | cut -d= -f2)
bytes=$(echo "$row" | grep -o 'bytes=[0-9]*' | head -1 | cut -d= -f2)
secs=$(echo "$t4 - $t3" | bc)
echo "$row" | grep -o 'status=[A-Z_]*' | head -1
echo "$row" | grep -q 'status=COMPLETED' || { echo "$row" | grep -v '^        [0-9A-F]'; \
    grep -i 'recover' "$work/a.log" | tail -5; }
echo "recovery: $recovered transactions, $bytes bytes in $secs s:" \
    "$(echo "$recovered / $secs" | bc) tx/s, $(echo "$bytes / $secs / 1024" | bc) KiB/s"
reconcile
t5=$(now)
echo "second reconciliation: $(echo "$t5 - $t4" | bc) s"
echo "restore-to-clean (reconcile, recover, reconcile): $(echo "$t5 - $t2" | bc) s"
grep VmHWM "/proc/$pa/status" | sed 's/VmHWM:/PartyA peak RSS:/'
grep VmHWM "/proc/$pb/status" | sed 's/VmHWM:/PartyB peak RSS:/'
