"""Backend optim (imports torch)."""
