#!/bin/sh
# Creates the bearer token Alertmanager sends with every webhook and vpsmon-receiver checks:
# 32 bytes from the kernel's RNG, hex, mode 0600. A non-empty token that exists is kept, so a
# rerun (every `docker compose up`, a re-install) never breaks a running pair. The token is never
# printed.
#
#   scripts/webhook-token.sh FILE [OWNER[:GROUP]]
#
# OWNER: the user Alertmanager runs as (it reads FILE itself; the receiver gets it as a systemd
# credential or runs as the same user). Used by docker-compose.yml's webhook-token service and by
# the systemd install in docs/deploy.md. POSIX sh: it also runs in the slim container image.
set -eu
file=${1:?usage: webhook-token.sh FILE [OWNER[:GROUP]]}
owner=${2:-}
umask 077
if [ -s "$file" ]; then
  echo "webhook-token: keeping the existing token in $file" >&2
else
  mkdir -p "$(dirname "$file")"
  tmp="$file.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp"
  if [ "$(wc -c <"$tmp")" -ne 64 ]; then
    echo "webhook-token: could not read 32 bytes from /dev/urandom" >&2
    exit 1
  fi
  mv "$tmp" "$file"
  echo "webhook-token: created $file" >&2
fi
# chmod only when the mode is wrong: in compose the kept file is already OWNER's, and root there
# has no CAP_FOWNER to chmod another user's file (a second `docker compose up` failed on it).
if [ -n "$(find "$file" -prune ! -perm 600)" ]; then chmod 0600 "$file"; fi
if [ -n "$owner" ]; then chown "$owner" "$file"; fi
