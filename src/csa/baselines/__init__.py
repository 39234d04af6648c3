"""Baselines with CSA's interface, for honest side-by-side comparison."""

from csa.baselines.asif import ASIF
from csa.baselines.linear_map import LinearMap
from csa.model import CCA

__all__ = ["ASIF", "CCA", "LinearMap"]
