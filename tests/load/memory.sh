#!/usr/bin/env bash
# Memory with a full key cache (issue #8): the release build on a fresh embedded database,
# KEYS distinct keys (default 100 000, no `meta`) created over the management API, each verified
# once so that every one is in the node's cache with its restrictions parsed, then the server's
# resident set (VmRSS) and its peak (VmHWM) from /proc. Target: VmRSS <= 64 MiB at 100 000 keys.
#
#   bash tests/load/memory.sh
#   KEYS=20000 bash tests/load/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

KEYS=${KEYS:-100000}
PORT=${PORT:-18789}
source tests/load/lib.sh
start_keyward memory "$PORT"
admin=$(dashboard_key automation admin)

rss() { awk '/^(VmRSS|VmHWM)/ {printf "%s %.1f MiB  ", $1, $2 / 1024}' "/proc/$server/status"; echo; }
echo "after start:        $(rss)"

python3 - "$PORT" "$admin" "$KEYS" "$work/keys" <<'PY'
import http.client, json, sys, threading
port, admin, count, path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
THREADS = 4
keys = [None] * count
def create(offset):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(offset, count, THREADS):
        # Every tenth key carries allowed IPs, so parsed restrictions are part of the measure.
        body = {"name": f"memory-{i}", "scopes": ["read"]}
        if i % 10 == 0:
            body["allowed_ips"] = ["10.0.0.0/8", "203.0.113.0/24"]
        conn.request("POST", "/api/v1/api-keys", json.dumps(body),
                     {"X-API-Key": admin, "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 201:
            raise SystemExit(f"create {i}: {r.status} {data[:200]!r}")
        keys[i] = json.loads(data)["key"]
threads = [threading.Thread(target=create, args=(t,)) for t in range(THREADS)]
for t in threads: t.start()
for t in threads: t.join()
open(path, "w").write("\n".join(keys))
PY
echo "after $KEYS creates: $(rss)"

python3 - "$PORT" "$work/keys" <<'PY'
import http.client, json, sys, threading
port, keys = int(sys.argv[1]), open(sys.argv[2]).read().split("\n")
THREADS = 4
bad = []
def verify(offset):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(offset, len(keys), THREADS):
        body = '{"ip": "10.1.2.3"}' if i % 10 == 0 else ""
        conn.request("POST", "/api/v1/keys/verify", body, {"X-API-Key": keys[i], "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            bad.append((i, r.status, data[:100]))
threads = [threading.Thread(target=verify, args=(t,)) for t in range(THREADS)]
for t in threads: t.start()
for t in threads: t.join()
if bad:
    raise SystemExit(f"{len(bad)} verifications were not VALID, e.g. {bad[:3]}")
PY
misses=$(curl -fs "$base/metrics" | awk '/^keyward_key_cache_misses_total/ {print $2}')
echo "after verifying each once (cache misses: $misses): $(rss)"
