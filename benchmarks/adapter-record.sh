#!/usr/bin/env bash
# Recording through a ledger adapter, side by side with the interchange
# format (BENCHMARKS.md, "Recording a ledger"): N merkle-v1 transactions,
# a chain between two parties with 1 KiB of state data each, recorded
# offline into empty SQLite vaults, 3 runs each.
#
#   benchmarks/adapter-record.sh [N]   (default 100000; needs python3)
set -euo pipefail
n=${1:-100000}
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/target/release/ledger-sync"
adapter="$here/target/plugin-wasm/wasm32-wasip2/release/ledger_sync_adapter_merkle.wasm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# A writer of adapters/merkle/src/format.rs's format, independent of it.
python3 - "$n" <<'PY'
import base64, hashlib, struct, sys
n = int(sys.argv[1])
parties = [b"O=PartyA, L=London, C=GB", b"O=PartyB, L=London, C=GB"]
def sha(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()
def root(leaves):
    if not leaves:
        return bytes(32)
    width = 1
    while width < len(leaves):
        width *= 2
    level = leaves + [bytes(32)] * (width - len(leaves))
    while len(level) > 1:
        level = [sha(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
def output(names, data):
    out = struct.pack("<H", len(names))
    for name in names:
        out += struct.pack("<H", len(name)) + name
    return out + data
previous = None
with open("native.txt", "w") as f:
    for k in range(n):
        inputs = [previous + struct.pack("<I", 0)] if previous else []
        groups = [inputs, [output(parties, bytes(1024))], [], [b"Move"]]
        tx = b""
        for group in groups:
            tx += struct.pack("<I", len(group))
            for component in group:
                tx += struct.pack("<I", len(component)) + component
        previous = root([root([sha(c) for c in g]) for g in groups])
        f.write(base64.b64encode(tx).decode() + "\n")
PY

"$bin" network bootstrap --dir net --nodes "O=PartyA, L=London, C=GB" \
    --nodes "O=PartyB, L=London, C=GB" >/dev/null
mkdir -p net/PartyA/adapters
cp "$adapter" net/PartyA/adapters/merkle.wasm
"$bin" vault record --node net/PartyA --adapter merkle native.txt >/dev/null
"$bin" vault export --node net/PartyA --output interchange.jsonl
for run in 1 2 3; do
    rm -f net/PartyA/persistence.db* net/PartyB/persistence.db*
    a=$( { /usr/bin/time -f "%e s, %M KB" "$bin" vault record --node net/PartyA \
        --adapter merkle native.txt >/dev/null; } 2>&1 | tail -1)
    b=$( { /usr/bin/time -f "%e s, %M KB" "$bin" vault record --node net/PartyB \
        interchange.jsonl >/dev/null; } 2>&1 | tail -1)
    echo "run $run: adapter $a; interchange $b"
done
