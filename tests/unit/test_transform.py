"""transform_cell: IPython cells become plain Python, line for line, naming what is not Python."""

from __future__ import annotations

import ast

import pytest
from nb2svc.notebook.transform import (
    ShellCommand,
    TransformedCell,
    WrittenFile,
    classify_command,
    transform_cell,
)


def imports(cell: TransformedCell) -> dict[str, int]:
    """Imported module -> line, as the dependency scanner sees them."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(cell.code)):
        if isinstance(node, ast.Import):
            found.update({alias.name: node.lineno for alias in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            found[node.module] = node.lineno
    return found


def kinds(cell: TransformedCell) -> list[tuple[int, str, str]]:
    return [(cmd.line, cmd.kind, cmd.name) for cmd in cell.shell]


def assert_line_for_line(source: str, cell: TransformedCell) -> None:
    assert len(cell.code.splitlines()) == len(source.splitlines())


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import pandas as pd\n\ndf = pd.read_csv('x.csv')\ndf.head()", id="plain"),
        pytest.param(
            "time = 3\nenv = make('CartPole')\nenv\nls -la\nrun(1)",
            id="names-that-happen-to-be-magics",
        ),
        pytest.param('doc = """\n%time x\n!rm -rf /\n"""', id="magics-inside-strings"),
    ],
)
def test_python_is_unchanged_and_reports_nothing(source: str) -> None:
    cell = transform_cell(source)
    assert cell.code == source + "\n"
    assert cell.shell == ()
    assert cell.syntax_error is None


def test_line_magics_become_shim_calls_on_the_same_line() -> None:
    source = "%matplotlib inline\nimport numpy as np\n%load_ext autoreload\n%cd data\n%env SEED=1"
    cell = transform_cell(source)
    assert cell.code.splitlines()[0] == "get_ipython().run_line_magic('matplotlib', 'inline')"
    assert imports(cell) == {"numpy": 2}
    assert kinds(cell) == [
        (1, "magic", "matplotlib"),
        (3, "magic", "load_ext"),
        (4, "magic", "cd"),
        (5, "magic", "env"),
    ]
    assert cell.shell[2].text == "cd data"


def test_time_line_magic_keeps_the_statement_it_times() -> None:
    cell = transform_cell("%time model = fit(X, y)\nscore = %timeit -n 3 -r 1 evaluate(model)")
    lines = cell.code.splitlines()
    assert lines[0].startswith("model = fit(X, y)")
    assert lines[1].startswith("score = evaluate(model)")
    assert kinds(cell) == [(1, "magic", "time"), (2, "magic", "timeit")]


def test_pip_and_conda_installs_are_reported_with_their_arguments() -> None:
    source = (
        "%pip install -q xgboost==2.0\n!pip install lightgbm\n%conda install -c conda-forge shap"
    )
    cell = transform_cell(source)
    assert [(c.kind, c.name, c.text) for c in cell.shell] == [
        ("pip", "pip", "pip install -q xgboost==2.0"),
        ("pip", "pip", "pip install lightgbm"),
        ("conda", "conda", "conda install -c conda-forge shap"),
    ]


@pytest.mark.parametrize(
    ("command", "kind", "program"),
    [
        ("pip3 install -U scikit-learn", "pip", "pip3"),
        ("python -m pip install pandas", "pip", "pip"),
        ("sudo apt-get install -y libgomp1", "apt", "apt-get"),
        ("apt install graphviz", "apt", "apt"),
        ("mamba install -y numba", "conda", "mamba"),
        ("cd src && pip install -e .", "pip", "pip"),
        ("wget https://example.com/data.csv", "shell", "wget"),
        ("pip list", "shell", "pip"),
        ("/usr/bin/unzip data.zip", "shell", "unzip"),
    ],
)
def test_shell_commands_are_classified_by_what_they_install(
    command: str, kind: str, program: str
) -> None:
    assert classify_command(command) == (kind, program)


def test_shell_lines_and_captured_output_run_through_the_shim() -> None:
    cell = transform_cell("!wget -q https://x/data.csv\nfiles = !ls data\n!!date")
    assert cell.code.splitlines() == [
        "get_ipython().system('wget -q https://x/data.csv')",
        "files = get_ipython().getoutput('ls data')",
        "get_ipython().getoutput('date')",
    ]
    assert kinds(cell) == [(1, "shell", "wget"), (2, "shell", "ls"), (3, "shell", "date")]


def test_apt_get_is_reported_as_a_system_package_install() -> None:
    cell = transform_cell("!apt-get install -y libgomp1")
    assert cell.shell == (ShellCommand(1, "apt", "apt-get", "apt-get install -y libgomp1"),)


def test_help_lines_are_dropped_but_keep_their_line() -> None:
    source = "df?\n??df\ndf.describe??\nx = 1"
    cell = transform_cell(source)
    assert_line_for_line(source, cell)
    assert all(line.startswith("pass  # nb2svc: help") for line in cell.code.splitlines()[:3])
    assert [c.name for c in cell.shell] == ["pinfo", "pinfo2", "pinfo2"]


def test_automagic_pip_install_is_a_pip_magic_not_a_syntax_error() -> None:
    cell = transform_cell("pip install catboost\nconda install -y numba\ncd ..\nimport catboost")
    assert cell.syntax_error is None
    assert kinds(cell) == [(1, "pip", "pip"), (2, "conda", "conda"), (3, "magic", "cd")]
    assert imports(cell) == {"catboost": 4}


def test_magics_inside_indented_blocks_keep_the_block_valid() -> None:
    source = "for seed in range(3):\n    %time fit(seed)\n    !echo {seed}\n    model?\n"
    cell = transform_cell(source)
    assert cell.syntax_error is None
    lines = cell.code.splitlines()
    assert lines[1].startswith("    fit(seed)")
    assert lines[2] == "    get_ipython().system('echo {seed}')"
    assert lines[3].startswith("    pass")


def test_time_cell_magic_keeps_its_body_so_imports_are_seen() -> None:
    source = "%%time\nimport xgboost as xgb\nmodel = xgb.XGBClassifier()\n!nvidia-smi"
    cell = transform_cell(source)
    assert imports(cell) == {"xgboost": 2}
    assert kinds(cell) == [(1, "cell-magic", "time"), (4, "shell", "nvidia-smi")]
    assert_line_for_line(source, cell)


@pytest.mark.parametrize("header", ["%%timeit", "%%capture", "%%capture --no-stderr out"])
def test_timeit_and_capture_cell_magics_keep_their_body(header: str) -> None:
    cell = transform_cell(f"{header}\nimport lightgbm\n")
    assert imports(cell) == {"lightgbm": 2}
    assert cell.skipped_body is None


def test_capture_with_a_name_binds_that_name() -> None:
    cell = transform_cell("%%capture out\nprint(1)")
    assert cell.code.splitlines()[0].startswith("out = get_ipython().run_cell_magic('capture'")


def test_cell_magic_after_leading_blank_lines_is_still_a_cell_magic() -> None:
    cell = transform_cell("\n\n%%time\nimport torch")
    assert imports(cell) == {"torch": 4}
    assert cell.shell[0] == ShellCommand(3, "cell-magic", "time", "time")


@pytest.mark.parametrize("header", ["%%bash", "%%sh", "%%script bash"])
def test_shell_cells_run_as_one_script_and_report_each_line(header: str) -> None:
    source = f"{header}\nmkdir -p data\npip install -q pyarrow\n# a comment\n"
    cell = transform_cell(source)
    assert cell.syntax_error is None
    assert_line_for_line(source, cell)
    assert kinds(cell)[1:] == [(2, "shell", "mkdir"), (3, "pip", "pip")]
    call = ast.parse(cell.code).body[0]
    assert isinstance(call, ast.Expr)
    assert isinstance(call.value, ast.Call)
    assert (
        ast.literal_eval(call.value.args[2])
        == "mkdir -p data\npip install -q pyarrow\n# a comment\n"
    )


def test_writefile_is_recorded_and_written_by_a_helper_call() -> None:
    body = "import os\n\ndef path(name):\n    return os.path.join('data', \"x\\\\\" + name)\n"
    source = "%%writefile -a utils/helpers.py\n" + body
    cell = transform_cell(source)
    assert cell.written_files == (WrittenFile(1, "utils/helpers.py", body, append=True),)
    assert imports(cell) == {}  # the file's imports are the file's, seen when it is imported
    call = ast.parse(cell.code).body[0]
    assert isinstance(call, ast.Expr)
    assert isinstance(call.value, ast.Call)
    assert [ast.literal_eval(a) for a in call.value.args] == [
        "writefile",
        "-a utils/helpers.py",
        body,
    ]
    assert_line_for_line(source, cell)


@pytest.mark.parametrize("magic", ["html", "javascript", "markdown", "latex", "sql", "svg"])
def test_display_cell_magics_are_skipped(magic: str) -> None:
    cell = transform_cell(f"%%{magic}\n<b>select * from t</b>\n")
    assert cell.skipped_body == f"%%{magic}"
    assert cell.syntax_error is None
    assert ast.parse(cell.code).body == []


def test_ipython_display_imports_become_shims_so_ipython_is_not_a_dependency() -> None:
    source = (
        "from IPython.display import display, HTML\n"
        "import IPython.display as ipd\n"
        "from IPython import get_ipython\n"
        "display(HTML('<b>ok</b>'))"
    )
    cell = transform_cell(source)
    assert imports(cell) == {}
    assert cell.code.splitlines()[0] == (
        "display, HTML = get_ipython().shim_import('IPython.display', 'display', 'HTML')"
    )
    assert cell.code.splitlines()[1] == "ipd = get_ipython().shim_import('IPython.display')"
    assert len(cell.notes) == 3


def test_future_imports_are_lifted_out_for_the_top_of_train_py() -> None:
    cell = transform_cell("from __future__ import annotations\nx: int = 1")
    assert cell.future_imports == ("annotations",)
    assert cell.code.splitlines()[0].startswith("pass  # nb2svc")


def test_continued_magic_lines_keep_the_cell_numbering() -> None:
    source = "%pip install numpy \\\n    pandas\nimport numpy"
    cell = transform_cell(source)
    assert_line_for_line(source, cell)
    assert imports(cell) == {"numpy": 3}


@pytest.mark.parametrize(
    ("source", "lineno", "says"),
    [
        pytest.param(
            "x = 1\ndef broken(:\n    pass",
            2,
            "",
            id="a-cell-that-does-not-parse-reports-the-error-and-never-raises",
        ),
        pytest.param('print "hello"', 1, "print", id="python2-print-is-a-syntax-error"),
        pytest.param(
            "import os\n%%time\nx = 1",
            2,
            "first line",
            id="a-cell-magic-below-the-first-line-is-an-error-as-in-jupyter",
        ),
        pytest.param(
            "%%time\nx = 1\ny = (",
            3,
            "never closed",
            id="an-error-inside-a-time-cell-body-points-at-the-cell-line",
        ),
        pytest.param(
            "%%writefile\nx = 1", 1, "needs a file name", id="writefile-without-a-file-name"
        ),
    ],
)
def test_a_syntax_error_is_reported_at_its_cell_line(source: str, lineno: int, says: str) -> None:
    error = transform_cell(source).syntax_error
    assert error is not None
    assert (error.lineno, says in error.msg) == (lineno, True), error.msg


def test_empty_cell_is_fine() -> None:
    cell = transform_cell("")
    assert cell.syntax_error is None
    assert cell.shell == ()


def test_lone_question_mark_and_empty_time_cell_are_harmless() -> None:
    assert transform_cell("?").code == "pass  # nb2svc: ?\n"
    assert transform_cell("%%time").code.count("\n") == 1
