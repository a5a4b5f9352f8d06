#!/usr/bin/env bash
# Recording through the admin API of a running node (BENCHMARKS.md,
# "Recording a ledger"): node B records a ledger file of the seed's profile
# with `vault record` while it runs. With RECONCILE=1, node A (holding the
# same ledger, recorded while stopped) schedules a reconciliation with B
# every 2 s meanwhile. Prints the time, the client's and B's peak RSS.
#
#   benchmarks/record-online.sh [N]            # default 1000000
#   RECONCILE=1 benchmarks/record-online.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release -q -p ledger-sync
bin=$PWD/target/release/ledger-sync
work=$(mktemp -d)
a="O=Party000000, L=London, C=GB"
b="O=Party000001, L=London, C=GB"
$bin bench record --n "$n" --runs 1 --ledger-file "$work/ledger.jsonl" >/dev/null
$bin network bootstrap --dir "$work/net" --nodes "$a" "$b" --base-port 21000 >/dev/null
$bin vault record --node "$work/net/Party000000" "$work/ledger.jsonl" >/dev/null
$bin node --dir "$work/net/Party000000" >"$work/a.log" 2>&1 & pa=$!
$bin node --dir "$work/net/Party000001" >"$work/b.log" 2>&1 & pb=$!
pr=
trap 'kill $pa $pb $pr 2>/dev/null; rm -rf "$work"' EXIT
for node in Party000000 Party000001; do
    until $bin flow start "IsReconciliationScheduledForPartyFlow party: \"$a\"" \
        --node "$work/net/$node" >/dev/null 2>&1; do sleep 0.5; done
done
if [ "${RECONCILE:-0}" = 1 ]; then
    (while true; do
        $bin flow start "ScheduleReconciliationFlow parties: [\"$b\"]" \
            --node "$work/net/Party000000" >/dev/null 2>&1 || true
        sleep 2
    done) & pr=$!
fi
start=$(date +%s.%N)
/usr/bin/time -f "client peak RSS: %M KB" \
    $bin vault record --node "$work/net/Party000001" "$work/ledger.jsonl"
end=$(date +%s.%N)
echo "recorded $n through the admin API in $(echo "$end - $start" | bc) s"
grep VmHWM "/proc/$pb/status" | sed 's/VmHWM:/node B peak RSS:/'
