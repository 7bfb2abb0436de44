#!/bin/sh
# worker: a background job that does a unit of "work" every 2 seconds.
# Exits cleanly on Ctrl-C (SIGINT) or SIGTERM.
trap 'echo "worker: stopping after $n ticks"; exit 0' INT TERM
n=0
echo "worker: started (APP_ENV=${APP_ENV:-unset})"
while :; do
    n=$((n + 1))
    echo "worker: tick $n at $(date +%H:%M:%S)"
    sleep 2
done
