# One line enables ganbench's fixtures (ganbench_registry, ganbench_data) for this package's tests.
pytest_plugins = ["ganbench.testing"]
