"""Issue 19: one temporary-file scheme for every write, cleaned after a crash.

safetensors writes its own ``.tmpXXXXXX`` beside whatever path it is given and renames
it into place, so a process killed inside ``save_file`` used to leave a full-size file
of safetensors' naming that no later save recognised. Every csa write now happens in a
private ``.csa-tmp-*`` folder; whatever any library writes there goes with the folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import csa
from csa import files
from synthetic import known_cca_pairs


@pytest.fixture(scope="module")
def pairs():
    return known_cca_pairs(300, (0.9, 0.6), dim_a=6, dim_b=5, seed=1)


def _killed_save(tmp_path, target, body):
    """Run ``body`` (source text with ``tmp`` bound) as the write of a model save, and
    kill the process inside it, as a user's Ctrl-C-then-kill or an OOM killer would."""
    a, b = (tmp_path / "a.npy", tmp_path / "b.npy")
    script = (
        "import os, numpy as np, csa, safetensors.numpy\n"
        f"a = np.load({str(a)!r}); b = np.load({str(b)!r})\n"
        "model = csa.CSA(ridge=0.1, sim_dim=None).fit(a, b)\n"
        "def dying_save_file(arrays, tmp, metadata=None):\n"
        f"{body}"
        "    os.kill(os.getpid(), 9)\n"
        "safetensors.numpy.save_file = dying_save_file\n"
        f"model.save({str(target)!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()


def test_safetensors_own_temporary_is_removed_by_the_next_save(pairs, tmp_path):
    a, b = pairs
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    target = tmp_path / "m.csa"
    # What safetensors does: a sibling ".tmpXXXXXX" of the path it was given, then a rename.
    body = (
        "    from pathlib import Path\n"
        "    (Path(tmp).parent / '.tmpAb12Cd').write_bytes(b'x' * 1_000_000)\n"
    )
    _killed_save(tmp_path, target, body)
    left = [p.name for p in tmp_path.iterdir() if p.name not in ("a.npy", "b.npy")]
    assert left and all(name.startswith(files.TEMP_PREFIX) for name in left)
    csa.CSA(ridge=0.1, sim_dim=None).fit(a, b).save(tmp_path / "other.csa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy", "other.csa"]


def test_every_killed_save_is_cleaned_by_the_next_write_of_any_file_in_the_folder(pairs, tmp_path):
    a, b = pairs
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    for name in ("m1.csa", "m2.csa", "m3.csa"):
        _killed_save(tmp_path, tmp_path / name, "    open(tmp, 'wb').write(b'x' * 1000)\n")
        # Each save starts by removing what the previous killed one left: never a pile.
        assert sum(p.name.startswith(files.TEMP_PREFIX) for p in tmp_path.iterdir()) == 1
    files.atomic_write(tmp_path / "note.txt", lambda tmp: tmp.write_text("hi"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "b.npy", "note.txt"]


def test_a_live_writers_folder_is_left_alone_and_an_abandoned_one_removed(tmp_path):
    live = tmp_path / f"{files.TEMP_PREFIX}{files._host()}-{os.getppid()}-0000abcd"
    live.mkdir()
    (live / "x.csa").write_bytes(b"partial")
    other_host = tmp_path / f"{files.TEMP_PREFIX}elsewhere-1-0000abcd"
    other_host.mkdir()
    (other_host / "y.csa").write_bytes(b"partial")
    files.atomic_write(tmp_path / "z.txt", lambda tmp: tmp.write_text("z"))
    # The parent process is alive, and another host's pid cannot be checked: kept.
    assert live.exists() and other_host.exists()
    old = time.time() - files.STALE_AFTER_SECONDS - 60
    for path in (other_host / "y.csa", other_host):
        os.utime(path, (old, old))
    assert files.remove_stale_temporaries(tmp_path) == [other_host]
    assert live.exists()


def test_np_save_writes_to_the_name_it_is_given(tmp_path):
    """np.save appends ".npy" unless the name ends with it: the temporary keeps the name."""
    out = files.atomic_write(tmp_path / "f.npy", lambda tmp: np.save(tmp, np.arange(3)))
    np.testing.assert_array_equal(np.load(out), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]


def test_a_failed_write_leaves_no_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(csa.CSAError, match=r"t\.txt.*No space"):
        files.atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
