#!/usr/bin/env bash
# Starts (`up`) or stops (`down`) the development environment in the background.
set -euo pipefail
cd "$(dirname "$0")/.."

state=.kubenova/dev
pidfile=$state/pid
envfile=$state/env
log=$state/testenv.log

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
  up)
    if running; then
      echo "already running (pid $(cat "$pidfile")); settings in $envfile"
      exit 0
    fi
    mkdir -p "$state"
    rm -f "$envfile"
    nohup target/debug/kubenova-testenv up --dir "$state/run" --env-file "$envfile" \
      --proxy-binary target/debug/kubenova-proxy --control-binary target/debug/kubenova-control \
      >"$log" 2>&1 &
    echo $! >"$pidfile"
    echo "starting in the background (pid $(cat "$pidfile"), output in $log) ..."
    for _ in $(seq 1 600); do
      if [ -f "$envfile" ]; then
        echo "ready. Use it with:"
        echo "  . $envfile && kubectl get ns"
        echo "the web UI: $(. "$envfile" && echo "$KUBENOVA_API_URL")/ (sign in with \$KUBENOVA_ADMIN_TOKEN; docs/ui.md)"
        exit 0
      fi
      if ! running; then
        echo "error: the environment stopped while starting; last lines of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
      fi
      sleep 0.5
    done
    echo "error: not ready after 300s; see $log" >&2
    exit 1
    ;;
  down)
    if ! running; then
      echo "not running"
      rm -f "$pidfile" "$envfile"
      exit 0
    fi
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "error: pid $pid did not stop after 20s" >&2
      exit 1
    fi
    rm -f "$pidfile"
    echo "stopped"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
