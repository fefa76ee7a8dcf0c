"""Train the domain classifiers the test suite uses into tests/data/cache/extractors (run from the
repository root: ``python tests/data/cache/make.py``), so a test session starts with them cached
instead of spending ~60 s training them (conftest.py copies them into its isolated cache).

They are exactly what ganbench trains and caches on first use (same code, data, seed, key): the
per-channel classifier of the stacked-mnist set the tests build (size=1000, test_size=2000). (The
classifiers of the embedded sets at their default options ship with the package: see
ganbench_builtins/extractors/make_weights.py.) When CLASSIFIER_VERSION or the data change, their keys no longer match,
tests/test_conditional.py::test_the_shipped_classifier_cache_is_current fails, and this script
refreshes them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="ganbench-cache-"))
    os.environ["GANBENCH_CACHE"] = str(cache)
    import torch

    from ganbench.evaluation import EvalCache, EvalContext
    from ganbench.plugins import load_plugins

    registry = load_plugins().registry
    for data in (registry.get("dataset", "stacked-mnist").load(root=None, size=1000, test_size=2000),):
        EvalContext(data=data, device=torch.device("cpu"), n_samples=1, registry=registry, cache=EvalCache(),
                    extractor_name="domain").extractor()
    out = HERE / "extractors"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(cache / "extractors", out)
    for path in sorted(out.iterdir()):
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
