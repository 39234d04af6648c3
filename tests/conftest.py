"""Suite-wide isolation: the tests never read or write the user's embedding cache.

The per-item embedding store serves an item as it was first encoded, and an encoder's
output moves in its last bits with the batch it ran in; a suite sharing
``~/.cache/csa`` with earlier runs (or with the user) compared today's encodings with
another day's and failed its exact-equality checks on the second run. Each test process
gets its own cache root; the converted models and decoded data sets below it are
deterministic and slow to rebuild, so those two folders stay shared with the real root.
"""

from __future__ import annotations

import pytest

from csa.files import CACHE_ENV, cache_root


@pytest.fixture(autouse=True, scope="session")
def _private_embedding_cache(tmp_path_factory):
    real = cache_root()
    private = tmp_path_factory.mktemp("csa-cache")
    for shared in ("models", "datasets"):
        (real / shared).mkdir(parents=True, exist_ok=True)
        (private / shared).symlink_to(real / shared, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(private))
        yield private
