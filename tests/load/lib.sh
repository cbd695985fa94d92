# Shared by the load scripts (sourced, not run): start the release build on a fresh embedded
# database, and create a key through the dashboard as a person would.

# start_keyward NAME PORT: builds the release binary, starts it with its own data directory in
# a new temporary $work, sets $server, $base and $password, stops it and removes $work on exit,
# and waits until it answers.
start_keyward() {
  local name=$1 port=$2
  [ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
  work=$(mktemp -d "/tmp/keyward-$name.XXXXXX")
  chmod 755 "$work"
  password="load-test-password-$$"
  KEYWARD_DATA_DIR="$work/data" KEYWARD_BIND="127.0.0.1:$port" KEYWARD_ADMIN_EMAIL=load@example.com \
    KEYWARD_ADMIN_PASSWORD="$password" RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/keyward" \
    >"$work/server.log" 2>&1 &
  server=$!
  trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.2; done
}

csrf_token() { sed -n 's/.*name="csrf-token" content="\([^"]*\)".*/\1/p'; }

# dashboard_key NAME SCOPE: signs in (once) and creates a secret key with that scope in the
# default environment through the dashboard's Add form; prints its plaintext.
dashboard_key() {
  local name=$1 scope=$2 list="$base/projects/default/environments/production/api-keys" csrf key
  jar="$work/cookies"
  if [ ! -s "$jar" ]; then
    csrf=$(curl -fs -c "$jar" "$base/login" | csrf_token)
    curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "email=load@example.com" \
      --data-urlencode "password=$password" --data-urlencode "csrf_token=$csrf" "$base/login"
  fi
  csrf=$(curl -fs -b "$jar" -c "$jar" "$list" | csrf_token)
  key=$(curl -fs -b "$jar" -c "$jar" \
    --data "name=$name&type=secret&scope_$scope=on&expiration=never&csrf_token=$csrf" "$list" |
    sed -n 's/.*id="revealed-key">\([^<]*\)<.*/\1/p' | head -n 1)
  [ -n "$key" ] || { echo "could not create the key $name" >&2; return 1; }
  echo "$key"
}
