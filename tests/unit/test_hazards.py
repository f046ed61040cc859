"""The hazard table against the errors the installed libraries really raise.

Each removal is triggered for real (scikit-learn, pandas, numpy are in the dev venv) and
the exception's own type and message are what `find_hazard` reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
from nb2svc.hazards import HAZARDS, explain, find_hazard, retry_requirements
from notebook_cells import analyzed


def cross_validation() -> None:
    importlib.import_module("sklearn.cross_validation")


def grid_search() -> None:
    importlib.import_module("sklearn.grid_search")


def externals_joblib() -> None:
    exec("from sklearn.externals import joblib")


def load_boston() -> None:
    exec("from sklearn.datasets import load_boston")


def plot_confusion_matrix() -> None:
    exec("from sklearn.metrics import plot_confusion_matrix")


def one_hot_sparse() -> None:
    from sklearn.preprocessing import OneHotEncoder

    OneHotEncoder(sparse=False)


def frame_append() -> None:
    import pandas as pd

    pd.DataFrame({"a": [1]}).append({"a": 2}, ignore_index=True)


def numpy_alias() -> None:
    import numpy as np

    print(np.float)  # type: ignore[attr-defined]


def arima_model() -> None:  # the module stays, its classes refuse to be made (0.13+)
    arima = importlib.import_module("statsmodels.tsa.arima_model")
    arima.ARIMA([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], order=(1, 0, 0))


REAL: list[tuple[Callable[[], None], str, str]] = [
    (cross_validation, "scikit-learn", "0.20"),
    (grid_search, "scikit-learn", "0.20"),
    (externals_joblib, "scikit-learn", "0.23"),
    (load_boston, "scikit-learn", "1.2"),
    (plot_confusion_matrix, "scikit-learn", "1.2"),
    (one_hot_sparse, "scikit-learn", "1.4"),
    (frame_append, "pandas", "2.0"),
    (numpy_alias, "numpy", "1.24"),
    (arima_model, "statsmodels", "0.13"),
]


@pytest.mark.parametrize(
    ("trigger", "library", "boundary"), REAL, ids=[t.__name__ for t, *_ in REAL]
)
def test_each_removal_is_recognised_from_the_error_the_library_raises(
    trigger: Callable[[], None], library: str, boundary: str
) -> None:
    with pytest.raises((AttributeError, ImportError, TypeError, NotImplementedError)) as info:
        trigger()
    hazard = find_hazard(type(info.value).__name__, str(info.value))
    assert hazard is not None, f"{type(info.value).__name__}: {info.value}"
    assert (hazard.library, hazard.removed_in) == (library, boundary)


def test_every_entry_of_the_table_is_distinct() -> None:
    assert len({h.what for h in HAZARDS}) == len(HAZARDS)


def test_an_ordinary_error_in_a_cell_is_no_hazard() -> None:
    assert find_hazard("KeyError", "'churn'") is None
    assert find_hazard("AttributeError", "'NoneType' object has no attribute 'fit'") is None


def test_the_message_names_the_library_the_boundary_and_the_pin() -> None:
    hazard = find_hazard("ModuleNotFoundError", "No module named 'sklearn.cross_validation'")
    assert hazard is not None
    cause, fix = explain(hazard, {"scikit-learn": "1.6.1"}, "3.9")
    assert cause == (
        "an API-version mismatch: sklearn.cross_validation was removed in scikit-learn 0.20, "
        "and the build installed scikit-learn 1.6.1"
    )
    assert '%pip install "scikit-learn<0.20"' in fix
    assert "Python 3.9" in fix


def test_a_training_error_on_a_removed_api_says_version_mismatch_not_fix_the_cell(
    tmp_path: Path,
) -> None:
    analysis = analyzed(tmp_path, "import pandas as pd")
    record = {
        "notebook": "train.ipynb", "cell": 1, "ename": "AttributeError",
        "evalue": "'DataFrame' object has no attribute 'append'",
    }  # fmt: skip
    error = analysis.training_error(record, exit_status=1, locked={"pandas": "2.2.3"})
    assert "API-version mismatch: DataFrame.append" in error.message
    assert "removed in pandas 2.0, and the build installed pandas 2.2.3" in error.message
    assert error.fix is not None
    assert "pandas<2.0" in error.fix


def _hazard_for(library: str, removed_in: str):  # type: ignore[no-untyped-def]
    return next(h for h in HAZARDS if (h.library, h.removed_in) == (library, removed_in))


def test_a_removal_with_an_older_release_for_the_image_python_is_retried_capped(
    tmp_path: Path,
) -> None:
    """Real PyPI history: scikit-learn 1.1.3 has a cp311 wheel; the retry resolves as of the
    day before 1.2.0, so numpy and scipy are of that time too."""
    hazard = _hazard_for("scikit-learn", "1.2")
    locked = {"scikit-learn": "1.6.1"}
    retry = retry_requirements(hazard, locked, "3.11", tmp_path)
    assert retry is not None
    assert (retry.pins, retry.as_of) == (("scikit-learn<1.2",), "2022-12-07")
    assert retry.why.endswith(
        "resolved as of 2022-12-07, the day before scikit-learn 1.2.0 came out"
    )


def test_no_retry_when_no_release_before_the_removal_fits_the_image_python(
    tmp_path: Path,
) -> None:
    hazard = _hazard_for("scikit-learn", "0.20")  # 0.19 has no wheel for Python 3.9 or later
    assert retry_requirements(hazard, {"scikit-learn": "1.6.1"}, "3.11", tmp_path) is None


def test_no_retry_when_the_lock_already_has_a_release_from_before_the_removal(
    tmp_path: Path,
) -> None:
    hazard = _hazard_for("scikit-learn", "1.2")
    assert retry_requirements(hazard, {"scikit-learn": "1.1.3"}, "3.11", tmp_path) is None
