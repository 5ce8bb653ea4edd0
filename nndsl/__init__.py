"""nndsl: neural-network training experiments described in YAML, validated, shown and trained."""

__version__ = "0.1.0"
