"""Inspecting and pruning the embedding store: ``cache_info``, ``prune_cache``, ``csa cache``."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from counting_encoder import MANY, TEXTS, Counting, truth
from csa.cli import app
from csa.encoders import cache_info, cached_encode, prune_cache
from csa.encoders.store import format_bytes, parse_size, store_path
from csa.errors import InputError

runner = CliRunner()


def _fill(cache_dir) -> None:
    cached_encode(Counting(), MANY, cache_dir=cache_dir)
    cached_encode(Counting(name="other", dim=4), TEXTS, cache_dir=cache_dir)


def test_info_counts_entries_per_encoder_and_sizes(tmp_path) -> None:
    empty = cache_info(tmp_path)
    assert not empty.exists and empty.entries == 0
    assert not store_path(tmp_path).exists()  # looking creates nothing
    _fill(tmp_path)
    info = cache_info(tmp_path)
    assert info.exists and info.entries == 53
    by_name = {e.name: e for e in info.encoders}
    assert by_name["counting"].entries == 50 and by_name["counting"].dim == 6
    assert by_name["counting"].vector_bytes == 50 * 6 * 4
    assert by_name["other"].entries == 3 and by_name["other"].vector_bytes == 3 * 4 * 4
    assert info.file_bytes >= 53 * 6 * 4
    assert by_name["other"].last_used is not None


def test_prune_by_encoder_age_and_size(tmp_path) -> None:
    _fill(tmp_path)
    report = prune_cache(tmp_path, encoder="other")
    assert report.removed_entries == 3
    assert {e.name for e in cache_info(tmp_path).encoders} == {"counting"}
    with sqlite3.connect(store_path(tmp_path)) as db:  # 20 rows last used ten days ago
        old = time.time() - 10 * 86400
        db.execute(
            "UPDATE vectors SET used = ? WHERE item IN (SELECT item FROM vectors LIMIT 20)",
            (old,),
        )
    assert prune_cache(tmp_path, older_than_days=7).removed_entries == 20
    assert cache_info(tmp_path).entries == 30
    report = prune_cache(tmp_path, max_bytes=10 * 6 * 4)
    assert report.removed_entries == 20 and cache_info(tmp_path).entries == 10
    e = Counting()  # what is left still reads back exactly; what went is encoded again
    np.testing.assert_array_equal(cached_encode(e, MANY, cache_dir=tmp_path), truth(MANY))
    assert e.encoded == 40
    with pytest.raises(InputError, match="older_than_days"):
        prune_cache(tmp_path, older_than_days=-1)


def test_prune_drops_damaged_rows_and_old_whole_list_files(tmp_path) -> None:
    _fill(tmp_path)
    legacy = tmp_path / "embeddings" / "counting-00ff.npy"
    np.save(legacy, np.zeros((3, 6), dtype=np.float32))
    assert cache_info(tmp_path).legacy_files == 1
    with sqlite3.connect(store_path(tmp_path)) as db:
        item = db.execute("SELECT item FROM vectors LIMIT 1").fetchone()[0]
        db.execute("UPDATE vectors SET vector = zeroblob(LENGTH(vector)) WHERE item = ?", (item,))
    report = prune_cache(tmp_path)
    assert report.removed_damaged == 1 and report.removed_legacy_files == 1
    assert not legacy.exists() and cache_info(tmp_path).entries == 52


def test_prune_all_removes_even_a_damaged_file(tmp_path) -> None:
    path = store_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 50)
    report = prune_cache(tmp_path, everything=True)
    assert report.removed_store and report.freed_bytes == 350 and not path.exists()


def test_sizes_people_type_and_read() -> None:
    assert parse_size("500MB") == 500_000_000
    assert parse_size("2 GiB") == 2 * 1024**3
    assert parse_size("1e3") == 1000
    with pytest.raises(InputError, match="as a size"):
        parse_size("lots")
    assert format_bytes(100) == "100 B" and format_bytes(1536) == "1.5 KiB"


def test_csa_cache_info_and_prune_commands(tmp_path) -> None:
    result = runner.invoke(app, ["cache", "info", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no embedding cache" in result.output
    _fill(tmp_path)
    result = runner.invoke(app, ["cache", "info", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "53 embeddings" in result.output and "counting" in result.output
    result = runner.invoke(
        app, ["cache", "prune", "--encoder", "counting", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "removed 50 entries" in result.output
    assert cache_info(tmp_path).entries == 3
    result = runner.invoke(
        app, ["cache", "prune", "--max-size", "lots", "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "as a size" in result.output
    result = runner.invoke(app, ["cache", "prune", "--all", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0 and "removed the cache file" in result.output
    assert not store_path(tmp_path).exists()


def test_csa_cache_info_on_a_folder_in_the_store_place_is_one_clear_error(tmp_path) -> None:
    store_path(tmp_path).mkdir(parents=True)
    result = runner.invoke(app, ["cache", "info", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a folder" in result.output and "Traceback" not in result.output


def test_pruning_gives_the_space_back(tmp_path) -> None:
    class Wide(Counting):
        def _encode_batch(self, batch):
            self.seen.extend(batch)
            return np.random.default_rng(len(self.seen)).random((len(batch), self._dim))

    items = [f"item {i}" for i in range(2000)]
    cached_encode(Wide(name="wide", dim=256), items, cache_dir=tmp_path, batch_size=500)
    before = cache_info(tmp_path).file_bytes
    assert before >= 2000 * 256 * 4
    report = prune_cache(tmp_path, max_bytes=200 * 256 * 4)
    assert report.removed_entries == 1800
    after = cache_info(tmp_path).file_bytes
    assert after < before / 2 and report.freed_bytes >= before - after - 1
