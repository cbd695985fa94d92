#!/usr/bin/env bash
# Bulk actions at size: one server, 500 keys, and the time of one POST …/api-keys/bulk that
# switches all of them off (then on again), as the dashboard's plain form sends it, measured by
# curl over loopback (so it includes rendering nothing heavier than a 303). Also the revoke
# confirmation of 500 keys (it reads their usage) and the confirmed revocation, once.
#
#   bash tests/load/bulk.sh                   # release build, 500 keys, 5 rounds
#   PROFILE=debug KEYS=1000 ROUNDS=3 bash tests/load/bulk.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

KEYS=${KEYS:-500}
ROUNDS=${ROUNDS:-5}
PROFILE=${PROFILE:-release}
PORT=${PORT:-18788}

if [ "$PROFILE" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
target=${CARGO_TARGET_DIR:-target}
binary="$target/$PROFILE/keyward"
work=$(mktemp -d /tmp/keyward-bulk.XXXXXX)
chmod 755 "$work"
password="bulk-test-password-$$"
KEYWARD_DATA_DIR="$work/data" KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_ADMIN_EMAIL=bulk@example.com \
  KEYWARD_ADMIN_PASSWORD="$password" RUST_LOG=warn "$binary" >"$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
base="http://127.0.0.1:$PORT"
list="$base/projects/default/environments/production/api-keys"
for _ in $(seq 1 150); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done

jar="$work/cookies"
token() { sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p'; }
csrf=$(curl -fs -c "$jar" "$base/login" | token)
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "email=bulk@example.com" \
  --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
csrf=$(curl -fs -b "$jar" -c "$jar" "$list" | token)

# An admin-scoped key makes the others through the management API (one request each).
admin_key=$(curl -fs -b "$jar" -c "$jar" \
  --data "name=bulk-admin&type=secret&scope_read=on&scope_admin=on&expiration=never&csrf_token=$csrf" \
  "$list" | sed -n 's/.*id="revealed-key">\([^<]*\)<.*/\1/p' | head -n 1)
[ -n "$admin_key" ] || { echo "could not create the admin key"; exit 1; }
echo "creating $KEYS keys…"
for i in $(seq 1 "$KEYS"); do
  curl -fs -o /dev/null -H "X-API-Key: $admin_key" -H 'Content-Type: application/json' \
    -d "{\"name\": \"bulk $i\", \"type\": \"secret\", \"scopes\": [\"read\"]}" "$base/api/v1/api-keys"
done

# Every id but the admin key's, walking the API's cursor.
python3 - "$base" "$admin_key" >"$work/form-ids" <<'PY'
import json, sys, urllib.request
base, key = sys.argv[1:3]
ids, cursor = [], None
while True:
    url = f"{base}/api/v1/api-keys?limit=100" + (f"&cursor={cursor}" if cursor else "")
    page = json.load(urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": key})))
    ids += [k["id"] for k in page["data"] if k["name"] != "bulk-admin"]
    cursor = page["next_cursor"]
    if not cursor:
        break
print("&".join(f"key={i}" for i in ids))
PY
count=$(tr '&' '\n' <"$work/form-ids" | grep -c '^key=')
echo "$count keys selected"

bulk() { # action, extra fields → seconds
  curl -s -o "$work/last" -w '%{http_code} %{time_total}\n' -b "$jar" -c "$jar" \
    --data "action=$1&view=&csrf_token=$csrf$2&$(cat "$work/form-ids")" "$list/bulk"
}
: >"$work/off"; : >"$work/on"
for round in $(seq 1 "$ROUNDS"); do
  read -r code_off t_off < <(bulk off "")
  read -r code_on t_on < <(bulk on "")
  [ "$code_off" = 303 ] && [ "$code_on" = 303 ] || { echo "unexpected status $code_off/$code_on"; exit 1; }
  echo "$t_off" >>"$work/off"; echo "$t_on" >>"$work/on"
  echo "round $round: switch off ${t_off}s, switch on ${t_on}s"
done
read -r code t_preview < <(bulk revoke "")
grep -q "Revoke $count keys" "$work/last" || { echo "the confirmation does not list $count keys"; exit 1; }
read -r code t_revoke < <(bulk revoke "&confirmed=yes")
python3 - "$work/off" "$work/on" "$t_preview" "$t_revoke" "$count" "$PROFILE" <<'PY'
import statistics, sys
off, on = ([float(x) * 1e3 for x in open(p)] for p in sys.argv[1:3])
preview, revoke = float(sys.argv[3]) * 1e3, float(sys.argv[4]) * 1e3
n, profile = sys.argv[5], sys.argv[6]
print(f"\n== {n} keys in one request, {profile} build, {len(off)} rounds (median / max)")
print(f"Switch off           {statistics.median(off):7.1f} ms / {max(off):7.1f} ms   target <= 1000 ms")
print(f"Switch on            {statistics.median(on):7.1f} ms / {max(on):7.1f} ms")
print(f"Revoke confirmation  {preview:7.1f} ms (once)")
print(f"Revoke, confirmed    {revoke:7.1f} ms (once)")
PY
