#!/usr/bin/env bash
# Load test: the release build, wrk, one server, two routes in one run.
# Compares POST /api/v1/keys/verify (a real key, warm cache, with a JSON body naming the
# environment and scope) with the trivial GET /healthz of the same server. The machine is
# noisy, so the two alternate for several rounds and the summary gives medians of each and of
# the per-round ratios, plus the server-side p99 of verify from /metrics and the database
# look-ups during the run.
#
#   bash tests/load/run.sh                      # 64 connections, 5 rounds of 5 s per route
#   CONNECTIONS=128 ROUNDS=3 DURATION=10s bash tests/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
PORT=${PORT:-18787}
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }

source tests/load/lib.sh
start_keyward load "$PORT"
key=$(dashboard_key load read)

cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"environment": "production", "scope": "read"}'
LUA
curl -fs -X POST -H "X-API-Key: $key" "$base/api/v1/keys/verify" | grep -q '"VALID"'   # warm-up
misses_before=$(curl -fs "$base/metrics" | awk '/^keyward_key_cache_misses_total/ {print $2}')

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
: >"$work/trivial.out"; : >"$work/verify.out"
for round in $(seq 1 "$ROUNDS"); do
  out=$(run "$base/healthz"); echo "$out" >>"$work/trivial.out"
  echo "round $round trivial: $(grep Requests/sec <<<"$out")"
  out=$(run -s "$work/verify.lua" "$base/api/v1/keys/verify"); echo "$out" >>"$work/verify.out"
  echo "round $round verify:  $(grep Requests/sec <<<"$out")"
  grep -E "Non-2xx" <<<"$out" || true
done

metrics=$(curl -fs "$base/metrics")
misses_after=$(awk '/^keyward_key_cache_misses_total/ {print $2}' <<<"$metrics")
valid=$(awk -F' ' '/^keyward_verifications_total\{code="VALID"\}/ {print $2}' <<<"$metrics")

python3 - "$work/trivial.out" "$work/verify.out" "$metrics" "$misses_before" "$misses_after" "$valid" <<'PY'
import re, statistics, sys
trivial_out, verify_out, metrics, m0, m1, valid = sys.argv[1:7]
def rounds(path):
    text = open(path).read()
    def pct(p):
        return [float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u] for v, u in re.findall(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)]
    return [float(x) for x in re.findall(r"Requests/sec:\s+([\d.]+)", text)], pct(50), pct(99)
t_rps, t50, t99 = rounds(trivial_out)
v_rps, v50, v99 = rounds(verify_out)
med = statistics.median
ratios = [v / t for v, t in zip(v_rps, t_rps)]
p99_ratios = [v / t for v, t in zip(v99, t99)]
buckets = [(float(le), float(n)) for le, n in re.findall(r'keyward_verify_duration_seconds_bucket\{le="([\d.e+-]+)"\} (\d+)', metrics)]
total = float(re.search(r"keyward_verify_duration_seconds_count (\d+)", metrics).group(1))
server_p99 = next((le for le, n in buckets if n >= 0.99 * total), float("inf")) * 1e3
print(f"\n== summary: {len(ratios)} alternating rounds, one server, medians")
print(f"trivial  GET  /healthz            {med(t_rps):9.0f} req/s   p50 {med(t50):6.3f} ms   p99 {med(t99):6.3f} ms")
print(f"verify   POST /api/v1/keys/verify {med(v_rps):9.0f} req/s   p50 {med(v50):6.3f} ms   p99 {med(v99):6.3f} ms")
print(f"throughput ratio verify/trivial: {med(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})   target >= 0.80")
print(f"p99 ratio verify/trivial:        {med(p99_ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in p99_ratios)})   target <= 1.25")
print(f"server-side verify p99 (histogram bucket bound): <= {server_p99:.3f} ms over {int(total)} verifications   target <= 1 ms")
print(f"database look-ups during the run: {float(m1) - float(m0):.0f} for {valid} valid verifications")
PY
