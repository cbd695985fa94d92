#!/usr/bin/env bash
# Load test of verify with key policies (issue #8): the release build, wrk, one server, and in
# each round the trivial GET /healthz and verify of (a) a plain key, (b) a key with 50 CIDR
# blocks and an `ip` in the body, (c) a key with a quota of 10^9 per month, (d) a key with a
# rate limit of 10^9 per minute. The machine is noisy, so the five alternate for several rounds
# and the summary gives medians of each and of the per-round ratios to the trivial route, the
# server-side p99 of each kind (from the /metrics histogram's growth during that kind's runs),
# and the budget statements per 1 000 verifies (keyward_budget_reservations_total's growth: a
# quota reservation's transaction counts 7 statements, a claim or a rate-limit slice 1).
#
#   bash tests/load/policies.sh                 # 64 connections, 3 rounds of 5 s per route
#   CONNECTIONS=128 ROUNDS=5 bash tests/load/policies.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PORT=${PORT:-18788}
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }

# The keys under test are created over the management API with an admin-scope key.
source tests/load/lib.sh
start_keyward policies "$PORT"
admin=$(dashboard_key automation admin)

create() {
  curl -fs -X POST -H "X-API-Key: $admin" -H 'Content-Type: application/json' -d "$1" \
    "$base/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
cidrs=$(python3 -c 'import json; print(json.dumps([f"10.{i}.0.0/16" for i in range(49)] + ["203.0.113.0/24"]))')
plain=$(create '{"name": "plain", "scopes": ["read"]}')
restricted=$(create "{\"name\": \"restricted\", \"scopes\": [\"read\"], \"allowed_ips\": $cidrs}")
quota=$(create '{"name": "quota", "scopes": ["read"], "quota": {"limit": 1000000000, "period": "month"}}')
limited=$(create '{"name": "limited", "scopes": ["read"], "rate_limit_per_minute": 1000000000}')

script() { # name key body
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$2"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$3'
LUA
  # Warm-up, and a check that the key is VALID with that body.
  curl -fs -X POST -H "X-API-Key: $2" -H 'Content-Type: application/json' -d "$3" \
    "$base/api/v1/keys/verify" | grep -q '"VALID"' || { echo "$1: not VALID"; exit 1; }
}
body='{"environment": "production", "scope": "read"}'
script plain "$plain" "$body"
script cidrs "$restricted" '{"environment": "production", "scope": "read", "ip": "203.0.113.77"}'
script quota "$quota" "$body"
script limited "$limited" "$body"

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
for kind in trivial plain cidrs quota limited; do : >"$work/$kind.out"; done
for round in $(seq 1 "$ROUNDS"); do
  out=$(run "$base/healthz"); echo "$out" >>"$work/trivial.out"
  echo "round $round trivial: $(grep Requests/sec <<<"$out")"
  for kind in plain cidrs quota limited; do
    curl -fs "$base/metrics" >"$work/$kind.before.$round"
    out=$(run -s "$work/$kind.lua" "$base/api/v1/keys/verify"); echo "$out" >>"$work/$kind.out"
    curl -fs "$base/metrics" >"$work/$kind.after.$round"
    echo "round $round $kind: $(grep Requests/sec <<<"$out") $(grep -E 'Non-2xx' <<<"$out" || true)"
  done
done

python3 - "$work" "$ROUNDS" <<'PY'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
med = statistics.median
def wrk(kind):
    text = open(f"{work}/{kind}.out").read()
    def pct(p):
        return [float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u] for v, u in re.findall(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)]
    return [float(x) for x in re.findall(r"Requests/sec:\s+([\d.]+)", text)], pct(99)
def metric(text, name):
    m = re.search(rf"^{re.escape(name)} ([\d.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
def buckets(text):
    return {le: float(n) for le, n in re.findall(r'keyward_verify_duration_seconds_bucket\{le="([^"]+)"\} (\d+)', text)}
t_rps, t99 = wrk("trivial")
print(f"\n== summary: {rounds} alternating rounds, one server, medians")
print(f"{'route':10} {'req/s':>9} {'ratio':>6} {'rounds':24} {'client p99':>10} {'server p99':>11} {'budget stmts / 1000':>20}")
print(f"{'trivial':10} {med(t_rps):9.0f} {'':6} {'':24} {med(t99):8.3f}ms")
for kind in ["plain", "cidrs", "quota", "limited"]:
    rps, p99 = wrk(kind)
    ratios = [v / t for v, t in zip(rps, t_rps)]
    grown = {}
    verifies = stmts = 0.0
    for r in range(1, rounds + 1):
        before = open(f"{work}/{kind}.before.{r}").read()
        after = open(f"{work}/{kind}.after.{r}").read()
        b0, b1 = buckets(before), buckets(after)
        for le in b1:
            grown[le] = grown.get(le, 0) + b1[le] - b0.get(le, 0)
        verifies += metric(after, "keyward_verify_duration_seconds_count") - metric(before, "keyward_verify_duration_seconds_count")
        stmts += metric(after, "keyward_budget_reservations_total") - metric(before, "keyward_budget_reservations_total")
    total = grown.get("+Inf", verifies)
    bounds = sorted((float(le), n) for le, n in grown.items() if le != "+Inf")
    server_p99 = next((le for le, n in bounds if n >= 0.99 * total), float("inf")) * 1e3
    per_1000 = 1000 * stmts / verifies if verifies else float("nan")
    print(f"{kind:10} {med(rps):9.0f} {med(ratios):6.2f} {', '.join(f'{r:.2f}' for r in ratios):24} {med(p99):8.3f}ms  <= {server_p99:6.3f}ms {per_1000:20.4f}")
print("targets: ratio >= 0.80 for each, server-side p99 <= 1 ms, budget statements <= 1 per 1 000 verifies for quota and limited")
PY
