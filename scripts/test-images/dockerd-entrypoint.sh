#!/bin/sh
# The entrypoint of the test image with a Docker daemon, laid out like CodeBuild's curated
# images: it starts dockerd with their flags, waits for it, then runs the command. runspec never
# runs an image's entrypoint (CodeBuild overrides it); the marker file lets a test check that.
set -e
touch /var/run/runspec-test-entrypoint-ran
/usr/local/bin/dockerd --host=unix:///var/run/docker.sock --host=tcp://127.0.0.1:2375 \
  --storage-driver=overlay2 >/var/log/docker.log 2>&1 &
tries=0
until docker info >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 60 ]; then
    cat /var/log/docker.log >&2
    echo "the Docker daemon did not start" >&2
    exit 1
  fi
  sleep 1
done
exec "$@"
