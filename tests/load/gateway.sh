#!/usr/bin/env bash
# Load test of forward authentication: the release build, nginx with the README's configuration
# (docs/gateways/nginx.conf), wrk, all on this machine, four routes in one run:
#   bare    nginx proxying to the upstream without asking Keyward (`auth_request off`)
#   fauth   nginx proxying to the same upstream after `auth_request` to Keyward
#   auth    GET /api/v1/auth on Keyward directly (key, environment and scope headers)
#   verify  POST /api/v1/keys/verify on Keyward directly (the same key, environment and scope)
# The upstream is a second nginx server answering `return 200`, so both proxied routes do the
# same work but for the check. The four alternate for several rounds (the machine is noisy);
# the summary gives medians, per-round ratios and p99s.
#
#   bash tests/load/gateway.sh                  # 64 connections, 5 rounds of 5 s per route
#   CONNECTIONS=128 ROUNDS=3 DURATION=10s bash tests/load/gateway.sh
#   ROUTES="bare fauth" NGINX_WORKERS=1 bash tests/load/gateway.sh   # a subset; nginx's workers
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
PORT=${PORT:-18797}
NGINX_PORT=${NGINX_PORT:-18798}
UPSTREAM_PORT=${UPSTREAM_PORT:-18799}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
ROUTES=${ROUTES:-bare fauth auth verify}
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq nginx >/dev/null; nginx=/usr/sbin/nginx; }

target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
work=$(mktemp -d /tmp/keyward-gateway-load.XXXXXX)
chmod 755 "$work"
password="load-test-password-$$"
KEYWARD_DATA_DIR="$work/data" KEYWARD_BIND="127.0.0.1:$PORT" KEYWARD_ADMIN_EMAIL=load@example.com \
  KEYWARD_ADMIN_PASSWORD="$password" KEYWARD_TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn \
  "$target/release/keyward" >"$work/server.log" 2>&1 &
server=$!
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && { kill -TERM "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; }
  kill -TERM $server 2>/dev/null; wait $server 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
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

# nginx: the README's configuration pointed at this run's ports, one location more that skips
# the check, and the upstream as a second server.
python3 - "$work" "$PORT" "$NGINX_PORT" "$UPSTREAM_PORT" "$NGINX_WORKERS" <<'PY'
import sys
work, port, nginx_port, upstream_port, workers = sys.argv[1:6]
block = open("docs/gateways/nginx.conf").read()
block = (block.replace("listen 80;", f"listen 127.0.0.1:{nginx_port} reuseport;")
              .replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{port};")
              .replace("server 127.0.0.1:3000;", f"server 127.0.0.1:{upstream_port};"))
end = block.rstrip().rfind("}")
block = block[:end] + "    location /bare/ {\n        auth_request off;\n        proxy_pass http://service;\n    }\n}\n"
open(f"{work}/nginx.conf", "w").write(f"""daemon off;
worker_processes {workers};
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{upstream_port};
    location / {{ return 200 "ok\\n"; }}
  }}
{block}
}}
""")
PY
"$nginx" -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf" &
nginx_pid=$!
proxy="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 1 100); do curl -fs -o /dev/null -H "X-API-Key: $key" "$proxy/x" && break; sleep 0.1; done
curl -fs -o /dev/null -H "X-API-Key: $key" "$proxy/x" || { echo "nginx does not answer"; cat "$work/nginx-error.log"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$proxy/x")" = 401 ] || { echo "nginx let a request without a key through"; exit 1; }

cat >"$work/verify.lua" <<LUA
wrk.method = "POST"
wrk.headers["X-API-Key"] = "$key"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"environment": "production", "scope": "read"}'
LUA
misses_before=$(curl -fs "$base/metrics" | awk '/^keyward_key_cache_misses_total/ {print $2}')

run() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
# CPU seconds (user + system) spent so far by a process and its children's threads.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
nginx_procs() { echo "$nginx_pid" $(pgrep -P "$nginx_pid"); }
for name in bare fauth auth verify; do : >"$work/$name.out"; done
for round in $(seq 1 "$ROUNDS"); do
  for name in $ROUTES; do
    k0=$(ticks $server); n0=$(ticks $(nginx_procs))
    case $name in
      bare) out=$(run -H "X-API-Key: $key" "$proxy/bare/x") ;;
      fauth) out=$(run -H "X-API-Key: $key" "$proxy/x") ;;
      auth) out=$(run -H "X-API-Key: $key" -H "X-Keyward-Environment: production" \
        -H "X-Keyward-Scope: read" "$base/api/v1/auth") ;;
      verify) out=$(run -s "$work/verify.lua" "$base/api/v1/keys/verify") ;;
    esac
    echo "$out" >>"$work/$name.out"
    k1=$(ticks $server); n1=$(ticks $(nginx_procs)); hz=$(getconf CLK_TCK)
    printf 'round %s %-6s %s   CPU s: keyward %.1f, nginx %.1f\n' "$round" "$name" \
      "$(grep Requests/sec <<<"$out")" "$(bc -l <<<"($k1 - $k0) / $hz")" "$(bc -l <<<"($n1 - $n0) / $hz")"
    grep -E "Non-2xx|Socket errors" <<<"$out" || true
  done
done

misses_after=$(curl -fs "$base/metrics" | awk '/^keyward_key_cache_misses_total/ {print $2}')
python3 - "$work" "$misses_before" "$misses_after" <<'PY'
import re, statistics, sys
work, m0, m1 = sys.argv[1:4]
def rounds(name):
    text = open(f"{work}/{name}.out").read()
    def pct(p):
        return [float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u] for v, u in re.findall(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text)]
    return [float(x) for x in re.findall(r"Requests/sec:\s+([\d.]+)", text)], pct(50), pct(99)
r = {name: rounds(name) for name in ("bare", "fauth", "auth", "verify")}
r = {name: v for name, v in r.items() if v[0]}
med = statistics.median
print(f"\n== summary: {len(r['bare'][0])} alternating rounds, medians")
labels = {"bare": "nginx, no check     ", "fauth": "nginx + auth_request", "auth": "GET  /api/v1/auth   ", "verify": "POST /api/v1/keys/verify"}
for name, (rps, p50, p99) in r.items():
    print(f"{labels[name]} {med(rps):9.0f} req/s   p50 {med(p50):6.3f} ms   p99 {med(p99):6.3f} ms")
def ratio(a, b, what, target):
    if a not in r or b not in r:
        return
    rs = [x / y for x, y in zip(r[a][0], r[b][0])]
    print(f"{what}: {med(rs):.2f} (rounds: {', '.join(f'{x:.2f}' for x in rs)})   target {target}")
ratio("fauth", "bare", "throughput forward-auth / bare proxy", ">= 0.50")
ratio("auth", "verify", "throughput /api/v1/auth / verify   ", "within 0.95-1.05")
print(f"database look-ups during the run: {float(m1) - float(m0):.0f}")
PY
