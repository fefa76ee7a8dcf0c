# The set-up the GPU scripts share (benchmarks/gpu_check.sh, gpu_models.sh, gpu_protocols.sh), sourced by them with
# $out (the output folder) and $wheels (a folder of wheels, or empty) set: it installs ganbench without
# dependencies and without build isolation, checks by importing what ganbench needs and installs what is
# missing from $wheels only (never from an index); on failure it writes why to $report and exits.
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . > "$out/install.txt" 2>&1 \
  || { { echo "installing ganbench failed:"; cat "$out/install.txt"; } | tee "$report"; exit 1; }
missing=$(python3 - <<'PY'
import importlib.util
needed = {"torch": "torch", "torchvision": "torchvision", "torchmetrics": "torchmetrics", "pluggy": "pluggy",
          "click": "click", "pandas": "pandas", "rich": "rich", "scipy": "scipy", "sklearn": "scikit-learn",
          "matplotlib": "matplotlib", "PIL": "pillow", "numpy": "numpy", "mlxtend": "mlxtend",
          "torch_fidelity": "torch-fidelity", "pytest": "pytest"}
print(" ".join(dist for module, dist in needed.items() if importlib.util.find_spec(module) is None))
PY
)
if [ -n "$missing" ]; then
  [ -n "$wheels" ] || { echo "missing: $missing; pass a WHEELS_DIR holding their wheels" | tee "$report"; exit 1; }
  python3 -m pip install -q --no-index --no-deps --find-links "$wheels" $missing >> "$out/install.txt" 2>&1 \
    || { echo "could not install $missing from $wheels" | tee "$report"; exit 1; }
fi
