#!/usr/bin/env bash
# Regenerates registry-src/, the sample registry that `cargo run --release -- build` publishes.
# Keys are made in a temporary folder and thrown away: no private key is ever committed, so
# the samples can never be re-signed (add new versions with new keys via package.toml signers).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/mpk-registry
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A tiny valid wasm module: magic, version, and a custom section named `calimero_abi_v1`.
wasm() { # out-file abi-json
  local name=calimero_abi_v1 body
  body=$(printf '%s' "$2")
  python3 - "$1" "$name" "$body" <<'PY'
import sys
out, name, body = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
def leb(n):
    b = bytearray()
    while True:
        byte = n & 0x7f; n >>= 7
        b.append(byte | (0x80 if n else 0))
        if not n: return bytes(b)
payload = leb(len(name)) + name + body
open(out, "wb").write(b"\0asm\x01\0\0\0" + b"\x00" + leb(len(payload)) + payload)
PY
}

"$bin" keygen -o "$work/alice.json" >/dev/null
"$bin" keygen -o "$work/bob.json" >/dev/null

pack() { # key package version manifest-json-without-artifacts files...
  local key=$1 package=$2 version=$3 manifest=$4
  mkdir -p "registry-src/$package"
  printf '%s' "$manifest" > "$work/manifest.json"
  "$bin" pack "$work/manifest.json" --key "$work/$key.json" --root "$work" \
    -o "registry-src/$package/$package-$version.mpk" --force >/dev/null
}

rm -rf registry-src
# A 32×32 PNG icon (three stacked bars: a key-value store), drawn here so no binary is checked in.
icon="data:image/png;base64,$(python3 - <<'PY'
import base64, struct, zlib
size, rows = 32, []
for y in range(size):
    row = bytearray([0])
    for x in range(size):
        inside = 4 <= x < 28 and any(6 + 8 * k <= y < 11 + 8 * k for k in range(3))
        row += bytes((255, 255, 255) if inside else (13, 148, 136))
    rows.append(bytes(row))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))
print(base64.b64encode(png).decode())
PY
)"

for v in 0.1.0 0.2.0 1.0.0; do
  wasm "$work/kv.wasm" "{\"methods\":[\"get\",\"set\"],\"v\":\"$v\"}"
  printf '{"methods":["get","set"]}\n' > "$work/kv-abi.json"
  pack alice com.calimero.kv-store "$v" "{
    \"version\": \"1.0\", \"package\": \"com.calimero.kv-store\", \"appVersion\": \"$v\",
    \"minRuntimeVersion\": \"0.1.0\",
    \"metadata\": {\"name\": \"Key-value store\", \"description\": \"A replicated key-value store for contexts: get, set and watch keys across nodes.\",
      \"author\": \"Calimero samples\", \"tags\": [\"storage\", \"starter\"], \"license\": \"MIT\", \"icon\": \"$icon\"},
    \"links\": {\"github\": \"https://github.com/example/kv-store\", \"docs\": \"https://docs.example.com/kv-store\"},
    \"wasm\": {\"path\": \"kv.wasm\"}, \"abi\": {\"path\": \"kv-abi.json\"}}"
done

for v in 1.0.0 1.1.0-beta.1; do
  wasm "$work/chat.wasm" "{\"methods\":[\"send\",\"history\"],\"v\":\"$v\"}"
  pack alice com.calimero.chat "$v" "{
    \"version\": \"1.0\", \"package\": \"com.calimero.chat\", \"appVersion\": \"$v\",
    \"minRuntimeVersion\": \"0.2.0\",
    \"metadata\": {\"name\": \"Chat\", \"description\": \"End-to-end encrypted group chat with history that syncs between members.\",
      \"author\": \"Calimero samples\", \"tags\": [\"messaging\"], \"license\": \"Apache-2.0\"},
    \"links\": {\"frontend\": \"https://chat.example.com\"},
    \"wasm\": {\"path\": \"chat.wasm\"}}"
done

wasm "$work/store.wasm" '{"svc":"store"}'
wasm "$work/auth.wasm" '{"svc":"auth"}'
printf '{"svc":"store"}\n' > "$work/store-abi.json"
mkdir -p "$work/services"
mv "$work/store.wasm" "$work/auth.wasm" "$work/store-abi.json" "$work/services/"
pack bob com.example.workspace 0.3.0 '{
  "version": "1.0", "package": "com.example.workspace", "appVersion": "0.3.0",
  "minRuntimeVersion": "0.2.0",
  "metadata": {"name": "Workspace suite", "description": "Two services in one bundle: a document store and an access-control service.",
    "author": "Example Corp", "tags": ["documents", "multi-service"]},
  "services": [
    {"name": "store", "wasm": {"path": "services/store.wasm"}, "abi": {"path": "services/store-abi.json"}},
    {"name": "auth", "wasm": {"path": "services/auth.wasm"}}
  ]}'

cat > registry-src/registry.toml <<'TOML'
# Settings of this registry. See README.md, "Input layout".
title = "Calimero sample registry"
TOML
cat > registry-src/com.calimero.kv-store/package.toml <<'TOML'
owners = ["calimero-samples"]
yanked = [{ version = "0.2.0", reason = "Loses writes made during a resync; upgrade to 1.0.0." }]
TOML
echo "registry-src/ regenerated"
