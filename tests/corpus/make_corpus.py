# ruff: noqa: E501  (notebook sources are data; one line per case reads best)
"""Write the corpus: one folder per case with its notebook(s) and small data.

Run `python tests/corpus/make_corpus.py` after editing; the output is committed. The
notebooks reproduce patterns seen in real public training notebooks (Colab/Kaggle/Windows
paths, downloads in cells, magics, several models...), written by the team, not copied.
Serving notebooks all import exactly pandas + scikit-learn, so they share one lock and
one deps layer; expected outcomes live in cases.toml.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
CASES = HERE / "cases"

LOAD = "import pandas as pd\nfrom sklearn.tree import DecisionTreeClassifier\n\ndf = pd.read_csv({path!r})\ndf.head()"
SPLIT = 'X = df[["tenure", "monthly", "is_monthly"]]\ny = df["churn"]'
FIT = "model = DecisionTreeClassifier(random_state=0).fit(X, y)\nprint(model.score(X, y))"


def churn_rows() -> str:
    lines = ["customer,tenure,monthly,is_monthly,total,churn"]
    for i in range(48):
        tenure = (i * 7) % 40 + 1
        monthly = 20.0 + (i * 13) % 70
        is_monthly = 1 if i % 3 else 0
        churn = "Yes" if is_monthly and tenure < 12 else "No"
        lines.append(f"c{i:03d},{tenure},{monthly:.1f},{is_monthly},{2 * tenure + 5},{churn}")
    return "\n".join(lines) + "\n"


def notebook(*cells: str | tuple[str, list[str]], python: str = "3.11.4") -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python", "version": python}
    nb.cells.append(new_markdown_cell("Corpus notebook (see tests/corpus/cases.toml)."))
    for count, item in enumerate(cells, start=1):
        source, tags = item if isinstance(item, tuple) else (item, [])
        cell = new_code_cell(source, execution_count=count)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def fitted_notebook(*after: str, python: str = "3.11.4") -> nbformat.NotebookNode:
    """The churn notebook (data/churn.csv) with `after` cells once the model is fitted."""
    return notebook(LOAD.format(path="data/churn.csv"), SPLIT, FIT, *after, python=python)


def churn_notebook(path: str, *extra: str | tuple[str, list[str]]) -> nbformat.NotebookNode:
    return notebook(LOAD.format(path=path), SPLIT, *extra, FIT)


def write(case: str, files: dict[str, object]) -> None:
    root = CASES / case
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, str(target))
        else:
            target.write_text(str(content))


# A churn notebook that reads its data by a path that works, or does not, where it runs:
# (case, the notebook's path, the path it reads, where the data is in the repository).
READ_PATH_CASES = [
    ("relative-path", "train.ipynb", "data/churn.csv", "data/churn.csv"),
    ("colab-content", "train.ipynb", "/content/churn.csv", "data/churn.csv"),
    ("colab-drive", "train.ipynb", "/content/drive/MyDrive/ml/churn.csv", "churn.csv"),
    ("kaggle-input", "train.ipynb", "/kaggle/input/telco-churn/churn.csv", "data/churn.csv"),
    ("windows-backslash", "train.ipynb", "C:\\Users\\me\\Downloads\\churn.csv", "data/churn.csv"),
    ("windows-forward-slash", "train.ipynb", "D:/datasets/churn.csv", "churn.csv"),
    ("case-mismatch", "train.ipynb", "data/Churn.csv", "data/churn.csv"),
    ("wrong-subfolder", "train.ipynb", "data/churn.csv", "churn.csv"),
    ("notebook-relative", "notebooks/train.ipynb", "../data/churn.csv", "data/churn.csv"),
    ("repo-root-relative", "notebooks/train.ipynb", "data/churn.csv", "data/churn.csv"),
    ("absolute-home", "train.ipynb", "/home/alice/projects/churn/churn.csv", "data/churn.csv"),
]


def serving_cases(data: str) -> None:
    for case, train, reads, data_path in READ_PATH_CASES:
        write(case, {train: churn_notebook(reads), data_path: data})
    magics = notebook(
        "%matplotlib inline\n%load_ext autoreload\n%autoreload 2",
        "%pip install -q pandas scikit-learn",
        LOAD.format(path="data/churn.csv"),
        "!ls data\nfiles = !ls data\nprint(files)",
        "df.describe?",
        SPLIT,
        "%%time\n" + FIT,
    )
    write("magics-and-shell", {"train.ipynb": magics, "data/churn.csv": data})
    several = notebook(
        LOAD.format(path="data/churn.csv"),
        SPLIT,
        "from sklearn.linear_model import LogisticRegression\nbaseline = LogisticRegression(max_iter=500).fit(X, y)",
        "tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)",
        FIT,
    )
    write("several-models", {"train.ipynb": several, "data/churn.csv": data})
    tagged = notebook(
        LOAD.format(path="data/churn.csv"),
        SPLIT,
        ("best = DecisionTreeClassifier(random_state=0).fit(X, y)", ["nb2svc:model"]),
        "from sklearn.linear_model import LogisticRegression\nmodel = LogisticRegression(max_iter=500).fit(X, y)",
    )
    write("tagged-model", {"train.ipynb": tagged, "data/churn.csv": data})
    helpers = 'import pandas as pd\n\nFEATURES = ["tenure", "monthly", "is_monthly"]\n\n\ndef load(path):\n    return pd.read_csv(path)\n'
    local = notebook(
        "from helpers import FEATURES, load\nfrom sklearn.tree import DecisionTreeClassifier",
        'df = load("data/churn.csv")\nX, y = df[FEATURES], df["churn"]',
        FIT,
    )
    write("local-module", {"train.ipynb": local, "helpers.py": helpers, "data/churn.csv": data})
    writefile = notebook(
        '%%writefile features.py\nFEATURES = ["tenure", "monthly", "is_monthly"]\n',
        "import features\n" + LOAD.format(path="data/churn.csv"),
        'X, y = df[features.FEATURES], df["churn"]',
        FIT,
    )
    write("writefile-module", {"train.ipynb": writefile, "data/churn.csv": data})
    legacy = notebook(
        "try:\n    import cPickle as pickle\nexcept ImportError:\n    import pickle\nfrom IPython.display import display, HTML",
        LOAD.format(path="data/churn.csv"),
        "display(df.head())\nHTML('<b>ok</b>')",
        SPLIT,
        FIT,
    )
    write("py2-fallbacks-and-display", {"train.ipynb": legacy, "data/churn.csv": data})
    regression = notebook(
        'import pandas as pd\nfrom sklearn.linear_model import LinearRegression\n\ndf = pd.read_csv("/content/churn.csv")',
        'X = df[["tenure", "monthly", "is_monthly"]]\ny = df["total"]',
        "model = LinearRegression().fit(X, y)",
    )
    write("regression-colab", {"train.ipynb": regression, "data/churn.csv": data})
    params = notebook(
        ("MAX_DEPTH = 1", ["parameters"]),
        LOAD.format(path="data/churn.csv"),
        SPLIT,
        "model = DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=0).fit(X, y)",
    )
    write("parameter-override", {"train.ipynb": params, "data/churn.csv": data})
    allowed = churn_notebook(
        "data/churn.csv",
        'import urllib.request\nwith urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=20) as r:\n    print(r.status)',
    )
    write("network-allowed", {"train.ipynb": allowed, "data/churn.csv": data})
    write("era-unpinned", {"train.ipynb": churn_notebook("data/churn.csv"), "data/churn.csv": data})
    # The model's libraries pinned below the server's newest: pandas 1.x and numpy 1.x serve.
    pins = "pandas>=1.3.0,<2.0.0\nnumpy<2\nscikit-learn\n"
    versions = 'print("pandas", pd.__version__)'
    write(
        "pins-pandas-1",
        {
            "train.ipynb": churn_notebook("data/churn.csv", versions),
            "requirements.txt": pins,
            "data/churn.csv": data,
        },
    )
    # Plots and reports written into folders git does not carry (the author's outputs).
    plots = churn_notebook(
        "data/churn.csv",
        'import matplotlib.pyplot as plt\nplt.hist(df["tenure"])\nplt.savefig("charts/attrition.png")\ndf.describe().to_csv("reports/summary/stats.csv")',
    )
    write("writes-uncommitted-folder", {"train.ipynb": plots, "data/churn.csv": data})
    # Saves its model, then loads it back in a Tkinter form that demonstrates it.
    gui = fitted_notebook(
        'import joblib\njoblib.dump(model, "Churn_Modelling")',
        'import tkinter as tk\nloaded = joblib.load("Churn_Modelling")\nroot = tk.Tk()\nroot.title("Churn")\ntk.Button(root, text="Predict", command=lambda: print(loaded.predict([[3, 70.0, 1]]))).pack()\nroot.mainloop()',
    )
    write("dump-reload-gui-demo", {"train.ipynb": gui, "data/churn.csv": data})
    # The model's name reused for a plot after the fit.
    rebound = fitted_notebook(
        'import matplotlib.pyplot as plt\nmodel = df["tenure"].plot(kind="hist")\nplt.title("tenure")',
    )
    write("model-rebound-after-fit", {"train.ipynb": rebound, "data/churn.csv": data})
    # A zip download of an old notebook: no git history, dated by its 3.7 kernel.
    unzipped = fitted_notebook(python="3.7.3")
    write("no-history-old-kernel", {"train.ipynb": unzipped, "data/churn.csv": data})
    # Every Python the offline bases offer trains and serves: a 3.7 kernel gets the 3.9 base.
    old_kernel = fitted_notebook(python="3.7.6")
    write("python-3.7-kernel", {"train.ipynb": old_kernel, "data/churn.csv": data})
    write("python-3.13", {"train.ipynb": churn_notebook("data/churn.csv"), "data/churn.csv": data})
    # Written for scikit-learn < 1.2 (plot_confusion_matrix); the lock of its date has 1.6.
    removed = churn_notebook(
        "data/churn.csv", "from sklearn.metrics import plot_confusion_matrix, accuracy_score"
    )
    write("removed-api-retried", {"train.ipynb": removed, "data/churn.csv": data})
    # pydotplus was only ever published as source: the deps stage builds it.
    tree_graph = fitted_notebook(
        'import pydotplus\nfrom sklearn.tree import export_graphviz\n\ngraph = pydotplus.graph_from_dot_data(export_graphviz(model, out_file=None, feature_names=list(X.columns)))\nprint(len(graph.get_nodes()), "nodes")',
    )
    write("sdist-only-dependency", {"train.ipynb": tree_graph, "data/churn.csv": data})
    # statsmodels.tsa.arima_model (gone in 0.13) on a Python 3.9 kernel: 0.12.2 has a wheel.
    arima = notebook(
        'import pandas as pd\nfrom statsmodels.tsa.arima_model import ARIMA\n\nsales = pd.read_csv("data/sales.csv", index_col="month", parse_dates=True)["sales"]\nsales.index.freq = "MS"',
        "model = ARIMA(sales, order=(1, 0, 0)).fit()\nprint(model.params)",
        python="3.9.7",
    )
    write(
        "removed-submodule-retried-py39",
        {"train.ipynb": arima, "data/sales.csv": monthly_sales_rows()},
    )


def failing_cases(data: str) -> None:
    # sklearn.cross_validation went in 0.20; 0.19 has no wheel for any offered Python.
    cv = churn_notebook("data/churn.csv", "from sklearn.cross_validation import train_test_split")
    write("removed-submodule-no-wheel", {"train.ipynb": cv, "data/churn.csv": data})
    download = 'import urllib.request\nurllib.request.urlretrieve("https://example.com/churn.csv", "churn.csv")'
    write(
        "download-urlretrieve",
        {"train.ipynb": notebook(download, LOAD.format(path="churn.csv"), SPLIT, FIT)},
    )
    write(
        "download-wget",
        {
            "train.ipynb": notebook(
                "!wget -q https://example.com/churn.csv", LOAD.format(path="churn.csv"), SPLIT, FIT
            )
        },
    )
    write(
        "download-kaggle-cli",
        {
            "train.ipynb": notebook(
                "!kaggle datasets download -d someone/telco-churn --unzip",
                LOAD.format(path="churn.csv"),
                SPLIT,
                FIT,
            )
        },
    )
    write(
        "download-nltk",
        {
            "train.ipynb": notebook(
                "import nltk\nnltk.download('stopwords')",
                LOAD.format(path="data/churn.csv"),
                SPLIT,
                FIT,
            ),
            "data/churn.csv": data,
        },
    )
    write(
        "read-csv-url",
        {
            "train.ipynb": churn_notebook(
                "https://raw.githubusercontent.com/someone/data/main/churn.csv"
            )
        },
    )
    openml = "from sklearn.datasets import fetch_openml\nbunch = fetch_openml('credit-g', version=1, as_frame=True)"
    write(
        "fetch-openml",
        {
            "train.ipynb": notebook(
                openml, "model = DecisionTreeClassifier().fit(bunch.data, bunch.target)"
            )
        },
    )
    write("remote-s3", {"train.ipynb": churn_notebook("s3://acme-ml/churn.csv")})
    write(
        "ambiguous-file",
        {
            "train.ipynb": churn_notebook("/content/train.csv"),
            "a/train.csv": data,
            "b/train.csv": data,
        },
    )
    write(
        "missing-file",
        {
            "train.ipynb": churn_notebook("/kaggle/input/telco/customers.csv"),
            "data/churn.csv": data,
        },
    )
    write(
        "unknown-import",
        {
            "train.ipynb": notebook(
                "import acme_internal_features as aif",
                LOAD.format(path="data/churn.csv"),
                SPLIT,
                FIT,
            ),
            "data/churn.csv": data,
        },
    )
    write(
        "python2-print",
        {
            "train.ipynb": notebook(
                'print "training"', LOAD.format(path="data/churn.csv"), SPLIT, FIT
            ),
            "data/churn.csv": data,
        },
    )
    old = notebook(
        "%pip install tensorflow==1.15.0",
        "import tensorflow as tf\nprint(tf.__version__)",
        python="3.6.9",
    )
    write("python-too-old", {"train.ipynb": old})
    hidden = 'import http.client\nconn = http.client.HTTPSConnection("example.com", timeout=10)\nconn.request("GET", "/churn.csv")'
    write(
        "runtime-download-blocked",
        {"train.ipynb": churn_notebook("data/churn.csv", hidden), "data/churn.csv": data},
    )
    write(
        "train-timeout",
        {
            "train.ipynb": churn_notebook("data/churn.csv", "import time\ntime.sleep(120)"),
            "data/churn.csv": data,
        },
    )
    write(
        "cell-error",
        {
            "train.ipynb": churn_notebook("data/churn.csv", 'df["contract_type"].value_counts()'),
            "data/churn.csv": data,
        },
    )
    no_model = notebook(
        LOAD.format(path="data/churn.csv"),
        "summary = df.groupby('churn').mean(numeric_only=True)\nprint(summary)",
    )
    write("no-model", {"train.ipynb": no_model, "data/churn.csv": data})


FRAMEWORKS = (
    "import pandas as pd\nimport statsmodels.formula.api as smf\n"
    "from catboost import CatBoostClassifier\nfrom lightgbm import LGBMClassifier\n"
    "from xgboost import XGBClassifier\n\ndf = pd.read_csv('data/churn.csv')"
)
FRAMEWORK_FITS = {
    "xgboost": "y01 = (y == 'Yes').astype(int)\n"
    "model = XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y01)",
    "lightgbm": "model = LGBMClassifier(n_estimators=30, min_child_samples=2, verbose=-1)\n"
    "model.fit(X, y)",
    "catboost": "model = CatBoostClassifier(iterations=60, depth=3, random_seed=0, verbose=0)\n"
    "model.fit(X, y)",
    "statsmodels": "model = smf.ols('total ~ tenure + monthly', data=df[['tenure', 'monthly', 'total']]).fit()\n"
    "model.summary()",
}


TORCH_LOAD = """import numpy as np
import pandas as pd
import torch
from torch import nn

torch.manual_seed(0)
df = pd.read_csv("data/churn.csv")
features = ["tenure", "monthly", "is_monthly"]
X = torch.tensor(df[features].values, dtype=torch.float32)
y = torch.tensor((df["churn"] == "Yes").values, dtype=torch.float32).unsqueeze(1)"""
TORCH_MODEL = """class ChurnNet(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


model = ChurnNet(X.mean(0), X.std(0))
loss_fn = nn.BCELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.05)"""
TORCH_TRAIN = """for epoch in range(300):
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
print(f"final loss {loss.item():.4f}")"""


KERAS_LOAD = """import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow import keras

tf.random.set_seed(0)
df = pd.read_csv("data/churn.csv")
features = ["tenure", "monthly", "is_monthly"]
X = df[features].to_numpy(dtype="float32")
y = (df["churn"] == "Yes").to_numpy(dtype="float32")"""
KERAS_FIT = """normalize = keras.layers.Normalization()
normalize.adapt(X)
model = keras.Sequential([
    keras.Input(shape=(3,)),
    normalize,
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
history = model.fit(X, y, epochs=200, verbose=0)
print("final loss", history.history["loss"][-1])"""

# Written for Keras 2 (keras.engine went private in 2.13): standalone `import keras`, which
# runs on TensorFlow; the first build's Keras 3 lacks keras.engine, the retry caps it.
KERAS2_LOAD = """import numpy as np
import pandas as pd
import keras
from keras.engine.sequential import Sequential

df = pd.read_csv("data/churn.csv")
features = ["tenure", "monthly", "is_monthly"]
X = df[features].to_numpy(dtype="float32")
y = (df["churn"] == "Yes").to_numpy(dtype="float32")"""
KERAS2_FIT = """keras.utils.set_random_seed(0)
normalize = keras.layers.Normalization()
normalize.adapt(X)
model = Sequential([
    keras.Input(shape=(3,)),
    normalize,
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
history = model.fit(X, y, epochs=200, verbose=0)
print("final loss", history.history["loss"][-1])"""


def framework_cases(data: str) -> None:
    """One notebook per library; all import the same five, so they share one lock."""
    for name, fit in FRAMEWORK_FITS.items():
        nb = notebook(FRAMEWORKS, SPLIT, fit)
        write(f"framework-{name}", {"train.ipynb": nb, "data/churn.csv": data})
    torch_nb = notebook(TORCH_LOAD, TORCH_MODEL, TORCH_TRAIN)
    write("framework-pytorch", {"train.ipynb": torch_nb, "data/churn.csv": data})
    keras_nb = notebook(KERAS_LOAD, KERAS_FIT)
    write("framework-keras", {"train.ipynb": keras_nb, "data/churn.csv": data})
    keras2_nb = notebook(KERAS2_LOAD, KERAS2_FIT)
    write("keras2-engine-api", {"train.ipynb": keras2_nb, "data/churn.csv": data})


def monthly_sales_rows() -> str:
    """Eight years of monthly sales around 300: a seasonal AR process, (1 - 0.5B)(1 - 0.7B^12),
    with reproducible noise (no numpy), so SARIMAX's fit is well identified."""
    lines, noise, x = ["month,sales"], 12345, []
    for i in range(156):  # the first 60 months are burn-in, not written
        noise = (noise * 1103515245 + 12345) % 2**31
        lag = [x[-k] if len(x) >= k else 0.0 for k in (1, 12, 13)]
        start = 15 * math.sin(2 * math.pi * i / 12) if i < 12 else 0.0
        x.append(0.5 * lag[0] + 0.7 * lag[1] - 0.35 * lag[2] + (noise / 2**31 - 0.5) * 10 + start)
    for j, value in enumerate(x[60:]):
        lines.append(f"{2017 + j // 12}-{j % 12 + 1:02d}-01,{300 + value:.2f}")
    return "\n".join(lines) + "\n"


SARIMAX_LOAD = """import pandas as pd
from statsmodels.tsa.statespace.sarimax import SARIMAX

df = pd.read_csv("data/sales.csv", parse_dates=["month"], index_col="month").asfreq("MS")
df.tail()"""
SARIMAX_FIT = """y = df["sales"]
model = SARIMAX(y, order=(1, 0, 0), seasonal_order=(1, 0, 0, 12), trend="c")
results = model.fit(disp=False, maxiter=200)
print(results.summary())"""
SARIMAX_USE = "forecast = results.get_forecast(steps=12)\nforecast.summary_frame().head()"


def forecast_cases() -> None:
    """A forecaster: served with the forecast contract ({"steps": n} -> dates, mean, intervals)."""
    nb = notebook(SARIMAX_LOAD, SARIMAX_FIT, SARIMAX_USE)
    write("forecast-sarimax", {"train.ipynb": nb, "data/sales.csv": monthly_sales_rows()})


def main() -> None:
    shutil.rmtree(CASES, ignore_errors=True)
    data = churn_rows()
    serving_cases(data)
    framework_cases(data)
    forecast_cases()
    failing_cases(data)
    print(f"wrote {len(list(CASES.iterdir()))} cases under {CASES}")


if __name__ == "__main__":
    main()
