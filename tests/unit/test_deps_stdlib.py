"""The stdlib tables are per target version and generated from real interpreters."""

from __future__ import annotations

import pytest
from nb2svc.deps.stdlib import SUPPORTED, clamp_version, classify_stdlib, stdlib_names


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_supported_version_has_a_table_with_the_basics(version: str) -> None:
    names = stdlib_names(version)
    assert {"os", "sys", "json", "re", "collections", "typing"} <= names
    assert not {"numpy", "test", "_testcapi"} & names


@pytest.mark.parametrize(
    ("module", "present_until"), [("distutils", "3.11"), ("imp", "3.11"), ("asynchat", "3.11"),
                                  ("asyncore", "3.11"), ("telnetlib", "3.12"), ("cgi", "3.12"),
                                  ("crypt", "3.12"), ("pipes", "3.12"), ("lib2to3", "3.12")],
)  # fmt: skip
def test_removed_modules_are_tracked(module: str, present_until: str) -> None:
    for version in SUPPORTED:
        expected = tuple(map(int, version.split("."))) <= tuple(map(int, present_until.split(".")))
        assert (module in stdlib_names(version)) is expected, version


@pytest.mark.parametrize(
    ("module", "added"), [("tomllib", "3.11"), ("zoneinfo", "3.9"), ("graphlib", "3.9")]
)
def test_added_modules_are_tracked(module: str, added: str) -> None:
    verdict = classify_stdlib(module, "3.8")
    assert (verdict.status, verdict.other_version) == ("not-yet", added)
    assert classify_stdlib(module, added).status == "stdlib"


def test_a_removed_module_says_when_it_was_last_there() -> None:
    verdict = classify_stdlib("distutils", "3.12")
    assert (verdict.status, verdict.other_version) == ("removed", "3.11")


def test_a_third_party_name_is_not_stdlib_in_any_version() -> None:
    assert classify_stdlib("numpy", "3.11").status == "no"


@pytest.mark.parametrize(
    ("given", "used"), [("3.7.6", "3.8"), ("3.6", "3.8"), ("3.14", "3.13"), ("3.12.1", "3.12"),
                        ("garbage", "3.11")],
)  # fmt: skip
def test_versions_without_a_table_are_clamped(given: str, used: str) -> None:
    assert clamp_version(given) == used
