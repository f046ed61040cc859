"""assemble's labels travel in s2i's image metadata file, in s2i's format."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nb2svc import labels
from nb2svc.lock import Lock
from nb2svc.options import BuildOptions
from nb2svc.plan import HostFacts, make_plan
from nb2svc.s2i import assemble, metadata


def test_the_file_has_s2i_format_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / ".s2i" / "image_metadata.json"
    metadata.write(path, {"a.b": "1", "c": "two"})
    assert json.loads(path.read_text()) == {"labels": [{"a.b": "1"}, {"c": "two"}]}
    assert metadata.parse(path.read_text()) == {"a.b": "1", "c": "two"}


@pytest.mark.parametrize(
    "text",
    ['{"labels": {"a": "1"}}', '{"labels": [{"a": 1}]}', '["a"]', '{"labels": ["a"]}'],
)
def test_other_shapes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="image metadata"):
        metadata.parse(text)


def test_labels_beyond_s2i_size_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="bytes"):
        metadata.parse(metadata.render({"big": "x" * metadata.MAX_LABEL_BYTES}))


def test_openshift_build_source_and_commit_become_oci_labels(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    nbformat.write(nb, tmp_path / "train.ipynb")
    analysis = assemble._analyze(tmp_path, BuildOptions())
    lock = Lock(
        text="pkg==1.0\n", packages={"pkg": "1.0"}, tool="uv 0.0", python_version="3.11",
        platform="linux", inputs_sha256="key",
    )  # fmt: skip
    env = {"OPENSHIFT_BUILD_SOURCE": "https://git.example/repo", "OPENSHIFT_BUILD_COMMIT": "abc"}
    host = HostFacts(python="3.11", base_image="b", build_base_image="b", runtime_requirements="")

    def labels_with(env: dict[str, str]) -> dict[str, str]:
        facts = metadata.source_facts(analysis, tmp_path, env)
        return metadata.image_labels(make_plan(analysis, lock, BuildOptions(), facts, host))

    found = labels_with(env)
    assert found[labels.OCI_SOURCE] == "https://git.example/repo"
    assert found[labels.OCI_REVISION] == "abc"
    assert found[labels.NB2SVC_NOTEBOOK] == "train.ipynb"
    assert found[labels.NB2SVC_LOCK_SHA256] == lock.sha256
    no_source = labels_with({})
    assert labels.OCI_SOURCE not in no_source
    assert labels.OCI_REVISION not in no_source
