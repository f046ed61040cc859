"""The serving venv drops packages' test suites, except a folder the model's pickle needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from nb2svc_runtime.prune import kept_folders, main, prune

from .server import RUNTIMES


def touch(root: Path, *files: str) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x = 1\n" * 100)


def test_tests_folders_inside_packages_go_and_the_rest_stays(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "pandas/__init__.py",
        "pandas/tests/test_frame.py",
        "pandas/tests/io/test_csv.py",
        "scipy/stats/tests/test_stats.py",
        "scipy/stats/_stats.py",
        "tests/__init__.py",  # a top-level distribution that happens to be called tests
        "numpy/testing/__init__.py",
    )
    count, size = prune(tmp_path, [])
    assert count == 2
    assert size == 3 * 600
    assert not (tmp_path / "pandas" / "tests").exists()
    assert not (tmp_path / "scipy" / "stats" / "tests").exists()
    for kept in ("pandas/__init__.py", "scipy/stats/_stats.py", "tests/__init__.py"):
        assert (tmp_path / kept).is_file(), kept
    assert (tmp_path / "numpy" / "testing" / "__init__.py").is_file()


def test_a_tests_folder_the_model_references_is_kept(tmp_path: Path) -> None:
    touch(tmp_path, "numpy/_core/tests/_natype.py", "numpy/lib/tests/test_io.py")
    prune(tmp_path, ["numpy._core.tests._natype"])
    assert (tmp_path / "numpy" / "_core" / "tests" / "_natype.py").is_file()
    assert not (tmp_path / "numpy" / "lib" / "tests").exists()


def test_a_tests_folder_the_packages_own_code_imports_is_kept(tmp_path: Path) -> None:
    touch(tmp_path, "numpy/_core/tests/_natype.py", "numpy/lib/tests/test_io.py")
    touch(tmp_path, "shop/sub/tests/fixtures.py", "shop/other/tests/test_x.py")
    utils = tmp_path / "numpy" / "testing" / "utils.py"
    utils.parent.mkdir(parents=True)
    utils.write_text("import os\nfrom numpy._core.tests._natype import pd_NA\n")
    (tmp_path / "shop" / "sub" / "__init__.py").write_text("from .tests import fixtures as f\n")
    prune(tmp_path, [])
    assert (tmp_path / "numpy" / "_core" / "tests" / "_natype.py").is_file()
    assert (tmp_path / "shop" / "sub" / "tests" / "fixtures.py").is_file()
    assert not (tmp_path / "numpy" / "lib" / "tests").exists()
    assert not (tmp_path / "shop" / "other" / "tests").exists()


def test_only_tests_components_below_the_top_level_count() -> None:
    assert kept_folders(["a.tests.b", "tests.x", "a.b"]) == {("a", "tests")}


def test_the_script_reports_what_it_pruned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    touch(tmp_path / "site", "pkg/tests/test_a.py")
    assert main([str(tmp_path / "site"), str(tmp_path / "missing-keep-file")]) == 0
    assert not (tmp_path / "site" / "pkg" / "tests").exists()
    assert "pruned 1 tests/ folders and unloaded libraries" in capsys.readouterr().out


HELPER_MODEL = """
import numpy as np, pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.linear_model import LinearRegression
from shop.tests.helpers import double
from nb2svc_runtime.train.capture import save_model

X = pd.DataFrame({"x": np.arange(20.0)})
model = make_pipeline(FunctionTransformer(double), LinearRegression()).fit(X, X["x"] * 3)
save_model(globals(), variable=None, name="dbl", out_dir=OUT)
"""


def test_capture_lists_the_test_modules_a_pickle_references(tmp_path: Path) -> None:
    touch(tmp_path / "lib", "shop/__init__.py", "shop/tests/__init__.py")
    (tmp_path / "lib" / "shop" / "tests" / "helpers.py").write_text(
        "def double(frame):\n    return frame * 2\n"
    )
    script = tmp_path / "train.py"
    script.write_text(HELPER_MODEL.replace("OUT", repr(str(tmp_path / "m"))))
    env = {"PYTHONPATH": f"{RUNTIMES}:{tmp_path / 'lib'}", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, str(script)], check=True, env=env, capture_output=True)
    assert (tmp_path / "m" / "keep-modules.txt").read_text() == "shop.tests.helpers\n"
    prune(tmp_path / "lib", ["shop.tests.helpers"])
    assert (tmp_path / "lib" / "shop" / "tests" / "helpers.py").is_file()


def onnxruntime_wheel(site: Path, binding: bytes) -> Path:
    capi = site / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so").write_bytes(binding)
    (capi / "libonnxruntime.so.1.32.0").write_bytes(b"\x7fELF" + b"\0" * 1000)
    return capi


def test_onnxruntimes_c_api_library_goes_when_its_python_binding_does_not_load_it(
    tmp_path: Path,
) -> None:
    capi = onnxruntime_wheel(tmp_path, b"\x7fELF NEEDED libstdc++.so.6 libc.so.6")
    assert prune(tmp_path, []) == (0, 1004)
    assert [p.name for p in capi.iterdir()] == [
        "onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so"
    ]


def test_the_library_stays_when_the_binding_names_it(tmp_path: Path) -> None:
    capi = onnxruntime_wheel(tmp_path, b"\x7fELF NEEDED libonnxruntime.so.1 libc.so.6")
    assert prune(tmp_path, []) == (0, 0)
    assert (capi / "libonnxruntime.so.1.32.0").exists()


def test_the_real_onnxruntime_runs_without_its_c_api_library(tmp_path: Path) -> None:
    import shutil

    import onnxruntime

    site = tmp_path / "site"
    shutil.copytree(Path(onnxruntime.__file__).parent, site / "onnxruntime")
    assert prune(site, [])[1] > 10_000_000
    assert not list((site / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0], [4.0, 4.0], [5.0, 2.0]])
    model = to_onnx(LinearRegression().fit(X, X @ [1.0, 2.0]), X[:1])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    probe = (
        "import numpy as np, onnxruntime as o; s = o.InferenceSession('m.onnx', "
        "providers=['CPUExecutionProvider']); "
        "print(o.__file__, s.run(None, {s.get_inputs()[0].name: np.array([[1.0, 1.0]])})[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(site)), "the pruned copy is the one imported"
    assert "[[3.]]" in done.stdout
