"""Looking inside trained generators (issue 20): ganbench.load_generator and ``ganbench samples``
(seed grid, slerp, class sweep, truncation, latent arithmetic) through click's runner and a real
subprocess; bad input is one line and exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganbench
from ganbench.cli import cli
from ganbench.errors import UsageError
from ganbench.generators import attribute_vector, slerp


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples") / "run"
    ganbench.run(models="cgan,dcgan", losses="nonsat", datasets="mnist5k", seeds="0", metrics="", steps=4,
                 settings={"batch_size": 16, "sample_every": 0, "g_ema": 0.2},
                 model_options={"cgan": {"width": 8}, "dcgan": {"width": 8}}, out=out)
    return out


def _invoke(*args):
    return CliRunner().invoke(cli, ["samples", *map(str, args)])


def test_load_generator_rebuilds_the_saved_networks(run_dir):
    cell = run_dir / "cells" / "mnist5k__cgan__nonsat__s0"
    gen = ganbench.load_generator(cell)
    assert (gen.model, gen.conditional, gen.num_classes, gen.latent_dim, gen.ema) == ("cgan", True, 10, 100, True)
    assert gen.model_options["width"] == 8 and gen.info.shape == (1, 28, 28)
    saved = torch.load(cell / "generator.pt", weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in gen.G.state_dict().items())
    raw = ganbench.load_generator(cell, raw=True)
    assert not raw.ema and any(not torch.equal(v, saved[k]) for k, v in raw.G.state_dict().items())
    z, y = gen.noise(6, seed=1), torch.arange(6)
    x = gen.sample(z, y)
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, gen.sample(z, y))  # eval mode: deterministic
    with pytest.raises(UsageError, match="give the labels"):
        gen.sample(z)
    desc = json.loads((cell / "networks.json").read_text())
    assert desc["generator"] == "ema" and desc["data"]["num_classes"] == 10 and desc["condition"] == "class"


def test_a_cell_written_before_networks_json_is_rebuilt_from_its_config(run_dir, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(run_dir, copy)
    cell = copy / "cells" / "mnist5k__dcgan__nonsat__s0"
    (cell / "networks.json").unlink()
    gen = ganbench.load_generator(cell)
    assert gen.model == "dcgan" and not gen.conditional and gen.ema  # hp g_ema from config.json
    assert gen.sample(gen.noise(2)).shape == (2, 1, 28, 28)
    with pytest.raises(UsageError, match="not a cell"):
        ganbench.load_generator(copy / "cells" / "nothing-here")


@pytest.mark.parametrize("mode, rows, cols", [("grid", 3, 8), ("interpolate", 2, 5), ("classes", 2, 10),
                                               ("truncation", 2, 5), ("arithmetic", 2, 5)])
def test_each_mode_writes_a_picture_of_its_layout(run_dir, tmp_path, mode, rows, cols):
    res = _invoke(run_dir, "--cell", "mnist5k__cgan*", "--mode", mode, "-n", rows, "--steps", cols, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    path = tmp_path / f"mnist5k__cgan__nonsat__s0-{mode}.png"
    assert res.output.startswith(f"{path}: ") and "(EMA generator)" in res.output
    width, height = Image.open(path).size
    assert (width, height) == (cols * 30 + 2, rows * 30 + 2)  # 28 px tiles, 2 px padding (make_grid)
    assert not list(tmp_path.glob(".*ganbench-tmp"))


def test_a_class_sweep_over_a_pattern_draws_only_the_conditional_cells(run_dir, tmp_path):
    res = _invoke(run_dir, "--mode", "classes", "-n", 1, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert [p.name for p in tmp_path.glob("*.png")] == ["mnist5k__cgan__nonsat__s0-classes.png"]


def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path):
    failed = tmp_path / "run"
    shutil.copytree(run_dir, failed)
    result = failed / "cells" / "mnist5k__dcgan__nonsat__s0" / "result.json"
    row = json.loads(result.read_text())
    row.update(status="failed", failure="error", message="model 'dcgan' raised in G forward at step 3")
    result.write_text(json.dumps(row))
    (result.parent / "generator.pt").unlink()
    for args, message in (
        ((run_dir, "--cell", "nope"), f"no cell of {run_dir} matches 'nope'; its cells: mnist5k__cgan__nonsat__s0, "
                                      "mnist5k__dcgan__nonsat__s0"),
        ((failed, "--cell", "mnist5k__dcgan__nonsat__s0"), "cell mnist5k__dcgan__nonsat__s0 did not train (status "
                                                          "failed: model 'dcgan' raised in G forward at step 3): it "
                                                          "has no generator"),
        ((run_dir, "--cell", "mnist5k__dcgan__nonsat__s0", "--class", 3),
         "--class 3 needs a conditional model; the cells chosen train dcgan"),
        ((run_dir, "--cell", "mnist5k__cgan__nonsat__s0", "--class", 12),
         "--class 12 is not a class of mnist5k (0 to 9)"),
        ((run_dir, "--mode", "arithmetic", "--attribute", "bold"), "--attribute 'bold': expected ink or class:K"),
        ((run_dir, "--device", "tpu"), "--device 'tpu' is not a device; expected auto|cpu|cuda|cuda:N|mps"),
        ((run_dir, "--mode", "classes", "--class", 1), "--class does not apply to a class sweep (--mode classes "
                                                       "draws every class)"),
        ((run_dir, "--truncation", "nan"), "truncation must be a number > 0, got nan"),
        ((tmp_path / "nothing", "--mode", "grid"), f"{tmp_path / 'nothing'} is not a ganbench run directory (no cells/ "
                                                   "folder)"),
    ):
        res = _invoke(*args)
        assert res.exit_code == 2, (args, res.output)
        assert res.output.strip().splitlines()[-1] == f"Error: {message}", res.output
        assert "Traceback" not in res.output


def test_samples_through_a_real_subprocess(run_dir, tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganbench", "samples", str(run_dir), "--cell", "mnist5k__dcgan*",
                          "--truncation", "1.0", "-n", "1", "-o", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "mnist5k__dcgan__nonsat__s0-grid.png").is_file()


def test_slerp_truncation_and_the_attribute_vector():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 16, generator=gen), torch.randn(4, 16, generator=gen)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)  # equal norms: slerp keeps them
    path = slerp(a, b, torch.linspace(0, 1, 7))
    assert torch.allclose(path[:, 0], a, atol=1e-5) and torch.allclose(path[:, -1], b, atol=1e-5)
    assert torch.allclose(path.norm(dim=-1), a.norm(dim=1, keepdim=True).expand(-1, 7), rtol=1e-5)
    assert torch.allclose(slerp(a, a, torch.tensor([0.5]))[:, 0], a)  # parallel: the linear path
    # the attribute vector points from the samples without the attribute to those with it
    z = torch.randn(2000, 8, generator=gen)
    v, n = attribute_vector(z, (z[:, 2] > 0).float())
    assert n > 900 and v[2] > 1.4 and v.abs()[[0, 1, 3, 4, 5, 6, 7]].max() < 0.15  # 2·E[z | z > 0] = 1.6
    graded, _ = attribute_vector(z, z[:, 5])  # top vs bottom quarter of a graded score
    assert graded.argmax() == 5


def test_truncated_noise_stays_inside(run_dir):
    gen = ganbench.load_generator(run_dir / "cells" / "mnist5k__dcgan__nonsat__s0")
    z = gen.noise(500, seed=3, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2
    assert torch.equal(gen.noise(5, seed=3), gen.noise(5, seed=3))
    with pytest.raises(UsageError, match="truncation must be a number > 0"):
        gen.noise(2, truncation=0)


def test_reports_show_a_conditional_cell_as_its_class_grid(run_dir, tmp_path, plugins):
    """The report's sample figure draws a conditional cell with the code of 'ganbench samples --mode
    classes' (pixel for pixel the same picture), one column per asked class, labelled; an
    unconditional cell keeps its last training picture."""
    import numpy as np

    from ganbench import plots
    from ganbench.report import load_runs

    rows, _ = load_runs([run_dir])
    cgan = rows[rows["model"] == "cgan"].iloc[0]
    image, names, width = plots.class_grid(cgan, plugins.registry)
    assert names == [str(k) for k in range(10)] and width == 30
    res = _invoke(run_dir, "--cell", "mnist5k__cgan*", "--mode", "classes", "-n", plots.CLASS_GRID_ROWS, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    png = np.asarray(Image.open(tmp_path / "mnist5k__cgan__nonsat__s0-classes.png").convert("RGB"))
    assert np.array_equal(png, (image * 255 + 0.5).clip(0, 255).astype(np.uint8))
    assert plots.class_grid(rows[rows["model"] == "dcgan"].iloc[0], plugins.registry) is None
    fig = plots.sample_grids(rows, "mnist5k", ["model", "loss"], [], plugins.registry)
    assert "a class grid" in fig.caption and "ganbench samples --mode classes" in fig.caption
