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
    assert "pruned 1 tests/ folders, unloaded libraries" in capsys.readouterr().out


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


def test_toolkits_serving_never_imports_go_unless_the_model_names_a_module_in_one(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "onnxruntime/__init__.py", "onnxruntime/capi/_pybind_state.py")
    for sub in ("tools", "transformers", "quantization"):
        touch(tmp_path, f"onnxruntime/{sub}/__init__.py")
    touch(tmp_path, "numpy/f2py/__init__.py", "other/tools/__init__.py")
    prune(tmp_path, ["onnxruntime.quantization.quant_utils"])
    left = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("__init__.py")}
    assert left == {
        "onnxruntime/__init__.py", "other/tools/__init__.py",
        "numpy/f2py/__init__.py",  # numpy.__getattr__ imports it
        "onnxruntime/quantization/__init__.py",  # the model's pickle names a module in it
    }  # fmt: skip
    assert (tmp_path / "onnxruntime/capi/_pybind_state.py").is_file()


def distribution(site: Path, name: str, requires: list[str], files: list[str]) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0"]
    (info / "METADATA").write_text("\n".join(lines + [f"Requires-Dist: {r}" for r in requires]))
    touch(site, *files)
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in record))


def test_uvicorns_unused_extras_are_uninstalled_unless_another_distribution_needs_one(
    tmp_path: Path,
) -> None:
    extras = ["watchfiles>=0.13; extra == 'standard'", "pyyaml>=5.1; extra == 'standard'"]
    extras += ["websockets>=10.4; extra == 'standard'", "python-dotenv; extra == 'standard'"]
    distribution(tmp_path, "uvicorn", ["click>=7.0", *extras], ["uvicorn/__init__.py"])
    distribution(tmp_path, "watchfiles", ["anyio>=3"], ["watchfiles/__init__.py"])
    distribution(tmp_path, "websockets", [], ["websockets/__init__.py", "websockets/sync/a.py"])
    distribution(tmp_path, "PyYAML", [], ["yaml/__init__.py", "_yaml/__init__.py"])
    distribution(tmp_path, "python-dotenv", [], ["dotenv/__init__.py"])
    distribution(tmp_path, "transformers", ["PyYAML>=5.1"], ["transformers/__init__.py"])
    (tmp_path / "websockets" / "__pycache__").mkdir()
    (tmp_path / "websockets" / "__pycache__" / "x.pyc").write_bytes(b"x")
    count, size = prune(tmp_path, [])
    assert count == 0
    assert size >= 4 * 600
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([
        "uvicorn", "uvicorn-1.0.dist-info", "transformers", "transformers-1.0.dist-info",
        "yaml", "_yaml", "PyYAML-1.0.dist-info",  # transformers requires it
    ])  # fmt: skip


def test_a_distribution_asking_for_uvicorns_extras_keeps_them(tmp_path: Path) -> None:
    distribution(tmp_path, "uvicorn", ["websockets; extra == 'standard'"], ["uvicorn/a.py"])
    distribution(tmp_path, "websockets", [], ["websockets/__init__.py"])
    distribution(tmp_path, "app", ["uvicorn[standard]>=0.30"], ["app/__init__.py"])
    prune(tmp_path, [])
    assert (tmp_path / "websockets" / "__init__.py").is_file()


def copy_packages(site: Path, *names: str) -> None:
    import importlib.util
    import shutil

    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        shutil.copytree(Path(spec.origin).parent, site / name)
        libs = Path(spec.origin).parent.parent / f"{name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / libs.name)


def test_extension_modules_are_stripped_and_still_import(tmp_path: Path) -> None:
    from nb2svc_runtime.prune import extension_modules, strip_extensions

    if not Path("/usr/bin/strip").is_file():
        pytest.skip("binutils' strip is not installed here")
    site = tmp_path / "site"
    copy_packages(site, "uvloop", "httptools")
    (site / "broken").mkdir()
    (site / "broken" / "fake.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF" + b"1" * 99)
    modules = extension_modules(site)
    assert {"uvloop.loop", "httptools.parser.parser", "broken.fake"} <= set(modules)
    before = {name: path.stat().st_size for name, path in modules.items()}
    saved = strip_extensions(site, Path("/"))
    assert saved > 5_000_000
    assert modules["uvloop.loop"].stat().st_size < before["uvloop.loop"] / 2
    assert modules["broken.fake"].read_bytes() == b"\x7fELF" + b"1" * 99  # never imported
    probe = "import uvloop, httptools, asyncio; print(uvloop.__file__, uvloop.new_event_loop())"
    done = subprocess.run(
        [sys.executable, "-c", probe], env={"PYTHONPATH": str(site)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(site))
    assert not list(site.rglob("*.nb2svc-stripped"))


def test_without_a_strip_in_the_build_root_nothing_is_stripped(tmp_path: Path) -> None:
    from nb2svc_runtime.prune import strip_extensions

    site = tmp_path / "site"
    copy_packages(site, "httptools")
    assert strip_extensions(site, tmp_path / "empty-root") == 0


def test_the_real_onnxruntime_runs_without_its_c_api_library(tmp_path: Path) -> None:
    site = tmp_path / "site"
    copy_packages(site, "onnxruntime", "numpy")
    assert prune(site, [])[1] > 20_000_000
    assert not list((site / "onnxruntime" / "capi").glob("libonnxruntime.so*"))
    for gone in ("onnxruntime/tools", "onnxruntime/transformers", "onnxruntime/quantization"):
        assert not (site / gone).exists(), gone
    assert (site / "numpy" / "f2py").is_dir()
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0], [4.0, 4.0], [5.0, 2.0]])
    model = to_onnx(LinearRegression().fit(X, X @ [1.0, 2.0]), X[:1])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    probe = (
        "import numpy as np, onnxruntime as o; s = o.InferenceSession('m.onnx', "
        "providers=['CPUExecutionProvider']); print(np.__file__); "
        "np.linalg.inv(np.eye(2)); np.random.default_rng(0).random(3); "
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
    numpy_file, onnxruntime_file = done.stdout.split()[:2]
    for imported in (numpy_file, onnxruntime_file):
        assert imported.startswith(str(site)), "the pruned copies are the ones imported"
    assert "[[3.]]" in done.stdout
