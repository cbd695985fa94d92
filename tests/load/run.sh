#!/usr/bin/env bash
# Load test: the release build, wrk, one server, two routes in one run.
# Compares POST /api/v1/keys/verify (a real key, warm cache) with the trivial GET /healthz of
# the same server, prints both throughputs, their ratio, p50/p99 of each, the server-side p99
# of verify from /metrics, and the database look-ups per verification after warm-up.
#
#   bash tests/load/run.sh            # 64 connections, 10 s per route
#   CONNECTIONS=128 DURATION=20s bash tests/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PORT=${PORT:-18787}
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }

cargo build --release --quiet
work=$(mktemp -d /tmp/keyward-load.XXXXXX)
chmod 755 "$work"
password="load-test-password-$$"
KEYWARD_DATA_DIR="$work/data" KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_ADMIN_EMAIL=load@example.com \
  KEYWARD_ADMIN_PASSWORD="$password" RUST_LOG=warn ./target/release/keyward >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

# Sign in and create a key through the dashboard, as a person would.
jar="$work/cookies"
csrf=$(curl -fs -c "$jar" "$base/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "email=load@example.com" \
  --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
page=$(curl -fs -b "$jar" -c "$jar" "$base/projects/default/environments/production/api-keys")
csrf=$(sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p' <<<"$page")
key=$(curl -fs -b "$jar" -c "$jar" --data "name=load&type=secret&scope_read=on&expiration=never&csrf_token=$csrf" \
  "$base/projects/default/environments/production/api-keys" | sed -n 's/.*id="revealed-key">\([^<]*\)<.*/\1/p' | head -n 1)
[ -n "$key" ] || { echo "could not create a key"; exit 1; }

cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"environment": "production", "scope": "read"}'
LUA
curl -fs -X POST -H "X-API-Key: $key" "$base/api/v1/keys/verify" | grep -q '"VALID"'   # warm-up
misses_before=$(curl -fs "$base/metrics" | awk '/^keyward_key_cache_misses_total/ {print $2}')

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
echo "== trivial route: GET /healthz"; trivial=$(run "$base/healthz"); echo "$trivial"
echo "== verify: POST /api/v1/keys/verify"; verify=$(run -s "$work/verify.lua" "$base/api/v1/keys/verify"); echo "$verify"

metrics=$(curl -fs "$base/metrics")
misses_after=$(awk '/^keyward_key_cache_misses_total/ {print $2}' <<<"$metrics")
valid=$(awk -F' ' '/^keyward_verifications_total\{code="VALID"\}/ {print $2}' <<<"$metrics")
non200=$(grep -E "Non-2xx" <<<"$verify" || true)

python3 - "$trivial" "$verify" "$metrics" "$misses_before" "$misses_after" "$valid" "$non200" <<'PY'
import re, sys
trivial, verify, metrics, m0, m1, valid, non200 = sys.argv[1:8]
def rps(out): return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
def pct(out, p):
    v, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
buckets = [(float(le), float(n)) for le, n in re.findall(r'keyward_verify_duration_seconds_bucket\{le="([\d.e+-]+)"\} (\d+)', metrics)]
total = buckets[-1][1] if buckets else 0
server_p99 = next((le for le, n in buckets if n >= 0.99 * total), float("nan")) * 1e3
t, v = rps(trivial), rps(verify)
print("\n== summary (one run, same machine, same server)")
print(f"trivial  GET  /healthz          {t:10.0f} req/s   p50 {pct(trivial,50):6.3f} ms   p99 {pct(trivial,99):6.3f} ms")
print(f"verify   POST /api/v1/keys/verify {v:8.0f} req/s   p50 {pct(verify,50):6.3f} ms   p99 {pct(verify,99):6.3f} ms")
print(f"throughput ratio verify/trivial: {v/t:.2f}   (target >= 0.80)")
print(f"p99 ratio verify/trivial:        {pct(verify,99)/pct(trivial,99):.2f}   (target <= 1.25)")
print(f"server-side verify p99 (histogram bucket bound): <= {server_p99:.3f} ms over {int(total)} verifications (target <= 1 ms)")
print(f"database look-ups during the run: {float(m1) - float(m0):.0f} for {valid} valid verifications")
if non200: print("wrk saw non-2xx answers:", non200.strip())
PY
