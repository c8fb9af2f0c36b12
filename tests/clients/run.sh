#!/usr/bin/env bash
# Microsoft's own clients against `bulkops emulate --tls`: msal's
# ConfidentialClientApplication and azure-identity's ClientSecretCredential
# sign in (instance discovery off), and the official msgraph-sdk lists the
# demo tenant's groups. Versions are pinned in requirements.txt; the virtual
# environment is made once per set of pins. Usage: tests/clients/run.sh BULKOPS
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bulkops="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"

pins="$(sha256sum "$here/requirements.txt" | cut -c1-16)"
venv="${BULKOPS_CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bulkops/clients-$pins}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv.tmp" 2>/dev/null || {
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$venv.tmp"
  }
  "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  rm -rf "$venv" && mv "$venv.tmp" "$venv"
  # A venv remembers its own path: make it again where it now lives.
  python3 -m venv --upgrade "$venv" >/dev/null
fi

work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export EMU_SECRET="client-secret-$RANDOM$RANDOM"
"$bulkops" emulate --db "$work/directory.db" --init --listen 127.0.0.1:0 \
  --tls "$work/tls" --client-secret-env EMU_SECRET >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 1 300); do
  grep -q "Microsoft Graph v1.0 on" "$work/emulator.out" 2>/dev/null && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.err" >&2; exit 1; }
  sleep 0.1
done
base="$(grep -o 'https://localhost:[0-9]*' "$work/emulator.out" | head -1)"
test -n "$base" || { echo "the emulator printed no https address" >&2; cat "$work/emulator.out" >&2; exit 1; }

"$venv/bin/python" "$here/signin.py" \
  --base-url "$base" --tenant contoso.onmicrosoft.com \
  --client-id 6731de76-14a6-49ae-97bc-6eba6914391e --secret "$EMU_SECRET" \
  --ca "$work/tls/ca.pem" --check-bad-secret --expect-groups "All Staff,eng-web,onboarding"
