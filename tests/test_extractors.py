"""Feature extractors: the registry and ``auto``, the Inception extractor's weights handling and
preprocessing (against torch-fidelity's own network), the on-disk real-feature cache, stacked MNIST's
per-channel features."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from click.testing import CliRunner
from datafiles import write_image_folder, write_inception_weights

import ganbench
from ganbench.cli import cli
from ganbench.evaluation import EvalCache, ExtractorUnavailable, build_extractor, real_features_path, resolve_extractor
from ganbench_builtins.extractors import inception as extract_inception
from ganbench_builtins.extractors.inception import WEIGHTS_ENV, WEIGHTS_FILE, to_uint8


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_inception_weights(tmp_path_factory.mktemp("inception") / "inception.pth")


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


def test_auto_picks_per_data_set(plugins, mnist):
    reg = plugins.registry
    infos = {n: reg.get("dataset", n).load(root=None).info for n in ("ring8", "digits")}
    assert resolve_extractor(reg, "auto", infos["ring8"]) == ("raw", None)
    assert resolve_extractor(reg, "auto", mnist.info) == ("domain", None)
    assert resolve_extractor(reg, "auto", infos["digits"]) == ("domain", None)
    stacked = reg.get("dataset", "stacked-mnist").load(root=None, size=50, test_size=50).info
    assert resolve_extractor(reg, "auto", stacked) == ("domain", None)  # per channel
    colour = type(mnist.info)(name="photos", modality="image", shape=(3, 32, 32), value_range=(-1.0, 1.0), size=10,
                              num_classes=10)
    assert resolve_extractor(reg, "auto", colour) == ("inception", None)
    name, why = resolve_extractor(reg, "domain", infos["ring8"])
    assert name is None and why == ("extractor 'domain' cannot take ring8: the domain classifier needs labelled "
                                    "images; ring8 is vector data")


def test_uint8_conversion_rounds_and_replicates_grey():
    # 127.6/255 in [0,1] -> 128 when rounded (truncation would give 127); [-1, 1] likewise
    x = torch.tensor([127.6, 0.4, 254.5, 300.0]).div(255).view(1, 1, 2, 2)
    u8 = to_uint8(x, (0.0, 1.0))
    assert u8.dtype == torch.uint8 and u8.shape == (1, 3, 2, 2)
    assert u8[0, 0].flatten().tolist() == [128, 0, 254, 255] and torch.equal(u8[0, 0], u8[0, 2])
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3), (-1.0, 1.0)).flatten().tolist()[:3] == [0, 128, 255]


def test_inception_features_match_torch_fidelity_reference_network(plugins, mnist, weights, tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    ext = build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path, {"weights": str(weights)})
    assert ext.num_features == 2048 and ext.meta["reference"] is False  # random weights are not the reference file
    assert ext.id == f"inception:{extract_inception.sha256(weights)[:12]}"
    x = mnist.x[:3]
    ours = ext.features(x)
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights))
    with torch.no_grad():
        expected = reference(to_uint8(x, (-1.0, 1.0)))[0]
    assert ours.shape == (3, 2048) and torch.isfinite(ours).all()
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_inception_without_weights_offline_says_how_to_get_them(plugins, mnist, tmp_path, monkeypatch):
    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ExtractorUnavailable) as err:
        build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path)
    msg = str(err.value)
    assert "could not be downloaded" in msg and "Temporary failure in name resolution" in msg and "\n" not in msg
    assert WEIGHTS_FILE in msg and "--inception-weights PATH" in msg and WEIGHTS_ENV in msg and "--extractor domain" in msg
    assert not list((tmp_path / "extractors").iterdir())  # no partial file left behind
    with pytest.raises(ExtractorUnavailable, match="downloading is off"):
        build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path, {"download": False})
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(ExtractorUnavailable, match=f"nowhere.pth \\(from {WEIGHTS_ENV}\\) is not a file"):
        build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path)


def test_downloaded_weights_are_checked_and_kept_in_the_cache(plugins, mnist, weights, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, *a, **k: shutil.copy(weights, dst))
    with pytest.raises(ExtractorUnavailable, match="sha256 .* expected 6726825d"):  # not the reference file
        build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path)
    assert not (tmp_path / "extractors" / WEIGHTS_FILE).exists()
    monkeypatch.setattr(extract_inception, "REFERENCE_SHA256_PREFIX", extract_inception.sha256(weights)[:8])
    ext = build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path)
    assert (tmp_path / "extractors" / WEIGHTS_FILE).is_file() and ext.meta["reference"] is True
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("downloaded twice"))
    assert build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path).id == ext.id


def test_a_file_that_is_not_inception_weights_is_refused(plugins, mnist, tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(2)}, bad)
    with pytest.raises(ExtractorUnavailable, match="do not fit Inception-v3"):
        build_extractor(plugins.registry, "inception", mnist, torch.device("cpu"), tmp_path, {"weights": str(bad)})


@pytest.mark.slow
def test_real_features_are_cached_on_disk(make_ctx, mnist, tmp_path):
    ext = make_ctx(data=mnist, n_samples=10, cache=EvalCache()).extractor()  # the session's classifier
    ctx = make_ctx(data=mnist, n_samples=10, cache=EvalCache(), cache_root=tmp_path, real_samples=300)
    ctx.cache.get(("extractor", "domain", mnist.info.fingerprint, "cpu"), lambda: ext)
    first = ctx.real_features()
    path = real_features_path(tmp_path, mnist.info, ext, 300)
    assert first.shape == (300, 128) and path.is_file()
    assert torch.equal(ctx.real_features(50), first[:50])  # a smaller N is a prefix of the same sample
    again = make_ctx(data=mnist, n_samples=10, cache=EvalCache(), cache_root=tmp_path, real_samples=300)
    again.cache.get(("extractor", "domain", mnist.info.fingerprint, "cpu"), lambda: ext)
    real_features = ext.features
    ext.features = lambda x: pytest.fail("recomputed real features that are on disk")
    try:
        assert torch.equal(again.real_features(), first)
    finally:
        ext.features = real_features


@pytest.mark.slow
def test_stacked_mnist_gets_per_channel_features_and_fid(plugins, make_ctx):
    from ganbench_builtins.metrics.fid_kid import compute_fid

    stacked = plugins.registry.get("dataset", "stacked-mnist").load(root=None, size=1000, test_size=2000)
    ctx = make_ctx(data=stacked, n_samples=1000, sample=lambda n: stacked.x_test[:n], cache=EvalCache())
    ext = ctx.extractor()
    assert ext.name == "domain" and ext.num_features == 3 * 128 and ext.fingerprint.endswith("x3")
    feats = ext.features(stacked.x[:4])
    one_channel = ext.features(stacked.x[:4, :1].expand(-1, 3, -1, -1))[:, :128]
    assert torch.equal(feats[:, :128], one_channel)  # channel 0's features, whatever the other channels hold
    real = compute_fid(ctx)["fid"]
    noise = torch.rand(1000, 3, 28, 28) * 2 - 1
    far = compute_fid(make_ctx(data=stacked, n_samples=1000, sample=lambda n: noise[:n], cache=ctx.cache))["fid"]
    assert real < far / 20


@pytest.mark.slow
def test_run_with_inception_weights_on_an_unlabelled_folder(tmp_path, weights, tiny):
    folder = write_image_folder(tmp_path / "faces", classes=(), per_class=12)
    df = ganbench.run(models="vanilla", losses="nonsat", datasets=f"folder:{folder}", seeds=[0], metrics="fid,prdc",
                      settings={**tiny, "steps": 2, "batch_size": 4, "eval_samples": 6}, out=tmp_path / "run",
                      data_options={"image-folder": {"image_size": 28}}, device="cpu",
                      extractor_options={"inception": {"weights": str(weights)}})
    row = df.iloc[0]
    assert row["status"] == "ok" and row["fid_extractor"].startswith("inception:") and row["fid_n_real"] == 12
    assert row["prdc_extractor"] == row["fid_extractor"] and not row["inception_reference"]


def test_cli_refuses_before_training_when_inception_weights_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("no network")))
    folder = write_image_folder(tmp_path / "faces", classes=(), per_class=4)
    res = CliRunner().invoke(cli, ["run", "--models", "vanilla", "--losses", "nonsat", "--datasets", f"folder:{folder}",
                                   "--seeds", "0", "--steps", "2", "--data-opt", "image-folder.image_size=28",
                                   "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: inception weights could not be downloaded")
    assert not list((tmp_path / "run").glob("cells/*/result.json"))  # nothing trained


def test_unknown_extractor_lists_the_known_ones(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--extractor", "incepton", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip() == ("Error: unknown extractor 'incepton' (did you mean 'inception'?); known extractors: "
                                  "domain, inception, raw")


# -- the domain classifier's identity is its weights; the embedded sets' classifiers ship -----------

def _shipped(name: str) -> dict:
    import json

    from ganbench_builtins.extractors.domain import SHIPPED_DIR

    found = [json.loads(p.read_text()) for p in SHIPPED_DIR.glob(f"domain-{name}-*.json")]
    assert len(found) == 1, f"expected one shipped classifier for {name}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("name", ["mnist5k", "digits", "stacked-mnist", "edges2digits", "digits2thick"])
def test_the_shipped_classifier_is_loaded_and_computes_its_recorded_features(plugins, make_ctx, name):
    """A run on an embedded set at its default options uses the package's file (not a cache, not a
    training), its id is the hash of the weights in that file, and fixed inputs give the features
    recorded when it was made (the checksum of the instrument, to float tolerance)."""
    from ganbench import options
    from ganbench.execution.cell import load_data
    from ganbench_builtins.extractors import domain

    record = _shipped(name)
    spec = plugins.registry.get("dataset", name)
    data = load_data(plugins.registry, name, options.resolve("dataset", name, spec.options, [])[0], None)
    ext = make_ctx(data=data, n_samples=1, cache=EvalCache()).extractor()
    assert ext.meta["source"] == "shipped" and ext.meta["path"].endswith(record["weights_file"])
    blob = torch.load(domain.SHIPPED_DIR / record["weights_file"], weights_only=True)
    assert domain.weights_hash(blob["state_dict"]) == record["weights_sha256"] == ext.meta["weights_sha256"]
    suffix = "x3" if name == "stacked-mnist" else ""
    assert ext.id == record["extractor_id"] + suffix
    net = domain.DomainClassifier(record["input_shape"][0], record["num_classes"])
    net.load_state_dict(blob["state_dict"])
    probe = domain.probe_batch(tuple(record["input_shape"]))
    with torch.no_grad():
        sums = net.eval().features(probe).sum(1)
    assert sums.tolist() == pytest.approx(record["probe_feature_sums"], rel=1e-4, abs=1e-4)
    assert record["accuracy"] > 0.9 and record["torch"] and record["command"].startswith("python -m ")


def test_other_weights_are_another_extractor(plugins, mnist, make_ctx, tmp_path, monkeypatch):
    """The same recipe's file with one weight changed gets another id: nothing but the weights decides it."""
    from ganbench_builtins.extractors import domain

    record = _shipped("mnist5k")
    blob = torch.load(domain.SHIPPED_DIR / record["weights_file"], weights_only=True)
    blob["state_dict"]["head.bias"][0] += 1e-3
    monkeypatch.setattr(domain, "SHIPPED_DIR", tmp_path)
    torch.save(blob, tmp_path / record["weights_file"])
    ext = make_ctx(data=mnist, n_samples=1, cache=EvalCache()).extractor()
    assert ext.meta["source"] == "shipped" and ext.id.startswith("domain:") and ext.id != record["extractor_id"]
    assert ext.id == "domain:" + domain.weights_hash(blob["state_dict"])[:12]
