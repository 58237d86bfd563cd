#!/usr/bin/env bash
# Runs `finetune` on an emulated core and on the host with the same schedule
# and compares every EPOCH / TUNE / TEST line number by number.
#
#   firmware/compare.sh [TRIPLE]      (default thumbv7em-none-eabihf)
#
# Text fields must match exactly; numbers must agree within
#   EPOCH losses:      relative 1e-4
#   TUNE/TEST metrics: absolute 0.02 (one test wine changing sides moves recall
#                      by 1/55 for q>=7 and 1/16 for q<=4 -- the tolerance then
#                      fails, which is what it should do)
# Prints the largest differences seen; exit status 1 when over tolerance.
set -euo pipefail
cd "$(dirname "$0")"
triple="${1:-thumbv7em-none-eabihf}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cargo build --release --quiet --bin finetune
cargo build --release --quiet --target "$triple" --bin finetune
cargo run --release --quiet --target "$triple" --bin finetune >"$tmp/target.txt"
epochs="$(sed -n 's/.*epochs \([0-9]*\).*/\1/p' "$tmp/target.txt" | head -1)"
./target/release/finetune --epochs "$epochs" >"$tmp/host.txt"

pick() { grep -E '^(EPOCH|TUNE|TEST),' "$1" | sed 's/[a-z_0-9]\+=//g'; }
pick "$tmp/target.txt" >"$tmp/t"
pick "$tmp/host.txt" >"$tmp/h"
echo "compare.sh: $triple vs host, $epochs epochs, $(wc -l <"$tmp/t") lines"
paste -d'|' "$tmp/h" "$tmp/t" | awk -F'|' '
  function isnum(x) { return x ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/ }
  function abs(x) { return x < 0 ? -x : x }
  {
    n = split($1, h, ","); m = split($2, t, ",")
    if (n != m) { print "shape differs: " $1 " | " $2; bad++; next }
    for (i = 1; i <= n; i++) {
      if (isnum(h[i]) && isnum(t[i])) {
        d = abs(h[i] - t[i])
        if (h[1] == "EPOCH") {
          r = d / (abs(h[i]) > 1e-30 ? abs(h[i]) : 1)
          if (r > maxe) { maxe = r; we = $1 " | " $2 }
          if (r > 1e-4) { print "EPOCH over tolerance: " $1 " | " $2; bad++ }
        } else {
          if (d > 0) diffs++
          if (d > maxm) { maxm = d; wm = $1 " | " $2 }
          if (d > 0.02) { print "metric over tolerance: " $1 " | " $2; bad++ }
        }
        total++
      } else if (h[i] != t[i]) { print "text differs: " $1 " | " $2; bad++ }
    }
  }
  END {
    if (NR == 0) { print "no lines to compare"; exit 1 }
    printf "numbers compared: %d; largest relative difference of an epoch loss: %.2e%s\n", total, maxe, (maxe > 0 ? "  (" we ")" : "")
    printf "metric fields that differ at all: %d; largest absolute difference: %.4f%s\n", diffs, maxm, (maxm > 0 ? "  (" wm ")" : "")
    if (bad) { print "FAIL: " bad " over tolerance"; exit 1 }
    print "OK: host and target agree within tolerance"
  }'
