"""docs/plugins.md is checked against the code: every signature of its reference is the code's, every
plugin-side signature it gives is one the core really calls, and the walkthrough's code blocks are
the example distribution's files."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import textwrap
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "plugins.md").read_text()
EXAMPLE = ROOT / "plugins" / "ganbench-relativistic"


def _block(tag: str) -> list[str]:
    return re.search(rf"```{tag}\n(.*?)```", DOC, re.S).group(1).strip().splitlines()


def _params(text: str) -> ast.arguments:
    return ast.parse(f"def f({text}): pass").body[0].args


def _documented(args: ast.arguments) -> list[tuple[str, str, ast.expr | None]]:
    """(name, kind, default) of each parameter of a parsed signature."""
    out = []
    pos = args.posonlyargs + args.args
    defaults = [None] * (len(pos) - len(args.defaults)) + list(args.defaults)
    out += [(a.arg, "POSITIONAL_OR_KEYWORD", d) for a, d in zip(pos, defaults, strict=True)]
    if args.vararg:
        out.append((args.vararg.arg, "VAR_POSITIONAL", None))
    out += [(a.arg, "KEYWORD_ONLY", d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.kwarg:
        out.append((args.kwarg.arg, "VAR_KEYWORD", None))
    return out


def _resolve(dotted: str):
    """The object a dotted path names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _default_matches(doc: ast.expr, param: inspect.Parameter, owner) -> bool:
    actual = param.default
    if dataclasses.is_dataclass(owner):  # a mutable default lives in the field's factory
        field = {f.name: f for f in dataclasses.fields(owner)}.get(param.name)
        if field is not None and field.default_factory is not dataclasses.MISSING:
            actual = field.default_factory()
    if isinstance(doc, ast.Name):  # a function or an object named by its name (always_supported, cpu)
        return getattr(actual, "__name__", None) == doc.id or str(actual) == doc.id
    return actual == ast.literal_eval(doc)


REFERENCE = _block("signatures")


@pytest.mark.parametrize("line", REFERENCE, ids=[ln.split("(")[0] for ln in REFERENCE])
def test_every_signature_of_the_reference_is_the_codes(line):
    dotted, _, params = line.partition("(")
    if not params:  # an attribute, e.g. EvalContext.data
        owner_path, _, attr = dotted.rpartition(".")
        owner = _resolve(owner_path)
        fields = {f.name for f in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else set()
        assert attr in fields or isinstance(getattr(owner, attr, None), property), line
        return
    obj = _resolve(dotted)
    signature = inspect.signature(obj)
    documented = _documented(_params(params.removesuffix(")")))
    actual = [(p.name, p.kind.name) for p in signature.parameters.values()]
    assert [(n, k) for n, k, _ in documented] == actual, f"{dotted}: documented {documented}, code {actual}"
    for name, _, default in documented:
        param = signature.parameters[name]
        if default is None:
            assert param.default is inspect.Parameter.empty or param.kind.name.startswith("VAR"), \
                f"{dotted}: {name} has a default in the code ({param.default!r}) that the guide does not show"
        else:
            assert _default_matches(default, param, obj), f"{dotted}: {name}'s default is {param.default!r}"


CONTRACTS = {line.split("(")[0]: line.split("(", 1)[1].removesuffix(")") for line in _block("contracts")}


def _function(name: str, params: str, body: str):
    """A function with exactly the documented parameters, whose body sees them by name."""
    namespace: dict = {"torch": torch, "F": torch.nn.functional, "calls": CALLS}
    ident = name.replace(".", "_")
    exec(f"def {ident}({params}):\n    calls.add({name!r})\n{textwrap.indent(body, '    ')}", namespace)
    return namespace[ident]


CALLS: set[str] = set()
BODIES = {
    "model.build": "from ganbench_builtins.models.nets.vanilla import build\nreturn build(info, latent_dim, hidden=16)",
    "model.supports": "return None",
    "loss.d_loss": "return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()",
    "loss.g_loss": "return F.softplus(-(d_fake - d_real)).mean()",
    "loss.penalty": "eps = torch.rand(len(real), 1, generator=generator).to(real.device)\n"
                    "x = (eps * real + (1 - eps) * fake).requires_grad_(True)\n"
                    "(g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)\n"
                    "return options['lambda'] * ((g.norm(dim=1) - 1) ** 2).mean()",
    "loss.after_d_step": "return None",
    "loss.penalty_interval": "return None",
    "dataset.load": "from ganbench.plugins import load_plugins\n"
                    "return load_plugins().registry.get('dataset', 'ring8').load(root=root, size=options['size'])",
    "dataset.missing": "return None",
    "metric.compute": "x = ctx.generated(50)\nf = ctx.generated_features(50)\nr = ctx.real_features(50)\n"
                      "return {'documented': float((f.mean(0) - r.mean(0)).norm()), 'n': len(x), "
                      "'steps_seen': len(ctx.history)}",
    "metric.supports": "return None",
    "extractor.build": "from ganbench.evaluation import FeatureExtractor\nprogress('documented extractor', 1, 1)\n"
                       "return FeatureExtractor('documented', 'v1', 2, lambda x: x, device)",
    "extractor.supports": "return None",
    "extractor.auto": "return False",
}


def test_every_documented_plugin_signature_is_what_the_core_calls(tmp_path):
    import ganbench
    from ganbench import hookimpl
    from ganbench.options import Option
    from ganbench.specs import DatasetSpec, ExtractorSpec, LossSpec, MetricSpec, ModelSpec

    assert set(CONTRACTS) == set(BODIES)
    fn = {name: _function(name, params, BODIES[name]) for name, params in CONTRACTS.items()}
    CALLS.clear()

    @hookimpl
    def ganbench_register_models(registry):
        registry.add_model(ModelSpec("documented", fn["model.build"], supports=fn["model.supports"]))

    @hookimpl
    def ganbench_register_losses(registry):
        registry.add_loss(LossSpec("documented", fn["loss.d_loss"], fn["loss.g_loss"], penalty=fn["loss.penalty"],
                                   after_d_step=fn["loss.after_d_step"], options={"lambda": Option(0.1)},
                                   penalty_interval=fn["loss.penalty_interval"]))

    @hookimpl
    def ganbench_register_datasets(registry):
        registry.add_dataset(DatasetSpec("documented", fn["dataset.load"], missing=fn["dataset.missing"],
                                         options={"size": Option(256)}))

    @hookimpl
    def ganbench_register_metrics(registry):
        registry.add_metric(MetricSpec("documented", fn["metric.compute"], "documented", False,
                                       supports=fn["metric.supports"], features=True))

    @hookimpl
    def ganbench_register_extractors(registry):
        registry.add_extractor(ExtractorSpec("documented", fn["extractor.build"], supports=fn["extractor.supports"],
                                             auto=fn["extractor.auto"]))

    plugin = types.ModuleType("documented")
    for hook in (ganbench_register_models, ganbench_register_losses, ganbench_register_datasets,
                 ganbench_register_metrics, ganbench_register_extractors):
        setattr(plugin, hook.__name__, hook)
    df = ganbench.run(models="documented", losses="documented", datasets="documented", metrics="documented",
                      extractor="documented", seeds=[0], settings={"steps": 2, "batch_size": 16, "eval_samples": 50},
                      device="cpu", out=tmp_path, plugins=[plugin])
    row = df.iloc[0]
    assert row["status"] == "ok", row["message"]
    assert row["n"] == 50 and row["steps_seen"] == 0 and row["documented"] >= 0
    assert CALLS == set(CONTRACTS) - {"dataset.missing", "extractor.auto"}, sorted(set(CONTRACTS) - CALLS)
    # the other two, as the core calls them: 'ganbench list datasets' and --extractor auto
    from ganbench.cli import _describe_dataset
    from ganbench.evaluation import auto_extractor
    from ganbench.plugins import load_plugins

    registry = load_plugins(extra=[plugin]).registry
    assert _describe_dataset(registry.get("dataset", "documented"), tmp_path)[-1] == "yes"
    assert auto_extractor(registry, registry.get("dataset", "ring8").load(size=64).info) == "raw"
    assert CALLS == set(CONTRACTS)


def _block_after(marker: str) -> str:
    """The first Python code block after ``marker`` in the guide."""
    return re.search(r"```python\n(.*?)```", DOC.split(marker, 1)[1], re.S).group(1)


def test_the_walkthrough_shows_the_example_distributions_real_code():
    for name in ("ganbench_relativistic/losses.py", "ganbench_relativistic/models.py"):
        block = _block_after(f"(`{name}`, the whole file)")
        assert block == (EXAMPLE / name).read_text(), f"docs/plugins.md's {name} is not the file's code"
    # the pyproject block: every line is one of the file's, in its order
    toml = re.search(r"```toml\n(.*?)```", DOC.split("## Walkthrough", 1)[1], re.S).group(1).splitlines()
    lines = [ln for ln in (EXAMPLE / "pyproject.toml").read_text().splitlines()]
    position = 0
    for line in (ln for ln in toml if ln.strip()):
        position = lines.index(line, position) + 1


def test_the_example_distribution_enables_the_contract_tests_where_pytest_reads_them():
    """pytest reads ``pytest_plugins`` from a conftest.py, not from [tool.pytest.ini_options]."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    ini = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "pytest_plugins" not in ini
    assert 'pytest_plugins = ["ganbench.testing"]' in (EXAMPLE / "tests" / "conftest.py").read_text()
    assert "pip install 'ganbench[test]'" in DOC  # the guide says to install pytest first
