"""smanh: natural-history analysis of spinal muscular atrophy (SMA) registries.

The package holds the pure, tested analysis logic; the Snakemake rule scripts in
``scripts/rules/`` are thin wrappers that only read ``snakemake.*`` and call it.
"""

__version__ = "0.1.0"
