"""Generate the synthetic house-price dataset used by house_prices.ipynb.

The houses are invented and the output is deterministic (fixed seed): running
this script again writes the same `data/houses.csv`. Released under CC0.

    python make_data.py            # writes data/houses.csv next to this script
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
ROWS = 2000
OUT = Path(__file__).resolve().parent / "data" / "houses.csv"

NEIGHBORHOODS = {
    "Riverside": 1.25,
    "Old Town": 1.10,
    "Hillcrest": 1.00,
    "Eastgate": 0.85,
    "Mill Park": 0.75,
}
CONDITIONS = {"Excellent": 1.12, "Good": 1.0, "Fair": 0.9, "Poor": 0.78}


def make_houses(rng: np.random.Generator, n: int) -> pd.DataFrame:
    bedrooms = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.08, 0.27, 0.38, 0.2, 0.07])
    area = np.clip(rng.normal(450 + 380 * bedrooms, 220), 350, 4800).round(-1).astype(int)
    return pd.DataFrame(
        {
            "area_sqft": area,
            "bedrooms": bedrooms,
            "bathrooms": np.clip(bedrooms - rng.integers(0, 2, n) + rng.integers(0, 2, n), 1, 4),
            "year_built": rng.integers(1920, 2023, n),
            "lot_size_sqft": np.clip(rng.lognormal(8.6, 0.45, n), 1200, 30000)
            .round(-1)
            .astype(int),
            "garage_spaces": rng.choice([0, 1, 2, 3], size=n, p=[0.2, 0.35, 0.38, 0.07]),
            "distance_to_center_km": rng.gamma(2.5, 3.0, n).round(1),
            "neighborhood": rng.choice(list(NEIGHBORHOODS), size=n),
            "condition": rng.choice(list(CONDITIONS), size=n, p=[0.15, 0.5, 0.27, 0.08]),
        }
    )


def price(df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    base = (
        42_000
        + 118 * df["area_sqft"]
        + 9_000 * df["bathrooms"]
        + 11_000 * df["garage_spaces"]
        + 2.1 * df["lot_size_sqft"]
        + 650 * (df["year_built"] - 1920)
        - 4_200 * df["distance_to_center_km"]
    )
    factor = df["neighborhood"].map(NEIGHBORHOODS) * df["condition"].map(CONDITIONS)
    noise = rng.normal(1.0, 0.08, len(df))
    return np.maximum(base * factor * noise, 45_000).round(-2)


def main() -> None:
    rng = np.random.default_rng(SEED)
    df = make_houses(rng, ROWS)
    df["price"] = price(df, rng).astype(int)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(df)} rows, median price {df['price'].median():,.0f})")


if __name__ == "__main__":
    main()
