"""The curated table maps at dotted-prefix granularity and never guesses unknown names."""

from __future__ import annotations

import pytest
from nb2svc.deps.mapping import canonical, load_import_map


@pytest.mark.parametrize(
    ("module", "dist"),
    [
        ("google.cloud.storage", "google-cloud-storage"),
        ("google.cloud.pubsub_v1", "google-cloud-pubsub"),
        ("google.cloud.bigquery_storage", "google-cloud-bigquery-storage"),
        ("google.cloud.exceptions", "google-cloud-core"),
        ("google.protobuf.json_format", "protobuf"),
        ("mpl_toolkits.mplot3d", "matplotlib"),
        ("mpl_toolkits.basemap", "basemap"),
        ("azure.storage.blob", "azure-storage-blob"),
        ("sklearn.ensemble", "scikit-learn"),
        ("numpy.linalg", "numpy"),
    ],
)
def test_longest_dotted_prefix_wins(module: str, dist: str) -> None:
    assert load_import_map().lookup(module).dists[0] == dist


def test_namespaces_alone_cannot_be_mapped() -> None:
    assert load_import_map().lookup("google").kind == "namespace"
    assert load_import_map().lookup("google.cloud").kind == "namespace"


def test_unknown_names_are_not_passed_through() -> None:
    assert load_import_map().lookup("flib").kind == "none"


def test_the_deny_list_names_replacements() -> None:
    table = load_import_map()
    assert table.denied("sklearn") == "scikit-learn"
    assert table.denied("models") == ""
    assert table.denied("numpy") is None


def test_every_table_value_is_a_canonical_name() -> None:
    table = load_import_map()
    for dists in table.modules.values():
        assert all(d == canonical(d) for d in dists)
    assert all(key not in table.identity for key in table.deny if table.deny[key])


def test_runtime_only_and_python2_tables() -> None:
    table = load_import_map()
    assert table.runtime_only_reason("google.colab.drive") is not None
    assert table.runtime_only_reason("IPython.display") is not None
    assert table.python2["urllib2"] == "urllib.request"
