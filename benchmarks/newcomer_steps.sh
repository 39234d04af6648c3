#!/bin/bash
# The newcomer's steps of issue 18, timed, on one checkout's code (issue 18's closing note).
#   benchmarks/newcomer_steps.sh SRC_DIR DATA_DIR LOG
# DATA_DIR holds images/ (PNG files), by_class/ (the same files in class folders),
# captions.txt (one line per image, in natural order) and classes.txt; each run gets a
# fresh embedding cache and scratch folder. The 598 clip-art drawings used for the
# README's costs: 75 random PNGs from each of 8 openclipart-png categories, captions from
# their file names (two renders of over 40 megapixels swapped for small ones).
SRC=$1; DATA=$2; LOG=$3
export PYTHONPATH=$SRC CSA_CACHE_DIR=$(mktemp -d /tmp/newcomer-cache.XXXX)
PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
CSA="$PY -c 'import sys; from csa.cli import main; sys.argv[0]=\"csa\"; main()'"
W=$(mktemp -d /tmp/newcomer-work.XXXX); cp -al "$DATA"/. $W/; cd $W
step() { local name=$1; shift; local t0=$(date +%s.%N); eval "$CSA $*" > out.txt 2>&1; local rc=$?; local t1=$(date +%s.%N)
  printf '%s\t%.1f s\trc=%s\t%s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$rc" "$(grep -v '^\s*$' out.txt | tail -1 | cut -c1-150)" >> $LOG; }
echo "== $(date -u +%T) src=$SRC commit=$(git -C $SRC/.. rev-parse --short HEAD)" >> $LOG
cp captions.txt images/stray.txt
step "fit: stray .txt in folder (to error)" fit images/ captions.txt --encoder-a efficientnet-lite0 --encoder-b minilm-l6 -o m.csa
rm images/stray.txt; head -n 597 captions.txt > short.txt
step "fit: 598 images, 597 captions (to error)" fit images/ short.txt --encoder-a efficientnet-lite0 --encoder-b minilm-l6 -o m.csa
step "fit cold (encode 598 + 598, fit)" fit images/ captions.txt --encoder-a efficientnet-lite0 --encoder-b minilm-l6 -o m.csa
step "fit again (cache warm)" fit images/ captions.txt --encoder-a efficientnet-lite0 --encoder-b minilm-l6 -o m2.csa
step "classify folder" classify -m m.csa images/ --class-names classes.txt
step "eval zero-shot, class-folder layout" eval zero-shot -m m.csa --inputs by_class/ --class-names classes.txt
step "eval retrieval, 598 vs 597 captions (to error)" eval retrieval -m m.csa images/ short.txt
step "eval retrieval" eval retrieval -m m.csa images/ captions.txt
echo "model file: $(du -k m.csa | cut -f1) KiB" >> $LOG
rm -rf $W $CSA_CACHE_DIR
