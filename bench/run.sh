#!/usr/bin/env bash
# Measures `mpk-registry build` against the floor (read + gunzip + SHA-256 of every bundle, on
# all cores), on generated corpora, and writes the numbers to target/bench/results.md.
#
#   bench/run.sh                 everything (about 7 minutes on 2 cores, plus about 3 to
#                                generate the corpora the first time)
#   REPS=5 bench/run.sh          more repetitions of each 10k-corpus step (default 3)
#   SKIP_100K=1 SKIP_VARIANTS=1 SKIP_HUGE=1 bench/run.sh   a quick run
#   BENCH_DIR=/dev/shm/mpk-bench bench/run.sh    on tmpfs (no disk effects; needs ~6 GiB of RAM,
#                                which stays in use until the folder is deleted)
#   SYNC=1 ...                   sync before every measured step (all earlier writes on disk)
#   DISK_DIR=target/bench-disk   also the 10k corpus on disk, page cache warm and dropped
#   BENCH_DIR=/tmp/b C10K_APPS=20 C100K_APPS=50 HUGE_BYTES=1048576 REPS=1 bench/run.sh   a dry run
#   BASELINE_REV=<rev> ...       also cold and warm builds of the 10k corpus by the tool built from
#                                <rev>, interleaved with this tree's, and their ratio
#                                (target/bench/baseline.md); BASELINE_ONLY=1 runs only that
#   GATE_ONLY=1 [BASELINE_REV=<rev>] bench/run.sh   only the gate: `check --actor` on a 50,000-file
#                                pull request against a 10,000-app base (and by <rev>'s tool,
#                                interleaved); target/bench/gate.md. SKIP_GATE=1 leaves it out
#
# Corpora live in $BENCH_DIR/<name> (default target/bench) and are reused when their
# parameters match. Every step runs under /usr/bin/time -v (wall time from the shell clock,
# peak RSS and CPU time from time). Steps run with a warm page cache: the floor gets a
# discarded warm-up run first, so floor and build see the same cache state. With DISK_DIR the
# 10k corpus is also measured on disk, including from a dropped page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=${BENCH_DIR:-$ROOT/target/bench}
BIN=$BENCH/bin
LOGS=$BENCH/logs
TSV=$BENCH/results.tsv
REPS=${REPS:-3}
REPS_100K=${REPS_100K:-1}
mkdir -p "$BENCH" "$BIN" "$LOGS"
rm -f "$LOGS"/* "$TSV"

say() { printf '\n== %s\n' "$*" >&2; }

if [[ ! -x /usr/bin/time ]]; then
  say "installing GNU time"
  apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

# ---------------------------------------------------------------------------------------------
# Binaries. The default build is the crate's own release build; the variants differ only in
# the inflate / SHA-256 backend and share one separate target folder.

say "building release binaries"
cargo build --release --quiet --bin mpk-registry --example bench_floor --example bench_corpus
mkdir -p "$BIN/default"
cp target/release/mpk-registry target/release/examples/bench_floor target/release/examples/bench_corpus "$BIN/default/"

declare -A VARIANT_FEATURES=(
  [miniz]="--no-default-features --features miniz,mimalloc"
  [zlib-rs-nodetect]="--no-default-features --features flate2/zlib-rs,mimalloc"
  [soft-sha]="--features soft-sha"
  [glibc-malloc]="--no-default-features --features zlib-rs"
)
VARIANTS=(miniz zlib-rs-nodetect soft-sha glibc-malloc)
if [[ -z ${SKIP_VARIANTS:-} ]]; then
  for v in "${VARIANTS[@]}"; do
    say "building variant $v (${VARIANT_FEATURES[$v]})"
    # shellcheck disable=SC2086
    CARGO_TARGET_DIR=$ROOT/target/bench-variants cargo build --release --quiet \
      --bin mpk-registry --example bench_floor ${VARIANT_FEATURES[$v]}
    mkdir -p "$BIN/$v"
    cp target/bench-variants/release/mpk-registry target/bench-variants/release/examples/bench_floor "$BIN/$v/"
  done
fi

if [[ -n ${BASELINE_REV:-} ]]; then
  say "building the baseline $BASELINE_REV"
  wt=$ROOT/target/bench-baseline-src
  git worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
  git worktree add -q --detach "$wt" "$BASELINE_REV"
  (cd "$wt" && CARGO_TARGET_DIR=$ROOT/target/bench-baseline cargo build --release --quiet --bin mpk-registry)
  mkdir -p "$BIN/baseline"
  cp "$ROOT/target/bench-baseline/release/mpk-registry" "$BIN/baseline/"
  git worktree remove --force "$wt"
fi

# ---------------------------------------------------------------------------------------------
# Corpora

# corpus NAME APPS VERSIONS WASM_BYTES [ALPHABET]: generates target/bench/NAME unless it is
# already there with the same parameters (and puts it back at its base commit).
corpus() {
  local name=$1 apps=$2 versions=$3 wasm=$4 alphabet=${5:-256}
  local dir=$BENCH/$name
  local params="--apps $apps --versions $versions --wasm-bytes $wasm --alphabet $alphabet --seed 1"
  if [[ -f $dir/.params ]] && [[ $(head -1 "$dir/.params") == "$params" ]]; then
    local base
    base=$(sed -n 2p "$dir/.params")
    if [[ $(git -C "$dir" rev-parse HEAD) != "$base" ]]; then
      git -C "$dir" reset -q --hard "$base"
      git -C "$dir" clean -qfd registry-src
    fi
    say "reusing corpus $name ($params)"
  else
    say "generating corpus $name ($params)"
    local t0=$(date +%s%N)
    # shellcheck disable=SC2086
    "$BIN/default/bench_corpus" "$dir" $params >&2
    printf '%s\n%s\n' "$params" "$(git -C "$dir" rev-parse HEAD)" >"$dir/.params"
    echo "generated $name in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
  fi
}

# ---------------------------------------------------------------------------------------------
# Measuring

# measure CORPUS STEP REP CMD...: one timed run, appended to results.tsv.
measure() {
  local corpus=$1 step=$2 rep=$3
  shift 3
  local log=$LOGS/$corpus.${step//\//_}.$rep.log tv=$LOGS/$corpus.${step//\//_}.$rep.time
  local load t0 t1
  [[ -n ${SYNC:-} ]] && sync
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$tv" "$@" >"$log" 2>&1; then
    echo "FAILED: $corpus $step: $*" >&2
    cat "$log" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  local rss user sys
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  user=$(awk -F': ' '/User time/ {print $2}' "$tv")
  sys=$(awk -F': ' '/System time/ {print $2}' "$tv")
  printf '%s\t%s\t%s\t%.3f\t%.1f\t%s\t%s\t%s\n' "$corpus" "$step" "$rep" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)" \
    "$user" "$sys" "$load" >>"$TSV"
  printf '  %-10s %-22s rep %s: %6.3f s, %6.1f MiB (load %s)\n' "$corpus" "$step" "$rep" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$load" >&2
}

# The line `build -v` prints; fails unless exactly EXPECTED bundles were verified.
expect_verified() {
  local log=$1 expected=$2 line
  line=$(grep -E '^[0-9]+ bundle\(s\): [0-9]+ verified' "$log")
  if [[ $(awk '{print $3}' <<<"$line") != "$expected" ]]; then
    echo "expected $expected verified bundle(s), got: $line" >&2
    exit 1
  fi
  echo "$line" >>"$BENCH/verified.txt"
}

can_drop() { sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Moves a corpus' site and cache out of the way (a rename), deleting what earlier steps moved
# there first, outside any timed step. (Sites hold copies of the bundles, so keeping every old
# one would fill a tmpfs.)
fresh() {
  local dir=$BENCH/$1 n
  empty_trash
  mkdir -p "$BENCH/trash"
  for x in out cache; do
    if [[ -e $dir/$x ]]; then
      n=$(mktemp -u "$BENCH/trash/$1.$x.XXXXXX")
      mv "$dir/$x" "$n"
    fi
  done
}

TRASH_MS=0
empty_trash() {
  local t0
  t0=$(date +%s%N)
  rm -rf "$BENCH/trash"
  TRASH_MS=$((TRASH_MS + ($(date +%s%N) - t0) / 1000000))
}

# build_cold CORPUS STEP REP [BIN]: empty cache, no previous site, and a settled git index (as
# in a working copy git has refreshed since the checkout), which vouches for every bundle.
build_cold() {
  local corpus=$1 step=$2 rep=$3 bin=${4:-$BIN/default} dir=$BENCH/$1
  fresh "$corpus"
  git -C "$dir" update-index -q --refresh >/dev/null || true
  measure "$corpus" "$step" "$rep" "$bin/mpk-registry" build "$dir/registry-src" \
    -o "$dir/out" --cache "$dir/cache" -v
  expect_verified "$LOGS/$corpus.${step//\//_}.$rep.log" "$(bundle_count "$corpus")"
}

# build_again CORPUS STEP REP EXPECTED [ENV...]: the same build again, keeping site and cache
# (by $AGAIN_BIN, default the tree's own build).
build_again() {
  local corpus=$1 step=$2 rep=$3 expected=$4 dir=$BENCH/$1
  shift 4
  measure "$corpus" "$step" "$rep" env "$@" "${AGAIN_BIN:-$BIN/default}/mpk-registry" build "$dir/registry-src" \
    -o "$dir/out" --cache "$dir/cache" -v
  expect_verified "$LOGS/$corpus.${step//\//_}.$rep.log" "$expected"
}

bundle_count() { git -C "$BENCH/$1" ls-files -- '*.mpk' | wc -l; }

# clone_fresh CORPUS DROP_CACHE: a new clone of the corpus at its base commit (not timed), with
# no site; its cache folder ($BENCH/CORPUS-clone-cache) is kept unless DROP_CACHE is yes.
clone_fresh() {
  local corpus=$1 drop=$2 clone=$BENCH/$1-clone n
  empty_trash
  mkdir -p "$BENCH/trash"
  if [[ -e $clone ]]; then
    n=$(mktemp -u "$BENCH/trash/$corpus-clone.XXXXXX")
    mv "$clone" "$n"
  fi
  if [[ $drop == yes ]] && [[ -e $clone-cache ]]; then
    n=$(mktemp -u "$BENCH/trash/$corpus-clone-cache.XXXXXX")
    mv "$clone-cache" "$n"
  fi
  git clone -q --no-hardlinks "$BENCH/$corpus" "$clone"
  git -C "$clone" checkout -q "$(sed -n 2p "$BENCH/$corpus/.params")"
}

# build_clone CORPUS STEP REP EXPECTED: a build in the fresh clone.
build_clone() {
  local corpus=$1 step=$2 rep=$3 expected=$4 clone=$BENCH/$1-clone
  measure "$corpus" "$step" "$rep" "$BIN/default/mpk-registry" build "$clone/registry-src" \
    -o "$clone/out" --cache "$clone-cache" -v
  expect_verified "$LOGS/$corpus.${step//\//_}.$rep.log" "$expected"
}

floor() {
  local corpus=$1 step=$2 rep=$3 bin=${4:-$BIN/default}
  shift $(($# < 4 ? $# : 4))
  measure "$corpus" "$step" "$rep" "$bin/bench_floor" "$BENCH/$corpus/registry-src" "$@"
}

# The full sequence on one corpus: floor (and its parts), cold, warm, warm after adding one
# bundle, sizes. The floor steps are cheap, so they get at least 5 interleaved repetitions.
suite() {
  local corpus=$1 reps=$2 dir=$BENCH/$1
  local floor_reps=$((reps > 5 ? reps : 5))
  "$BIN/default/bench_floor" "$dir/registry-src" >/dev/null # warm the page cache
  for r in $(seq "$floor_reps"); do
    floor "$corpus" floor "$r"
    floor "$corpus" floor+file-sha "$r" "$BIN/default" --hash-file
    floor "$corpus" read+gunzip "$r" "$BIN/default" --no-sha
    floor "$corpus" read-only "$r" "$BIN/default" --read-only
    # Reading and hashing every file: what computing every cache key costs.
    floor "$corpus" read+file-sha "$r" "$BIN/default" --read-only --hash-file
  done
  # The git commands `build` runs to list the source (src/source.rs, src/git.rs), on their own.
  for r in $(seq "$floor_reps"); do
    measure "$corpus" git-listing "$r" bash -c 'cd "$1" &&
      git rev-parse --is-inside-work-tree >/dev/null &&
      git -c core.quotePath=false ls-files -z -- . >/dev/null &&
      git -c core.quotePath=false ls-files -z --others --exclude-standard -- "*.mpk" >/dev/null &&
      git -c core.quotePath=false log --diff-filter=A --no-renames --relative --format=%x01%ct --name-only -- . >/dev/null' \
      _ "$dir/registry-src"
  done
  for r in $(seq "$reps"); do build_cold "$corpus" cold "$r"; done
  for r in $(seq "$reps"); do build_again "$corpus" warm "$r" 0; done
  # As CI runs it, in a fresh clone, whose git index cannot vouch for the files written in its
  # own second (git re-reads those; when they are many, the build hashes every bundle itself):
  # cold (no cache), again in the same clone, and the next merge's build (another fresh clone,
  # the cache restored, no site).
  for r in $(seq "$reps"); do
    clone_fresh "$corpus" yes
    build_clone "$corpus" cold/fresh-clone "$r" "$(bundle_count "$corpus")"
  done
  for r in $(seq "$reps"); do build_clone "$corpus" warm/fresh-clone "$r" 0; done
  for r in $(seq "$reps"); do
    clone_fresh "$corpus" no
    build_clone "$corpus" rebuild/fresh-clone "$r" 0
  done
  # A tmpfs runs out of inodes before bytes: every site of c100k has 440,000 files.
  mkdir -p "$BENCH/trash"
  mv "$dir-clone" "$dir-clone-cache" "$BENCH/trash/"
  empty_trash
  # Each repetition adds another new version of app 0 (one day after the corpus commit).
  for r in $(seq "$reps"); do
    # shellcheck disable=SC2046
    "$BIN/default/bench_corpus" "$dir" --add-one $(sed -n 1p "$dir/.params") >&2
    build_again "$corpus" warm+add-one "$r" 1
  done
  sizes "$corpus"
  git -C "$dir" reset -q --hard "$(sed -n 2p "$dir/.params")"
  return 0
}

sizes() {
  local corpus=$1 out=$BENCH/$1/out
  {
    printf '%s\t%s\t' "$corpus" "$(stat -c %s "$out/index.json")"
    printf '%s\t' "$(stat -c %s "$out/apps/com.bench.app00001/index.json")"
    printf '%s\t' "$(find "$out" -type f | wc -l)"
    printf '%s\t' "$(find "$out" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')"
    printf '%s\t' "$(find "$out" -type f ! -name '*.mpk' -printf '%s\n' | awk '{s+=$1} END {print s}')"
    printf '%s\n' "$(find "$BENCH/$1/cache" -type f -printf '%s\n' | awk '{s+=$1; n++} END {print n "\t" s}')"
  } >>"$BENCH/sizes.tsv"
}

rm -f "$BENCH/sizes.tsv" "$BENCH/verified.txt" "$BENCH/sha.txt"

# ---------------------------------------------------------------------------------------------
# Machine

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, flags: $(grep -o -w -E 'sha_ni|avx2|avx512f|pclmulqdq' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "ram: $(free -m | awk '/Mem:/ {print $2}') MiB"
  echo "kernel: $(uname -sr)"
  echo "rustc: $(rustc --version)"
  echo "file system: $(df -T "$BENCH" | awk 'NR==2 {print $2 " on " $1}')"
  echo "load at start: $(cat /proc/loadavg)"
} >"$BENCH/machine.txt"
cat "$BENCH/machine.txt" >&2

# ---------------------------------------------------------------------------------------------
# Runs

# The gate: `check --actor publisher` on branch pull-request against main. The base has
# GATE_APPS apps of 2 versions (1 KiB wasm), each with its own package.toml; the pull request
# adds a README.md to each and GATE_APPS new apps (settings, README.md, 2 versions): with the
# default 10,000, 50,000 changed files of which 20,000 bundles to verify. Packed, as a clone
# from GitHub is.
if [[ -z ${SKIP_GATE:-} ]]; then
  gate_dir=$BENCH/gate
  gate_params="--apps ${GATE_APPS:-10000} --versions 2 --wasm-bytes 1K --owner publisher --seed 1"
  if [[ ! -f $gate_dir/.params ]] || [[ $(cat "$gate_dir/.params") != "$gate_params" ]]; then
    say "generating the gate's corpus ($gate_params)"
    # shellcheck disable=SC2086
    "$BIN/default/bench_corpus" "$gate_dir" $gate_params >&2
    # shellcheck disable=SC2086
    "$BIN/default/bench_corpus" "$gate_dir" $gate_params --pull-request "${GATE_APPS:-10000}" >&2
    git -C "$gate_dir" repack -adq
    echo "$gate_params" >"$gate_dir/.params"
  fi
  say "the gate: $(git -C "$gate_dir" diff --shortstat main pull-request)"
  gate_tools=(default)
  [[ -n ${BASELINE_REV:-} ]] && gate_tools=(baseline default)
  for r in $(seq "$REPS"); do
    for v in "${gate_tools[@]}"; do
      measure gate "check/$v" "$r" "$BIN/$v/mpk-registry" check "$gate_dir/registry-src" \
        --base main --head pull-request --actor publisher
    done
  done
  {
    echo "gate: check --actor publisher, $(git -C "$gate_dir" diff --shortstat main pull-request | sed 's/^ *//'); $REPS interleaved repetitions; median (min) wall seconds, median CPU seconds, peak RSS"
    echo
    echo "| tool | wall s | CPU s | peak RSS MiB | load |"
    echo "|---|---|---|---|---|"
    # A column of the tool's rows, or (with "cpu") user + system, sorted; and the median.
    gate_column() {
      awk -F'\t' -v s="check/$1" -v c="$2" '$1=="gate" && $2==s {print (c == "cpu" ? $6 + $7 : $c)}' "$TSV" | sort -n
    }
    gate_median() { awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    for v in "${gate_tools[@]}"; do
      wall=$(gate_column "$v" 4 | gate_median)
      low=$(gate_column "$v" 4 | head -1)
      cpu=$(gate_column "$v" cpu | gate_median)
      rss=$(gate_column "$v" 5 | tail -1)
      loads=$(gate_column "$v" 8 | paste -sd, -)
      name="this tree"
      [[ $v == baseline ]] && name=$BASELINE_REV
      echo "| $name | $wall ($low) | $cpu | $rss | $loads |"
    done
  } >"$BENCH/gate.md"
  cat "$BENCH/gate.md" >&2
  [[ -n ${GATE_ONLY:-} ]] && exit 0
fi

# Smaller sizes (C10K_APPS=20 ...) only for trying the script out.
corpus c10k "${C10K_APPS:-1000}" 10 65536
[[ -z ${SKIP_100K:-} ]] && corpus c100k "${C100K_APPS:-10000}" 10 300
[[ -z ${SKIP_HUGE:-} ]] && corpus one-400m 1 1 "${HUGE_BYTES:-419430400}" && corpus one-small 1 1 300

if [[ -n ${BASELINE_REV:-} ]]; then
  say "10,000 bundles: this tree against $BASELINE_REV"
  for r in $(seq "$REPS"); do
    for v in baseline default; do
      build_cold c10k "cold/$v" "$r" "$BIN/$v"
      AGAIN_BIN=$BIN/$v build_again c10k "warm/$v" "$r" 0
    done
  done
  {
    echo "c10k, $REPS interleaved repetitions each; median seconds; ratio = this tree / $BASELINE_REV"
    echo
    echo "| step | $BASELINE_REV | this tree | ratio |"
    echo "|---|---|---|---|"
    for step in cold warm; do
      b=$(awk -F'\t' -v s="$step/baseline" '$1=="c10k" && $2==s {print $4}' "$TSV" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      d=$(awk -F'\t' -v s="$step/default" '$1=="c10k" && $2==s {print $4}' "$TSV" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      echo "| $step | $b | $d | $(echo "scale=3; $d / $b" | bc -l) |"
    done
  } >"$BENCH/baseline.md"
  cat "$BENCH/baseline.md" >&2
  [[ -n ${BASELINE_ONLY:-} ]] && exit 0
fi

say "10,000 bundles"
suite c10k "$REPS"

if [[ -z ${SKIP_VARIANTS:-} ]]; then
  say "backends (10,000 bundles)"
  # Interleaved, so drift in the machine's load hits every variant alike.
  ALL=(default "${VARIANTS[@]}")
  for r in $(seq $((REPS > 5 ? REPS : 5))); do
    for v in "${ALL[@]}"; do floor c10k "floor/$v" "$r" "$BIN/$v"; done
    for v in "${ALL[@]}"; do floor c10k "read+gunzip/$v" "$r" "$BIN/$v" --no-sha; done
  done
  for r in $(seq "$REPS"); do
    for v in "${ALL[@]}"; do build_cold c10k "cold/$v" "$r" "$BIN/$v"; done
  done
  # The same on data deflate can shrink (16 byte values: LZ77 matches and 4-bit Huffman codes),
  # where the inflate backend matters more than on incompressible wasm.
  corpus c1k-a16 100 10 65536 16
  "$BIN/default/bench_floor" "$BENCH/c1k-a16/registry-src" >/dev/null
  for r in $(seq $((REPS > 5 ? REPS : 5))); do
    for v in "${ALL[@]}"; do floor c1k-a16 "floor/$v" "$r" "$BIN/$v"; done
    for v in "${ALL[@]}"; do floor c1k-a16 "read+gunzip/$v" "$r" "$BIN/$v" --no-sha; done
  done
  for r in $(seq "$REPS"); do
    for v in "${ALL[@]}"; do build_cold c1k-a16 "cold/$v" "$r" "$BIN/$v"; done
  done
  for r in 1 2 3; do
    for v in default soft-sha; do
      "$BIN/$v/bench_floor" --sha-only 1G | tee -a "$BENCH/sha.txt" >&2
    done
  done
fi

echo "page cache: warm for every step unless the step says cold-page-cache" >>"$BENCH/machine.txt"

empty_trash
if [[ -z ${SKIP_HUGE:-} ]]; then
  say "one bundle: 400 MiB wasm vs 300 bytes"
  for c in one-small one-400m; do
    "$BIN/default/bench_floor" "$BENCH/$c/registry-src" >/dev/null
    for r in $(seq 2); do build_cold "$c" cold "$r"; done
    floor "$c" floor 1
  done
fi

# On disk (DISK_DIR=target/bench-disk): the 10k corpus, cloned from the one above, with the
# page cache warm and dropped. A site is removed right after the step that made it, before
# its blocks reach the disk: on file systems mounted with `discard`, deleting files already
# written back costs milliseconds each, which the last step shows on purpose.
if [[ -n ${DISK_DIR:-} ]]; then
  say "10,000 bundles on disk ($DISK_DIR)"
  mkdir -p "$DISK_DIR"
  DISK_DIR=$(cd "$DISK_DIR" && pwd)
  dd=$DISK_DIR/c10k
  if [[ ! -f $dd/.params ]] || [[ $(cat "$dd/.params") != "$(cat "$BENCH/c10k/.params")" ]]; then
    rm -rf "$dd"
    git clone -q --no-hardlinks "$BENCH/c10k" "$dd"
    cp "$BENCH/c10k/.params" "$dd/.params"
  fi
  git -C "$dd" reset -q --hard "$(sed -n 2p "$dd/.params")"
  disk_build() { # STEP REP
    measure c10k-disk "$1" "$2" "$BIN/default/mpk-registry" build "$dd/registry-src" \
      -o "$dd/out" --cache "$dd/cache" -v
  }
  disk_fresh() { rm -rf "$dd/out" "$dd/cache"; git -C "$dd" update-index -q --refresh >/dev/null || true; }
  disk_fresh
  "$BIN/default/bench_floor" "$dd/registry-src" >/dev/null
  for r in 1 2 3; do measure c10k-disk floor "$r" "$BIN/default/bench_floor" "$dd/registry-src"; done
  for r in 1 2; do disk_fresh; disk_build cold "$r"; done
  disk_build warm 1
  if can_drop; then
    for r in 1 2; do
      drop_caches
      measure c10k-disk floor/cold-page-cache "$r" "$BIN/default/bench_floor" "$dd/registry-src"
      disk_fresh
      drop_caches
      disk_build cold/cold-page-cache "$r"
    done
    echo "drop_caches: yes (c10k-disk)" >>"$BENCH/machine.txt"
  fi
  sync
  disk_build warm/after-sync 1
  t0=$(date +%s%N)
  disk_fresh
  echo "c10k-disk: removing the last site and cache (written back) took $(( ($(date +%s%N) - t0) / 1000000 )) ms" >>"$BENCH/machine.txt"
fi

if [[ -z ${SKIP_100K:-} ]]; then
  say "100,000 bundles"
  suite c100k "$REPS_100K"
fi

echo "load at end: $(cat /proc/loadavg)" >>"$BENCH/machine.txt"
empty_trash
echo "removing the sites and caches of earlier steps (not timed as a step) took $TRASH_MS ms in all" >>"$BENCH/machine.txt"
python3 "$ROOT/bench/report.py" "$BENCH" >"$BENCH/results.md"
say "wrote $BENCH/results.md"
cat "$BENCH/results.md"
