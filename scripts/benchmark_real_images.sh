#!/usr/bin/env bash
# The real-image benchmark on ../shared/realcorpus and ../shared/realdata (real images,
# simulated timelines), with effnet-lite0 (works offline; not CLIP) and a persistent cache,
# so that a second run encodes nothing.
#
#   scripts/benchmark_real_images.sh [OUT_DIR] [extra slopscore benchmark options...]
#
# OUT_DIR defaults to test-artifacts/benchmark-real-images (ignored by git). The embedding cache
# (and the platform-processed copies) go to $SLOPSCORE_CACHE_DIR, default ~/.cache/slopscore/embeddings.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-test-artifacts/benchmark-real-images}"
shift $(( $# > 0 ? 1 : 0 ))
shared="${SLOPSCORE_SHARED:-../shared}"
cache="${SLOPSCORE_CACHE_DIR:-$HOME/.cache/slopscore/embeddings}"
slopscore="${SLOPSCORE:-.venv/bin/slopscore}"
manifests=("$shared/realcorpus/manifest.csv" "$shared/realdata/manifest.csv")
for manifest in "${manifests[@]}"; do
    [[ -f "$manifest" ]] || { echo "error: corpus manifest $manifest not found" >&2; exit 2; }
done
export COLUMNS="${COLUMNS:-200}"  # room for the comparison table when the output is not a terminal
started=$(date +%s)
"$slopscore" benchmark "${manifests[@]}" --out "$out" --backbone effnet-lite0 --cache-dir "$cache" \
    --mlflow-store "$out/mlruns" "$@"
echo "wall time: $(( $(date +%s) - started )) s"
echo "outputs (real images, simulated timelines):"
echo "  report   $out/benchmark.html"
echo "  tables   $out/metrics.csv, $out/items.parquet (README.txt beside them)"
echo "  MLflow   $out/mlruns (experiment slopscore-benchmark)"
echo "  cache    $cache"
