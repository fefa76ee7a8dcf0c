"""This distribution's tests: the ganbench contract for each loss and model it registers, found through
the installed entry points (ganbench_registry), plus the losses' own math."""

import pytest
import torch
from ganbench_relativistic.losses import ragan_d, rsgan_d, rsgan_g

from ganbench.testing import check_loss, check_model, check_training


def test_registered_through_the_entry_points(ganbench_plugins):
    names = {p.name: p for p in ganbench_plugins.info()}
    assert sorted(names["relativistic-losses"].registered["losses"]) == ["ragan", "rsgan"]
    assert names["relativistic-losses"].provenance.distribution == "ganbench-relativistic"


@pytest.mark.parametrize("loss", ["rsgan", "ragan"])
def test_loss_contract(ganbench_registry, loss):
    check_loss(ganbench_registry, loss)
    check_training(ganbench_registry, "vanilla", loss)
    check_training(ganbench_registry, "resmlp", loss)


def test_model_contract(ganbench_registry):
    check_model(ganbench_registry, "resmlp")
    check_model(ganbench_registry, "resmlp", width=16, blocks=0)


def test_relativistic_losses_by_hand():
    real, fake = torch.tensor([2.0, 1.0]), torch.tensor([0.0, 1.0])
    # -mean(log sigmoid(real - fake)) = mean(log(1 + exp(-(real - fake))))
    assert rsgan_d(real, fake) == pytest.approx(torch.log1p(torch.exp(-(real - fake))).mean().item())
    assert rsgan_g(fake, real) == pytest.approx(torch.log1p(torch.exp(-(fake - real))).mean().item())
    expected = torch.log1p(torch.exp(-(real - 0.5))).mean() + torch.log1p(torch.exp(fake - 1.5)).mean()
    assert ragan_d(real, fake) == pytest.approx(expected.item())
