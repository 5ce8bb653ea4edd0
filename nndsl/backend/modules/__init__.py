"""Backend modules (imports torch)."""
