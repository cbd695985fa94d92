#!/usr/bin/env bash
# Seeded views: the release build on its embedded database, one environment filled with
# 100 000 keys, 30 days of usage for 100 of them and 1 000 000 audit events (tests/load/seed.sql,
# set-based), then the dashboard's views measured one after the other, REQUESTS times each
# after WARMUP requests: the API Keys tab (first page, page 100 by cursor, searches, a pasted
# key, each status filter), one key's page with its chart, the Activity tab, and the CSV export
# (time, and the server's peak resident set while it streams 10 000, 100 000 and 1 000 000
# events).
#
# Time is the server's: the duration the server logs for each request (src/middleware.rs), found
# by the request's X-Request-Id; curl's time_total on loopback is printed beside it as a
# cross-check. The export streams its body after the log line is written, so its time is
# curl's (to the last byte).
#
#   bash tests/load/seed.sh                     # fresh database, removed afterwards
#   KEEP=/tmp/keyward-seeded bash tests/load/seed.sh   # seed once into KEEP, reuse it next time
#   REQUESTS=100 bash tests/load/seed.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-60}
WARMUP=${WARMUP:-5}
EXPORTS=${EXPORTS:-3}
PORT=${PORT:-18789}
KEEP=${KEEP:-}
for tool in curl psql python3; do command -v $tool >/dev/null || { echo "needs $tool"; exit 1; }; done

nice -n 10 cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/keyward
if [ -n "$KEEP" ]; then
  mkdir -p "$KEEP"
  work=$(cd "$KEEP" && pwd)
else
  work=$(mktemp -d /tmp/keyward-seed.XXXXXX)
fi
chmod 755 "$work"
data="$work/data"
email=seed@example.com
password=seed-benchmark-password
: >"$work/server.log"
KEYWARD_DATA_DIR="$data" KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_ADMIN_EMAIL=$email \
  KEYWARD_ADMIN_PASSWORD="$password" RUST_LOG=info NO_COLOR=1 "$bin" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill -TERM $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  # The server stops its embedded cluster on SIGTERM; should it have died first, stop it here.
  if [ -f "$data/postgres/postmaster.pid" ]; then
    pg_ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$pg_ctl" stop -D "$data/postgres" -m fast >/dev/null 2>&1 || true
    else
      "$pg_ctl" stop -D "$data/postgres" -m fast >/dev/null 2>&1 || true
    fi
  fi
  [ -n "$KEEP" ] || rm -rf "$work"
}
trap cleanup EXIT
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "$base/healthz" >/dev/null || { echo "the server did not start:"; tail "$work/server.log"; exit 1; }
sql() { psql -X -q -v ON_ERROR_STOP=1 -h "$data/run" -U postgres -d keyward "$@"; }

# Sign in as a person would; the one key whose plaintext is known (for the pasted-key search) is
# created through the dashboard, like tests/load/run.sh does.
env_path=/projects/default/environments/production
keys="$base$env_path/api-keys"
jar="$work/cookies"
csrf=$(curl -fs -c "$jar" "$base/login" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "email=$email" \
  --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
csrf=$(curl -fs -b "$jar" -c "$jar" "$keys" | sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p')
[ -n "$csrf" ] || { echo "could not sign in"; exit 1; }
env_id=$(sql -tAc "SELECT e.id FROM environments e JOIN projects p ON p.id = e.project_id
                   WHERE p.slug = 'default' AND e.slug = 'production'")
seeded=$(sql -tAc "SELECT count(*) FROM api_keys WHERE environment_id = $env_id")
pasted="$work/pasted-key"
if [ "$seeded" -lt 100000 ]; then
  [ "$seeded" -eq 0 ] || { echo "$data holds a partly seeded environment; remove it"; exit 1; }
  umask 077
  curl -fs -b "$jar" -c "$jar" --data "name=bench-pasted&type=secret&scope_read=on&expiration=never&csrf_token=$csrf" \
    "$keys" | sed -n 's/.*id="revealed-key">\([^<]*\)<.*/\1/p' | head -n 1 >"$pasted"
  umask 022
  [ -s "$pasted" ] || { echo "could not create a key"; exit 1; }
  tag=$(sql -tAc "SELECT key_tag FROM environments WHERE id = $env_id")
  admin=$(sql -tAc "SELECT id FROM users WHERE lower(email) = '$email'")
  echo "seeding (100 000 keys, usage for 100, 1 000 000 audit events) ..."
  started=$(date +%s.%N)
  sql -o /dev/null -v env="$env_id" -v tag="$tag" -v admin="$admin" -f tests/load/seed.sql
  echo "seeded in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$started" "$(date +%s.%N)") s"
fi
sql -tAc "SELECT 'keys: ' || count(*) FROM api_keys WHERE environment_id = $env_id
          UNION ALL SELECT 'audit events: ' || count(*) FROM audit_events WHERE environment_id = $env_id
          UNION ALL SELECT 'usage rows (minute / hourly): ' || (SELECT count(*) FROM api_key_usage)
                           || ' / ' || (SELECT count(*) FROM api_key_usage_hourly)"

# What to ask for: page 100's cursor by walking the Next links (and checked against SQL), a
# name fragment shared by ~6 % of keys and rare ones, one key's last 4, a key with usage.
url="$keys"
for _ in $(seq 1 99); do
  next=$(curl -fs -b "$jar" "$url" | sed -n 's/.*<a href="\([^"]*\)" hx-get="[^"]*" hx-target="#keys-section"[^>]*rel="next">Next<.*/\1/p' | head -n 1)
  [ -n "$next" ] || { echo "no Next link on the way to page 100"; exit 1; }
  url="$base${next//&amp;/&}"
done
page100=$url
expected=$(sql -tAc "SELECT lpad(to_hex((extract(epoch FROM created_at) * 1000000)::bigint), 16, '0')
                            || lpad(to_hex(id), 16, '0')
                     FROM api_keys WHERE environment_id = $env_id
                     ORDER BY created_at DESC, id DESC OFFSET 4949 LIMIT 1")
[ "$page100" = "$keys?after=$expected" ] || { echo "page 100: $page100, expected after=$expected"; exit 1; }
last4=$(sql -tAc "SELECT right(masked, 4) FROM api_keys WHERE environment_id = $env_id
                  AND name = 'billing-service-48000'")
# A rare fragment the planner has in its histogram of names (a key's number, shared by a key
# or two): with too small a histogram it is taken for a common one (see the migration
# …_search_statistics).
histogram_term=$(sql -tAc "SELECT regexp_replace(b, '.*-', '') FROM pg_stats,
                      unnest(histogram_bounds::text::text[]) b
                    WHERE tablename = 'api_keys' AND attname = 'name' AND b ~ '-[0-9]{5}$' LIMIT 1")
chart_key=$(sql -tAc "SELECT api_key_id FROM api_key_usage_hourly GROUP BY 1 ORDER BY 1 LIMIT 1")

echo "load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
: >"$work/samples.tsv"
measure() { # label, then curl's arguments
  local label=$1
  shift
  for _ in $(seq 1 "$WARMUP"); do curl -s -o /dev/null -b "$jar" "$@"; done
  for _ in $(seq 1 "$REQUESTS"); do
    curl -s -o /dev/null -b "$jar" -w "$label\t%header{x-request-id}\t%{http_code}\t%{time_total}\n" "$@" \
      >>"$work/samples.tsv"
  done
}
measure "API Keys, first page" "$keys"
measure "API Keys, page 100 (cursor)" "$page100"
measure "Search, name fragment (6 % of keys)" "$keys?q=invent"
measure "Search, rare name fragment" "$keys?q=4711"
measure "Search, rare fragment in the planner's histogram" "$keys?q=$histogram_term"
measure "Search, last 4 characters" "$keys?q=$last4"
measure "Search, a pasted key (POST, 303)" --data-urlencode "q@$pasted" --data-urlencode "csrf_token=$csrf" "$keys/search"
for status in on off expired revoked expiring; do
  measure "Status: $status" "$keys?status=$status"
done
measure "Key page, 24-hour chart" "$keys/$chart_key"
measure "Key page, 30-day chart" "$keys/$chart_key?period=30d"
measure "Activity, first page" "$base$env_path/activity"
measure "Activity, one key" "$base$env_path/activity?key=$chart_key"

# The export: time to the last byte (curl) and the server's resident set. VmHWM (the peak) is
# reset before each export (clear_refs 5, root or the server's own user) and sampled too.
: >"$work/exports.tsv"
export_once() { # label, query
  local label=$1 query=$2 before peak sampled=0 lines
  before=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  echo 5 >/proc/$server/clear_refs 2>/dev/null || true
  (
    while kill -0 $server 2>/dev/null; do
      awk '/VmRSS/ {print $2}' /proc/$server/status
      sleep 0.02
    done
  ) >"$work/rss.samples" &
  local sampler=$!
  local timing
  timing=$(curl -s -b "$jar" -o >(wc -l >"$work/lines") -w "%{http_code}\t%{time_total}\t%{size_download}" \
    "$base$env_path/activity/export$query")
  kill $sampler 2>/dev/null || true
  wait $sampler 2>/dev/null || true
  sleep 0.2
  lines=$(cat "$work/lines")
  peak=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
  sampled=$(sort -n "$work/rss.samples" | tail -n 1)
  local after
  after=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$timing" "$lines" "$before" "$after" "$peak" "$sampled" \
    >>"$work/exports.tsv"
}
for _ in $(seq 1 "$EXPORTS"); do
  export_once "10 000 events (api_key.rotated)" "?action=api_key.rotated"
  export_once "100 000 events (api_key.updated)" "?action=api_key.updated"
done
export_once "1 000 000 events (all)" ""
echo "load average after measuring: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/samples.tsv" "$work/server.log" "$work/exports.tsv" "$REQUESTS" <<'PY'
import re, statistics, sys
samples, log, exports, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
server_ms = {}
for line in open(log, errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = re.search(r"duration_ms=([\d.]+).*request_id=([0-9a-f]{16})", line)
    if m:
        server_ms[m.group(2)] = float(m.group(1))
def pct(values, p):  # nearest rank
    values = sorted(values)
    return values[max(0, -(-len(values) * p // 100) - 1)]
views = {}
for line in open(samples):
    label, rid, code, total = line.rstrip("\n").split("\t")
    views.setdefault(label, []).append((rid, int(code), float(total) * 1000))
target = {"Key page, 30-day chart": 50, "Key page, 24-hour chart": 50}
print(f"\n== seeded views: {n} requests each, server-side ms (logged) and curl's time_total (loopback)")
print("| view | status | server p50 | server p95 | curl p50 | curl p95 | target p95 |")
print("|---|---|---|---|---|---|---|")
missed = []
for label, rows in views.items():
    codes = sorted({c for _, c, _ in rows})
    logged = [server_ms[r] for r, _, _ in rows if r in server_ms]
    if len(logged) != len(rows):
        print(f"{label}: only {len(logged)} of {len(rows)} requests found in the log")
        sys.exit(1)
    curl = [t for _, _, t in rows]
    goal = target.get(label, 20)
    p95 = pct(logged, 95)
    if p95 > goal:
        missed.append(label)
    print(f"| {label} | {','.join(map(str, codes))} | {pct(logged, 50):.2f} | {p95:.2f} "
          f"| {pct(curl, 50):.2f} | {pct(curl, 95):.2f} | ≤ {goal} ms{'' if p95 <= goal else ' **missed**'} |")
print("\n== CSV export: time to the last byte (curl), server resident set (KiB)")
print("| export | status | time | size | lines | RSS before | RSS after | peak (VmHWM) | peak (sampled) |")
print("|---|---|---|---|---|---|---|---|---|")
for line in open(exports):
    label, code, total, size, lines, before, after, peak, sampled = line.rstrip("\n").split("\t")
    print(f"| {label} | {code} | {float(total):.2f} s | {int(size) / 1e6:.1f} MB | {lines} "
          f"| {before} | {after} | {peak} | {sampled} |")
print("\nall views within their targets" if not missed else f"\nmissed: {', '.join(missed)}")
PY
if grep -q -F -f "$pasted" "$work/server.log" "$work/samples.tsv"; then
  echo "the pasted key reached the log"
  exit 1
fi
