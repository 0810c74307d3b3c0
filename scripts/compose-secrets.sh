#!/bin/sh
# How docker-compose.yml gets the receiver's secrets (BOT_TOKEN, SLACK_WEBHOOK_URL) from .env to
# the receiver as files, never as container environment (`docker inspect` shows that to anyone
# who may talk to the engine). POSIX sh: it runs in the slim image.
#
#   compose-secrets.sh split ENV_FILE DIR OWNER[:GROUP] NAME...
#       The one-shot receiver-secrets service: ENV_FILE is .env, mounted as a compose secret.
#       For each NAME set there (the last NAME=VALUE line, one pair of surrounding quotes
#       dropped, as compose reads it), writes DIR/NAME, mode 0600, owned by OWNER; removes
#       DIR/NAME when it is unset or empty, so clearing a line in .env turns the destination off.
#       Values are never printed, only names.
#   compose-secrets.sh exec DIR PROGRAM [ARG...]
#       The receiver's entry: sets NAME_FILE=DIR/NAME for each file in DIR (BOT_TOKEN_FILE, ...)
#       and runs PROGRAM. A variable is set only for a file that exists, because the receiver
#       treats a named but missing or empty secret file as an error.
set -eu
mode=${1:-}
case $mode in
split)
  [ "$#" -ge 4 ] || { echo "usage: compose-secrets.sh split ENV_FILE DIR OWNER NAME..." >&2; exit 2; }
  env_file=$2 dir=$3 owner=$4
  shift 4
  if [ -d "$env_file" ]; then
    # What the engine mounts when .env is missing: it creates an empty directory in its place.
    echo "compose-secrets: $env_file is a directory: .env was missing when the stack started (rmdir .env && cp .env.example .env)" >&2
    exit 1
  fi
  if [ ! -f "$env_file" ] || [ ! -r "$env_file" ]; then
    echo "compose-secrets: cannot read $env_file (copy .env.example to .env)" >&2
    exit 1
  fi
  umask 077
  # The directory stays root's (0755: OWNER lists and reads it, nobody else reads the files), so
  # a rerun can replace files: in compose, root has neither CAP_DAC_OVERRIDE nor CAP_FOWNER.
  mkdir -p "$dir"
  chmod 0755 "$dir"
  for name in "$@"; do
    value=$(sed -n "s/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}$name=//p" "$env_file" | tail -n 1 | tr -d '\r')
    case $value in
      \"*\") value=${value#\"} value=${value%\"} ;;
      \'*\') value=${value#\'} value=${value%\'} ;;
    esac
    file=$dir/$name
    if [ -n "$value" ]; then
      tmp=$file.tmp.$$
      printf '%s\n' "$value" >"$tmp"
      chown "$owner" "$tmp"
      mv "$tmp" "$file"
      echo "compose-secrets: $name from $env_file written to $file (mode 0600, owner $owner)" >&2
    else
      rm -f "$file"
      echo "compose-secrets: $name is not set in $env_file" >&2
    fi
  done
  ;;
exec)
  [ "$#" -ge 3 ] || { echo "usage: compose-secrets.sh exec DIR PROGRAM [ARG...]" >&2; exit 2; }
  dir=$2
  shift 2
  for file in "$dir"/*; do
    [ -f "$file" ] || continue
    export "${file##*/}_FILE=$file"
  done
  exec "$@"
  ;;
*)
  echo "usage: compose-secrets.sh split ENV_FILE DIR OWNER NAME... | exec DIR PROGRAM [ARG...]" >&2
  exit 2
  ;;
esac
