"""atomic_open: the old file stays whole until the new one is complete."""

import pytest

from simbarl.files import atomic_open


def test_atomic_open_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "sub" / "results.csv"
    with atomic_open(path) as f:
        f.write("first\n")
    assert path.read_text() == "first\n"
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half of the sec")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "first\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.csv"]
