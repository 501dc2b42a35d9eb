"""One rule for symbolic links in a source folder: followed while they stay inside it,
refused (saying which link and why) when they leave it, lead nowhere or loop."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from trainforge.storage import snapshot


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "lib").mkdir(parents=True)
    (folder / "train.py").write_text("print('hi')\n")
    (folder / "lib" / "util.py").write_text("X = 1\n")
    return folder


def _contents(source: Path) -> dict[str, bytes]:
    snap = snapshot.take(source)
    try:
        with zipfile.ZipFile(snap.zip_path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    finally:
        snap.zip_path.unlink()


def test_links_that_stay_inside_are_followed(source: Path) -> None:
    (source / "alias.py").symlink_to(source / "train.py")
    (source / "shared").symlink_to(source / "lib", target_is_directory=True)
    assert _contents(source) == {
        "alias.py": b"print('hi')\n",
        "lib/util.py": b"X = 1\n",
        "shared/util.py": b"X = 1\n",  # a folder link is no longer dropped silently
        "train.py": b"print('hi')\n",
    }


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_link_out_of_the_folder_is_refused(source: Path, tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "secret"
    if kind == "file":
        secret.write_text("password\n")
    else:
        secret.mkdir()
        (secret / "key").write_text("password\n")
    (source / "lib" / "leak").symlink_to(secret)
    with pytest.raises(snapshot.SnapshotLimitError, match="lib/leak .* outside the folder"):
        snapshot.take(source)


def test_links_that_loop_or_lead_nowhere_are_refused(source: Path) -> None:
    (source / "lib" / "up").symlink_to(source, target_is_directory=True)
    with pytest.raises(snapshot.SnapshotLinkError, match="lib/up .* links back"):
        snapshot.take(source)
    (source / "lib" / "up").unlink()
    (source / "a").mkdir()
    (source / "b").mkdir()
    (source / "a" / "to-b").symlink_to(source / "b", target_is_directory=True)
    (source / "b" / "to-a").symlink_to(source / "a", target_is_directory=True)
    with pytest.raises(snapshot.SnapshotLinkError, match="links back"):
        snapshot.take(source)
    for link in (source / "a" / "to-b", source / "b" / "to-a"):
        link.unlink()
    (source / "gone.py").symlink_to(source / "missing.py")
    with pytest.raises(snapshot.SnapshotLinkError, match="gone.py .* missing"):
        snapshot.take(source)


def test_an_ignored_link_is_not_looked_at(source: Path, tmp_path: Path) -> None:
    (source / ".venv").mkdir()
    (source / ".venv" / "python").symlink_to("/usr/bin/env")
    (source / ".amlignore").write_text(".venv/\n")
    assert ".venv/python" not in _contents(source)
