"""`take_image_metadata`: the labels of an `--as-dockerfile` image's s2i metadata file.

(What `s2i build --as-dockerfile` writes and s2i's Docker-API upload are no longer emulated
here: tests/e2e/test_s2i_builder.py runs the real s2i CLI.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.s2i import metadata
from nb2svc.s2i.local import take_image_metadata
from nb2svc.s2i.metadata import IMAGE_METADATA


class FakeMounts:
    """A container whose root filesystem is a folder; records mount/umount calls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[str] = []

    def mount(self, container: str) -> Path:
        self.calls.append(f"mount {container}")
        return self.root

    def umount(self, container: str) -> None:
        self.calls.append(f"umount {container}")


def test_the_labels_are_read_and_the_metadata_folder_removed(tmp_path: Path) -> None:
    path = tmp_path / IMAGE_METADATA.lstrip("/")
    metadata.write(path, {"io.nb2svc.notebook": "churn.ipynb", "io.k8s.display-name": "churn"})
    mounts = FakeMounts(tmp_path)
    found = take_image_metadata(mounts, "ctr")
    assert found == {"io.nb2svc.notebook": "churn.ipynb", "io.k8s.display-name": "churn"}
    assert not path.parent.exists()
    assert mounts.calls == ["mount ctr", "umount ctr"]


def test_no_metadata_file_means_no_labels(tmp_path: Path) -> None:
    mounts = FakeMounts(tmp_path)
    assert take_image_metadata(mounts, "ctr") == {}
    assert mounts.calls == ["mount ctr", "umount ctr"]


def test_a_link_in_place_of_the_metadata_file_is_not_followed(tmp_path: Path) -> None:
    """Inside the image the link would point elsewhere; here it would read a host file."""
    outside = tmp_path / "host-file.json"
    metadata.write(outside, {"k": "from the host"})
    root = tmp_path / "root"
    path = root / IMAGE_METADATA.lstrip("/")
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    assert take_image_metadata(FakeMounts(root), "ctr") == {}
    assert outside.is_file()
    assert path.is_symlink()


def test_a_malformed_metadata_file_is_refused_and_the_container_unmounted(tmp_path: Path) -> None:
    path = tmp_path / IMAGE_METADATA.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_text('{"labels": {"not": "a list"}}')
    mounts = FakeMounts(tmp_path)
    with pytest.raises(ValueError, match="image metadata must be"):
        take_image_metadata(mounts, "ctr")
    assert mounts.calls == ["mount ctr", "umount ctr"]
