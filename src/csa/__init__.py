"""csa: Canonical Similarity Analysis."""

from csa.errors import CSAError

__all__ = ["CSAError"]
__version__ = "0.1.0"
