"""assemble's settings come from NB2SVC_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from nb2svc.errors import UsageError
from nb2svc.options import BuildOptions
from nb2svc.s2i.settings import s2i_options

NO_MOUNT = Path("/nonexistent/nb2svc-ca")


def settings(**env: str) -> BuildOptions:
    return s2i_options(env, mounted_ca=NO_MOUNT)


def test_defaults_are_the_cli_defaults_but_for_the_ca_bundle() -> None:
    assert settings() == BuildOptions(runtime="default", ca_bundle=None)


def test_notebooks_are_separated_by_commas_or_white_space() -> None:
    assert settings(NB2SVC_NOTEBOOKS="prep.ipynb, train.ipynb\nx.ipynb").notebooks == (
        "prep.ipynb",
        "train.ipynb",
        "x.ipynb",
    )


def test_parameters_from_a_list_and_from_one_variable_each() -> None:
    found = settings(NB2SVC_PARAMETERS="a=1; b=[1, 2]\nc='x'", NB2SVC_PARAM_n_estimators="200")
    assert found.parameters == ("a=1", "b=[1, 2]", "c='x'", "n_estimators=200")


def test_a_parameter_without_a_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not name=value"):
        settings(NB2SVC_PARAMETERS="a=1;oops")


def test_only_the_shipped_runtime_is_accepted() -> None:
    with pytest.raises(UsageError, match="bentoml"):
        settings(NB2SVC_RUNTIME="bentoml")


def test_ca_file_explicit_then_ssl_cert_file_then_mounted_secret(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by nb2svc")
    assert settings(NB2SVC_CA_FILE=str(ca)).ca_bundle == ca
    assert settings(SSL_CERT_FILE=str(ca)).ca_bundle == ca
    assert s2i_options({}, mounted_ca=ca).ca_bundle == ca


def test_a_missing_explicit_ca_file_is_an_error_that_does_not_echo_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        settings(NB2SVC_CA_FILE=str(tmp_path / "secret-name"))
    assert "secret-name" not in info.value.render()
