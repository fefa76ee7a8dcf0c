"""Relativistic GAN losses (Jolicoeur-Martineau 2018, arXiv:1807.00734) and a residual MLP, as a
ganbench plugin distribution."""

__version__ = "0.1.0"
