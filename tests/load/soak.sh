#!/usr/bin/env bash
# Soak: five minutes of mixed traffic on the release build, on its embedded database.
#   - verify from 64 connections (wrk, in one-minute runs, so p99 is reported per minute);
#   - the API Keys tab loaded by a signed-in person, several times a second;
#   - through the management API, every second: a switch OFF/ON and a rotation of another key.
# Reports the count of 5xx answers (goal 0), the resident-set growth from minute 1 to the last
# minute (goal <= 5 %), verify's p99 per minute, and whether any plaintext key reached the log.
#
#   bash tests/load/soak.sh                 # 5 minutes
#   MINUTES=2 bash tests/load/soak.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

MINUTES=${MINUTES:-5}
CONNECTIONS=${CONNECTIONS:-64}
PORT=${PORT:-18788}
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }

cargo build --release --quiet
work=$(mktemp -d /tmp/keyward-soak.XXXXXX)
chmod 755 "$work"
password="soak-test-password-$$"
KEYWARD_DATA_DIR="$work/data" KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_ADMIN_EMAIL=soak@example.com \
  KEYWARD_ADMIN_PASSWORD="$password" RUST_LOG=info ./target/release/keyward >"$work/server.log" 2>&1 &
server=$!
mixer=""
trap '[ -n "$mixer" ] && kill $mixer 2>/dev/null; kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 150); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

jar="$work/cookies"
keys_page="$base/projects/default/environments/production/api-keys"
csrf=$(curl -fs -c "$jar" "$base/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "email=soak@example.com" \
  --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
new_key() { # name, scope field
  local page csrf
  page=$(curl -fs -b "$jar" -c "$jar" "$keys_page")
  csrf=$(sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p' <<<"$page")
  curl -fs -b "$jar" -c "$jar" --data "name=$1&type=secret&$2=on&expiration=never&csrf_token=$csrf" \
    "$keys_page" | sed -n 's/.*id="revealed-key">\([^<]*\)<.*/\1/p' | head -n 1
}
verify_key=$(new_key soak-verify scope_read)
admin_key=$(new_key soak-admin scope_admin)
target_key=$(new_key soak-target scope_read)
[ -n "$verify_key" ] && [ -n "$admin_key" ] && [ -n "$target_key" ] || { echo "could not create the keys"; exit 1; }
target_id=$(curl -fs -H "X-API-Key: $admin_key" "$base/api/v1/api-keys" |
  python3 -c 'import json,sys; print(next(k["id"] for k in json.load(sys.stdin)["data"] if k["name"] == "soak-target"))')

cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$verify_key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"environment": "production", "scope": "read"}'
local server_errors = 0
response = function(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("server errors: %d\n", server_errors))
end
LUA

# The mixed traffic beside the load: one status code per line into mixed.codes.
(
  while :; do
    for _ in 1 2 3 4; do
      curl -s -o /dev/null -w '%{http_code}\n' -b "$jar" "$keys_page"
      sleep 0.25
    done
    for enabled in false true; do
      curl -s -o /dev/null -w '%{http_code}\n' -X PATCH -H "X-API-Key: $admin_key" \
        -H 'Content-Type: application/json' -d "{\"enabled\": $enabled}" "$base/api/v1/api-keys/$target_id"
    done
    curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "X-API-Key: $admin_key" \
      -H 'Content-Type: application/json' -d '{"grace_period_seconds": 60}' \
      "$base/api/v1/api-keys/$target_id/rotate"
  done
) >"$work/mixed.codes" 2>/dev/null &
mixer=$!

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
: >"$work/minutes"
for minute in $(seq 1 "$MINUTES"); do
  out=$(wrk -t2 -c"$CONNECTIONS" -d60s --latency -s "$work/verify.lua" "$base/api/v1/keys/verify")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  errors=$(awk '/server errors:/ {print $3}' <<<"$out")
  echo "$minute $rps $p99 $errors $(rss)" | tee -a "$work/minutes"
done
kill $mixer 2>/dev/null; wait $mixer 2>/dev/null || true; mixer=""

mixed_total=$(wc -l <"$work/mixed.codes")
mixed_5xx=$(grep -c '^5' "$work/mixed.codes" || true)
mixed_other=$(grep -vc '^2\|^5' "$work/mixed.codes" || true)
leaks=$(grep -cE '(kw_[a-z]{2}_[a-z0-9]+_[0-9A-Za-z]{20,})' "$work/server.log" || true)
python3 - "$work/minutes" "$mixed_total" "$mixed_5xx" "$mixed_other" "$leaks" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
mixed_total, mixed_5xx, mixed_other, leaks = map(int, sys.argv[2:6])
print("\n== soak summary")
print("minute  verify req/s  p99 (wrk)  5xx  RSS KiB")
for m, rps, p99, errors, rss in rows:
    print(f"{m:>6}  {float(rps):12.0f}  {p99:>9}  {errors:>3}  {rss:>7}")
verify_5xx = sum(int(r[3]) for r in rows)
first, last = int(rows[0][4]), int(rows[-1][4])
print(f"verify 5xx: {verify_5xx}; dashboard and management requests: {mixed_total}, 5xx: {mixed_5xx}, "
      f"other non-2xx: {mixed_other}   goal: 0 5xx")
print(f"resident set minute 1 -> {len(rows)}: {first} -> {last} KiB ({(last - first) / first * 100:+.1f} %)   goal <= +5 %")
print(f"plaintext keys in the server log: {leaks}   goal 0")
PY
