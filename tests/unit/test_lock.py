"""The lock: real uv resolutions against the package index, cached by their inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.errors import DependencyError
from nb2svc.lock import Lock, LockInput, parse_lock, resolve_lock


def test_a_lock_pins_every_package_including_transitive_ones(tmp_path: Path) -> None:
    lock = resolve_lock(
        [LockInput("joblib", "import joblib in cell 3")], python_version="3.11", cache_dir=tmp_path
    )
    assert "joblib" in lock.packages
    assert all(version for version in lock.packages.values())
    assert lock.tool.startswith("uv ")
    assert lock.python_version == "3.11"
    assert not lock.reused


def test_the_same_inputs_reuse_the_cached_lock_without_resolving(tmp_path: Path) -> None:
    inputs = [LockInput("joblib", "runtime")]
    first = resolve_lock(inputs, python_version="3.11", cache_dir=tmp_path)
    second = resolve_lock(inputs, python_version="3.11", cache_dir=tmp_path)
    assert second.reused
    assert second.text == first.text
    refreshed = resolve_lock(inputs, python_version="3.11", cache_dir=tmp_path, refresh=True)
    assert not refreshed.reused


def test_a_package_missing_from_the_index_is_named_with_who_asked_for_it(tmp_path: Path) -> None:
    inputs = [
        LockInput("joblib", "runtime"),
        LockInput("nb2svc-no-such-package-4711", "`%pip install` in churn.ipynb cell 2"),
    ]
    with pytest.raises(DependencyError) as caught:
        resolve_lock(inputs, python_version="3.11", cache_dir=tmp_path)
    rendered = caught.value.render()
    assert "nb2svc-no-such-package-4711" in rendered
    assert "churn.ipynb cell 2" in rendered


def test_an_invalid_requirement_is_refused_before_resolving(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="invalid requirement"):
        resolve_lock(
            [LockInput("pandas>>>2", "requirements.txt")], python_version="3.11", cache_dir=tmp_path
        )


def test_a_lock_diff_lists_added_removed_and_changed_packages() -> None:
    def lock(text: str) -> Lock:
        return Lock(text, parse_lock(text), "uv", "3.11", "linux", "k")

    old = lock("numpy==1.26.0\npandas==2.1.0\n")
    new = lock("numpy==2.0.0\nscipy==1.13.0\n    # via scikit-learn\n")
    assert new.diff(old) == {
        "added": ["scipy==1.13.0"],
        "removed": ["pandas==2.1.0"],
        "changed": ["numpy 1.26.0 -> 2.0.0"],
    }


def test_a_package_published_only_as_source_is_let_through_and_said_so(tmp_path: Path) -> None:
    """keras-radam was only ever an sdist; wheels-only is for the era search's probing."""
    inputs = [LockInput("keras-radam", "`pip install keras_radam` in cell 2")]
    lock = resolve_lock(
        inputs, python_version="3.11", cache_dir=tmp_path, exclude_newer="2024-06-01",
        only_binary=True,
    )  # fmt: skip
    assert "keras-radam" in lock.packages
    assert lock.notes == (
        "keras-radam is published only as source: it is built from its sdist in the deps stage",
    )
    again = resolve_lock(
        inputs, python_version="3.11", cache_dir=tmp_path, exclude_newer="2024-06-01",
        only_binary=True,
    )  # fmt: skip
    assert again.reused
    assert again.notes == lock.notes
