"""Backend callbacks (imports torch)."""
