# Sourced by .ci/schemathesis and .ci/ts-client: the debug server on a free port with a
# temporary data folder, SQLite, the `file` SMS provider and generous limits, so a client
# can sign in by reading its code from the file.
#
#   server_start <folder>   sets SERVER_URL, SERVER_PID, SERVER_SMS_FILE, SERVER_LOG,
#                           SERVER_SERVICE_KEY and SERVER_ADMIN_KEY
#   server_stop

server_bin() {
  local bin="${CARGO_TARGET_DIR:-target}/debug/im-access"
  if [ ! -x "$bin" ]; then
    echo "server: building $bin" >&2
    cargo build --quiet --bin im-access >&2
  fi
  printf '%s\n' "$bin"
}

random_hex() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

server_start() {
  local dir=$1 bin
  bin=$(server_bin)
  mkdir -p "$dir/data"
  SERVER_SMS_FILE="$dir/sms.jsonl"
  SERVER_LOG="$dir/server.log"
  SERVER_SERVICE_KEY=$(random_hex)
  SERVER_ADMIN_KEY=$(random_hex)
  : >"$SERVER_LOG"
  # Nothing from the caller's environment or a config folder: only what is set here.
  (
    for v in $(compgen -e); do
      case $v in IM_* | RUST_LOG) unset "$v" ;; esac
    done
    export IM_CONFIG_DIR="$dir/no-config" IM_ENV_FILE="$dir/no.env" \
      IM__APP__DATA_DIR="$dir/data" \
      IM__SERVER__BIND=127.0.0.1:0 IM__SERVER__WORKERS=2 \
      IM__LOG__FORMAT=json IM__LOG__LEVEL=info \
      IM__SMS__PROVIDER=file IM__SMS__FILE_PATH="$SERVER_SMS_FILE" \
      IM__SMS__COOLDOWN_SECS=0 IM__SMS__PER_NUMBER_DAILY=1000000 \
      IM__SMS__PER_IP_HOURLY=1000000 IM__SMS__GLOBAL_DAILY_BUDGET=1000000 \
      IM__SMS__VERIFY_PER_IP_HOURLY=1000000 IM__SMS__FOREIGN_COUNTRY_DAILY=1000000 \
      IM__LIMITS__LOOKUPS_PER_HOUR=1000000 IM__LIMITS__LOOKUPS_PER_ADDRESS_HOURLY=1000000 \
      IM__LIMITS__AVATAR_UPLOADS=1000000 \
      IM__INTERNAL__KEYS="$SERVER_SERVICE_KEY" IM__ADMIN__KEYS="ci:$SERVER_ADMIN_KEY"
    exec "$bin" serve
  ) >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 1 300); do
    addr=$(sed -n 's/.*"message":"im-access listening","addr":"\([^"]*\)".*/\1/p' "$SERVER_LOG" | head -n1)
    [ -n "$addr" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "server: did not start; its log:" >&2
    cat "$SERVER_LOG" >&2
    return 1
  fi
  SERVER_URL="http://$addr"
  echo "server: $SERVER_URL (pid $SERVER_PID, log $SERVER_LOG)"
}

server_stop() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
