"""``python -m trainforge.node.data_transfer --source NAME --destination NAME``: a
DataTransferStep's copy. The source (a data reference, an upstream output or a dataset
input, made local by the launcher) is copied into the destination's folder, which the
launcher uploads to the destination's datastore path when the copy ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def _local(name: str) -> Path | None:
    value = os.environ.get(f"AZUREML_DATAREFERENCE_{name}") or os.environ.get(name)
    return Path(value) if value else None


def copy(source: Path, destination: Path, source_type: str | None) -> tuple[int, int]:
    """Copy ``source`` (a file, or a folder's content) into ``destination``; the number of
    files and bytes copied. Links (a mounted dataset's files) are copied as what they name."""
    if source_type == "file" and not source.is_file():
        raise FileNotFoundError(f"source_reference_type='file', but {source} is not a file")
    if source_type == "directory" and not source.is_dir():
        raise NotADirectoryError(f"source_reference_type='directory', but {source} is not a folder")
    destination.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        shutil.copyfile(source, destination / source.name)
        return 1, source.stat().st_size
    if not source.is_dir():
        raise FileNotFoundError(f"the source {source} does not exist")
    files = size = 0
    for root, dirs, names in os.walk(source, followlinks=True):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            files += 1
            size += target.stat().st_size
    return files, size


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainforge.node.data_transfer")
    parser.add_argument("--source", required=True)
    parser.add_argument("--destination", required=True)
    parser.add_argument("--source-type", choices=("file", "directory"), default=None)
    parser.add_argument("--source-label", default="")
    parser.add_argument("--destination-label", default="")
    args = parser.parse_args(argv)
    source, destination = _local(args.source), _local(args.destination)
    if source is None or destination is None:
        missing = args.source if source is None else args.destination
        print(f"DataTransferStep: {missing!r} is not among the run's data", file=sys.stderr)
        return 1
    files, size = copy(source, destination, args.source_type)
    print(
        f"Copied {files} files ({size} bytes) from {args.source_label or source} to "
        f"{args.destination_label or destination}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
