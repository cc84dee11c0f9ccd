"""Data sets: one registry for the CLI and the library."""

from .idx import IDXError, read_idx, read_images, read_labels

__all__ = ["IDXError", "read_idx", "read_images", "read_labels"]
