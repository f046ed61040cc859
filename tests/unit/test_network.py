"""Network use: which cells would download something while the notebook trains."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nb2svc.analysis.network import AnalyzedCell, NetworkUse, find_network_use
from nb2svc.notebook.load import load_notebook
from nb2svc.notebook.transform import transform_cell
from nbformat import v4


def notebook(tmp_path: Path, *sources: str) -> list[AnalyzedCell]:
    """Write a real notebook with these code cells, load it and transform every cell."""
    nb = v4.new_notebook(cells=[v4.new_code_cell(s) for s in sources])
    path = tmp_path / "train.ipynb"
    nbformat.write(nb, path)
    return [(c, transform_cell(c.source)) for c in load_notebook(path).code_cells]


def uses(tmp_path: Path, *sources: str) -> list[tuple[int, int, str]]:
    return [(u.cell.index, u.line, u.what) for u in find_network_use(notebook(tmp_path, *sources))]


@pytest.mark.parametrize(
    "cells",
    [
        pytest.param(
            ["import pandas as pd\ndf = pd.read_csv('data/x.csv')\ndf.head()"],
            id="reading-local-files",
        ),
        pytest.param(["print('data from https://x.org/data.csv')"], id="a-url-in-a-print-call"),
        pytest.param(
            ["!pip install -q scikit-learn", "%pip install pandas"],
            id="pip-installs-left-to-the-dependency-resolver",
        ),
    ],
)
def test_cells_that_download_nothing_use_no_network(tmp_path: Path, cells: list[str]) -> None:
    assert uses(tmp_path, *cells) == []


def test_urllib_downloads_are_found_with_their_url(tmp_path: Path) -> None:
    cells = notebook(
        tmp_path,
        "import urllib.request",
        "url = 'x'\nurllib.request.urlretrieve('https://example.org/d.zip', 'd.zip')",
    )
    [use] = find_network_use(cells)
    assert (use.cell.index, use.line, use.url) == (2, 2, "https://example.org/d.zip")
    assert use.what == "urllib.request.urlretrieve"


def test_from_imports_and_aliases_are_resolved(tmp_path: Path) -> None:
    found = uses(
        tmp_path,
        "from urllib.request import urlopen\nimport requests as rq",
        "data = urlopen('http://x.org/a').read()\nr = rq.get('http://x.org/b')",
    )
    assert found == [
        (2, 1, "urllib.request.urlopen"),
        (2, 2, "requests.get (HTTP)"),
    ]


def test_dataset_downloaders_of_common_libraries(tmp_path: Path) -> None:
    found = uses(
        tmp_path,
        "import nltk\nnltk.download('stopwords')",
        "from sklearn.datasets import fetch_openml, load_iris\n"
        "X, y = fetch_openml('mnist_784', return_X_y=True)\n"
        "iris = load_iris()",
        "import statsmodels.api as sm\nmtcars = sm.datasets.get_rdataset('mtcars').data",
        "import tensorflow as tf\np = tf.keras.utils.get_file('a.csv', 'https://x.org/a.csv')",
        "from datasets import load_dataset\nds = load_dataset('imdb')",
        "import seaborn as sns\ntips = sns.load_dataset('tips')",
    )
    assert [w for _, _, w in found] == [
        "nltk.download (corpus download)",
        "scikit-learn fetch_openml (downloads the data set)",
        "statsmodels get_rdataset (downloads R data)",
        "keras get_file (download)",
        "datasets.load_dataset (Hugging Face Hub)",
        "seaborn.load_dataset (downloads from GitHub)",
    ]


def test_pandas_reading_a_url_is_network_use(tmp_path: Path) -> None:
    [use] = find_network_use(
        notebook(tmp_path, "import pandas as pd\ndf = pd.read_csv('https://x.org/data.csv')")
    )
    assert use.url == "https://x.org/data.csv"
    assert "pandas.read_csv" in use.what


def test_shell_downloads_are_found_on_their_own_line(tmp_path: Path) -> None:
    found = uses(
        tmp_path,
        "x = 1\n!wget -q https://x.org/a.zip && unzip a.zip",
        "!kaggle datasets download -d user/titanic",
        "!git clone https://github.com/user/repo.git\n!ls",
        "%%bash\necho start\ncurl -L -o b.csv https://x.org/b.csv",
    )
    assert found == [(1, 2, "!wget"), (2, 1, "!kaggle"), (3, 1, "!git clone"), (4, 3, "!curl")]


def test_model_hubs_and_kaggle_api_count_as_network(tmp_path: Path) -> None:
    found = uses(
        tmp_path,
        "from transformers import AutoModel\nm = AutoModel.from_pretrained('bert-base-uncased')",
        "from kaggle.api.kaggle_api_extended import KaggleApi\napi = KaggleApi()\n"
        "api.dataset_download_files('user/data', path='data', unzip=True)",
        "from torchvision import datasets\nds = datasets.MNIST('data', download=True)",
    )
    assert [(c, line) for c, line, _ in found] == [(1, 2), (2, 3), (3, 2)]


def test_google_drive_mount_is_reported_as_colab_only(tmp_path: Path) -> None:
    found = uses(tmp_path, "from google.colab import drive\ndrive.mount('/content/drive')")
    assert found == [(1, 2, "google.colab.drive.mount (Colab only)")]


def test_cells_that_do_not_parse_are_skipped_without_crashing(tmp_path: Path) -> None:
    found = uses(tmp_path, "def broken(:\n  pass", "import nltk\nnltk.download('punkt')")
    assert found == [(2, 2, "nltk.download (corpus download)")]


def test_calls_inside_functions_are_found(tmp_path: Path) -> None:
    source = "import requests\ndef fetch(u):\n    return requests.get(u).json()\n"
    assert uses(tmp_path, source) == [(1, 3, "requests.get (HTTP)")]


def test_results_serialize_and_read_as_a_warning(tmp_path: Path) -> None:
    [use] = find_network_use(notebook(tmp_path, "import nltk\nnltk.download('punkt')"))
    assert use.to_json() == {
        "cell": 1,
        "execution_count": None,
        "line": 2,
        "what": "nltk.download (corpus download)",
        "url": None,
    }
    assert use.describe().startswith("cell 1, line 2 uses the network: nltk.download")
    assert isinstance(use, NetworkUse)
