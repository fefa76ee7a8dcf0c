# The set-up the GPU scripts share (benchmarks/gpu_check.sh, gpu_models.sh, gpu_protocols.sh, gpu_session.sh),
# sourced by them with $out (the output folder), $report and $wheels (a folder of wheels, or empty) set. It
# installs ganbench without dependencies and without build isolation, checks by importing what ganbench needs
# and installs what is missing from $wheels only (never from an index: pip is told there is none). A missing
# distribution named in $OPTIONAL (default torch-fidelity: only the inception extractor needs it, and no GPU
# script uses that) is a line in $setup_note, not a stop; on any other failure it writes why to $report and
# exits. Wheels go to /tmp/site (on PYTHONPATH), so the machine's own environment is only written by the
# editable install of ganbench. `ganbench` is on PATH afterwards, as the installed command or, where pip
# put that outside PATH, as a wrapper of `python3 -m ganbench`.
#
# Deadlines: $deadline (epoch seconds; GPU_DEADLINE, else now + $default_seconds) and `cap SECONDS [RESERVE]`,
# the smaller of SECONDS and what is left before the deadline less RESERVE (≤ 0: no time for that step).
export PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
deadline="${GPU_DEADLINE:-$(( $(date +%s) + ${default_seconds:-470} ))}"
cap() { local left=$(( deadline - $(date +%s) - ${2:-0} )); echo $(( $1 < left ? $1 : left )); }
setup_note=""
if [ -z "${GANBENCH_GPU_SETUP_DONE:-}" ]; then  # a script run by gpu_session.sh finds it done
  if ! python3 -m pip install -q --no-deps --no-build-isolation -e . > "$out/install.txt" 2>&1; then
    # an externally managed Python (PEP 668) refuses an editable install; one into a folder of its own is exempt
    # (its dist-info keeps the plugin entry points)
    site=/tmp/ganbench-site
    rm -rf "$site"
    python3 -m pip install -q --no-deps --no-build-isolation --target "$site" . >> "$out/install.txt" 2>&1 \
      || { { echo "installing ganbench failed:"; cat "$out/install.txt"; } | tee "$report"; exit 1; }
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PATH="$site/bin:$PATH"
    setup_note+="installed into $site (the editable install was refused). "
  fi
  missing=$(python3 - <<'PY'
import importlib.util
needed = {"torch": "torch", "torchvision": "torchvision", "torchmetrics": "torchmetrics", "pluggy": "pluggy",
          "click": "click", "pandas": "pandas", "rich": "rich", "scipy": "scipy", "sklearn": "scikit-learn",
          "matplotlib": "matplotlib", "PIL": "pillow", "numpy": "numpy", "mlxtend": "mlxtend",
          "torch_fidelity": "torch-fidelity", "pytest": "pytest"}
print(" ".join(dist for module, dist in needed.items() if importlib.util.find_spec(module) is None))
PY
)
  optional=" ${OPTIONAL:-torch-fidelity} "
  required="" absent=""  # to install from $wheels; optional ones without a wheel there
  for dist in $missing; do
    if [[ "$optional" == *" $dist "* ]] && ! compgen -G "${wheels:-/nonexistent}/${dist//-/_}-*.whl" > /dev/null; then
      absent+=" $dist"
    else
      required+=" $dist"
    fi
  done
  if [ -n "$required" ]; then
    [ -n "$wheels" ] || { echo "missing:$required; pass a WHEELS_DIR holding their wheels" | tee "$report"; exit 1; }
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site --find-links "$wheels" $required \
      >> "$out/install.txt" 2>&1 || { echo "could not install$required from $wheels" | tee "$report"; exit 1; }
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    setup_note+="installed from $wheels:$required. "
  fi
  [ -n "$absent" ] && setup_note+="not installed (not needed here):$absent. "
  if ! command -v ganbench > /dev/null; then
    mkdir -p /tmp/ganbench-bin
    printf '#!/bin/sh\nexec python3 -m ganbench "$@"\n' > /tmp/ganbench-bin/ganbench
    chmod +x /tmp/ganbench-bin/ganbench
    export PATH="/tmp/ganbench-bin:$PATH"
  fi
  export GANBENCH_GPU_SETUP_NOTE="$setup_note"
else
  setup_note="${GANBENCH_GPU_SETUP_NOTE:-}"
fi
