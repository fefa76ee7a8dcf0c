"""ganbench's built-in plugins.

They are wired exactly as a third-party plugin is: each module below is an entry point of the
``ganbench`` group in ganbench's own ``pyproject.toml`` and implements the same hooks. Modules that
implement hooks import no torch at import time; the networks live in one module per family.
"""
