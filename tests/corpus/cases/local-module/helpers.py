import pandas as pd

FEATURES = ["tenure", "monthly", "is_monthly"]


def load(path):
    return pd.read_csv(path)
