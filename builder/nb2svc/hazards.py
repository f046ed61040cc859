"""Well-known API removals: a training error that means "written for an older library".

An `AttributeError`/`ImportError`/`ModuleNotFoundError`/unexpected keyword in a cell is
often not a bug in the notebook but a version mismatch: the notebook was written for a
library release that still had the API the lock's newer release removed. This table
names the library and the version boundary for the removals real notebooks hit most, so
the error can say which pin to use. Each entry is tested against the message the library
really raises (tests/unit/test_hazards.py). When a release from before the removal has a
wheel for the image's Python, `nb2svc build` and S2I retry once with the library capped
below it and the rest of the lock as of the day before the removal (`retry_requirements`);
the lock it writes keeps those pins. Otherwise the error names the pin or Python to use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from nb2svc.deps.releases import releases
from nb2svc.errors import Retry
from nb2svc.lock import LockInput


@dataclass(frozen=True)
class Hazard:
    library: str  # the distribution to pin
    removed_in: str  # the first release without the API
    what: str  # the API, as a person names it
    pattern: re.Pattern[str]  # matched against "ExceptionName: message"

    def pin(self) -> str:
        return f"{self.library}<{self.removed_in}"


def _hazard(library: str, removed_in: str, what: str, pattern: str) -> Hazard:
    return Hazard(library, removed_in, what, re.compile(pattern))


HAZARDS = (
    _hazard("scikit-learn", "0.20", "sklearn.cross_validation",
            r"No module named 'sklearn\.cross_validation'"),
    _hazard("scikit-learn", "0.20", "sklearn.grid_search",
            r"No module named 'sklearn\.grid_search'"),
    _hazard("scikit-learn", "0.23", "sklearn.externals.joblib",
            r"cannot import name 'joblib' from 'sklearn\.externals'|"
            r"No module named 'sklearn\.externals\.joblib'"),
    _hazard("scikit-learn", "1.2", "sklearn.datasets.load_boston",
            r"cannot import name 'load_boston'|`load_boston` has been removed"),
    _hazard("scikit-learn", "1.2", "sklearn.metrics.plot_confusion_matrix and plot_roc_curve",
            r"cannot import name 'plot_(confusion_matrix|roc_curve|precision_recall_curve)'"),
    _hazard("scikit-learn", "1.4", "OneHotEncoder(sparse=...) (now sparse_output)",
            r"OneHotEncoder\.__init__\(\) got an unexpected keyword argument 'sparse'"),
    _hazard("pandas", "2.0", "DataFrame.append / Series.append (now pd.concat)",
            r"'(DataFrame|Series)' object has no attribute 'append'"),
    _hazard("numpy", "1.24", "the numpy aliases np.float, np.int, np.bool, np.object",
            r"module 'numpy' has no attribute '(float|int|bool|object|str|long|unicode)'"),
    _hazard("statsmodels", "0.13", "statsmodels.tsa.arima_model (now statsmodels.tsa.arima.model)",
            r"No module named 'statsmodels\.tsa\.arima_model'|"
            r"statsmodels\.tsa\.arima_model\.ARMA and statsmodels\.tsa\.arima_model\.ARIMA\s+have"),
    _hazard("keras", "2.13", "keras.engine (Keras 2.12 and older; now keras.src, private)",
            r"module 'keras' has no attribute 'engine'|No module named 'keras\.engine'"),
    _hazard("tensorflow", "2.0", "tensorflow.contrib",
            r"No module named 'tensorflow\.contrib'|"
            r"module 'tensorflow' has no attribute 'contrib'"),
)  # fmt: skip
ERRORS = ("AttributeError", "ImportError", "ModuleNotFoundError", "TypeError",
          "NotImplementedError")  # fmt: skip


def find_hazard(ename: str, evalue: str) -> Hazard | None:
    """The removal that explains this training error, if it is a known one."""
    if ename not in ERRORS:
        return None
    text = f"{ename}: {evalue}"
    return next((h for h in HAZARDS if h.pattern.search(text)), None)


def explain(hazard: Hazard, locked: Mapping[str, str], image_python: str) -> tuple[str, str]:
    """(what went wrong, what to do) for a hazard, given the lock's versions."""
    have = locked.get(hazard.library)
    newer = have is not None and _at_least(have, hazard.removed_in)
    installed = f"the build installed {hazard.library} {have}" if have else "it is not locked"
    cause = (
        f"an API-version mismatch: {hazard.what} was removed in {hazard.library} "
        f"{hazard.removed_in}, and {installed}"
    )
    if not newer:
        cause = f"{hazard.what} is missing ({installed})"
    fix = (
        f'pin the version the notebook was written for: add `%pip install "{hazard.pin()}"` '
        f"to the notebook (or `{hazard.pin()}` to requirements.txt), then build again; if no "
        f"such release has wheels for Python {image_python}, build with an older Python "
        f"(--python X.Y --base-image REF), or port the cell to the new API"
    )
    return cause, fix


def retry_requirements(
    hazard: Hazard, locked: Mapping[str, str], python: str, cache_dir: Path
) -> Retry | None:
    """The second build that gets the notebook the API it was written for: the library
    capped below the removal, and the whole lock resolved as of the day before the removal
    came out (so its companions, numpy and scipy, are of that time too; nb2svc.era moves
    only what has no wheel for `python`). None when the lock already has an older release
    or none below the cap has a wheel for `python` (the error then names the pin or Python)."""
    have = locked.get(hazard.library)
    if have is None or not _at_least(have, hazard.removed_in):
        return None
    history = [r for r in releases(hazard.library, cache_dir) or () if not r.version.is_prerelease]
    boundary = Version(hazard.removed_in)
    if not any(r.version < boundary and r.wheel_for(python) is not None for r in history):
        return None
    removal = min((r for r in history if r.version >= boundary), key=lambda r: r.version,
                  default=None)  # fmt: skip
    last_day = (removal.uploaded - timedelta(days=1)) if removal else datetime.now(UTC)
    as_of = last_day.date().isoformat()
    came = f"{hazard.library} {removal.version} came out" if removal else "today"
    why = f"nb2svc's retry: {hazard.what} was removed in {hazard.library} {hazard.removed_in}; " \
          f"resolved as of {as_of}, the day before {came}"  # fmt: skip
    return Retry((hazard.pin(),), as_of, why)


def retry_for(
    record: Mapping[str, Any], locked: Mapping[str, str], python: str, cache_dir: Path
) -> Retry | None:
    """`retry_requirements` for a training error record (the train guard's JSON), if any."""
    hazard = find_hazard(str(record.get("ename")), str(record.get("evalue")))
    return None if hazard is None else retry_requirements(hazard, locked, python, cache_dir)


def retry_inputs(retry: Retry) -> tuple[LockInput, ...]:
    """The lock inputs the retry adds."""
    return tuple(LockInput(pin, retry.why) for pin in retry.pins)


def _at_least(version: str, boundary: str) -> bool:
    try:
        return Version(version) >= Version(boundary)
    except InvalidVersion:
        return True
