"""Degradations, patch datasets, the one training loop, metrics."""
