"""Generate the synthetic customer-churn dataset used by churn.ipynb.

The data is invented (no real customers) and deterministic: running this script
again writes the same `data/churn.csv` byte for byte. Released under CC0.

    python make_data.py            # writes data/churn.csv next to this script
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
ROWS = 2400
OUT = Path(__file__).resolve().parent / "data" / "churn.csv"

CONTRACTS = ["Month-to-month", "One year", "Two year"]
INTERNET = ["DSL", "Fiber optic", "No"]
PAYMENTS = ["Electronic check", "Mailed check", "Bank transfer", "Credit card"]


def make_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    contract = rng.choice(CONTRACTS, size=n, p=[0.55, 0.25, 0.20])
    # Longer contracts go with longer tenure.
    base_tenure = np.select(
        [contract == "Month-to-month", contract == "One year"], [14.0, 32.0], default=48.0
    )
    tenure = np.clip(rng.normal(base_tenure, 14.0), 0, 72).round().astype(int)
    internet = rng.choice(INTERNET, size=n, p=[0.35, 0.45, 0.20])
    base_charge = np.select([internet == "Fiber optic", internet == "DSL"], [82.0, 55.0], 22.0)
    monthly = np.clip(rng.normal(base_charge, 11.0), 18.0, 120.0).round(2)
    return pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(n)],
            "gender": rng.choice(["Female", "Male"], size=n),
            "senior_citizen": (rng.random(n) < 0.16).astype(int),
            "partner": rng.choice(["Yes", "No"], size=n, p=[0.48, 0.52]),
            "tenure": tenure,
            "contract": contract,
            "internet_service": internet,
            "payment_method": rng.choice(PAYMENTS, size=n, p=[0.34, 0.23, 0.22, 0.21]),
            "paperless_billing": rng.choice(["Yes", "No"], size=n, p=[0.6, 0.4]),
            "monthly_charges": monthly,
            "total_charges": (monthly * np.maximum(tenure, 1) * rng.uniform(0.95, 1.05, n)).round(
                2
            ),
            "support_calls": rng.poisson(1.2, n),
        }
    )


def churn_probability(df: pd.DataFrame) -> np.ndarray:
    logit = (
        -1.6
        + 1.7 * (df["contract"] == "Month-to-month")
        - 1.0 * (df["contract"] == "Two year")
        - 0.055 * df["tenure"]
        + 0.022 * (df["monthly_charges"] - 60)
        + 0.6 * (df["internet_service"] == "Fiber optic")
        + 0.7 * (df["payment_method"] == "Electronic check")
        + 0.45 * df["senior_citizen"]
        + 0.45 * df["support_calls"]
        - 0.25 * (df["partner"] == "Yes")
    )
    return 1.0 / (1.0 + np.exp(-logit.to_numpy(dtype=float)))


def main() -> None:
    rng = np.random.default_rng(SEED)
    df = make_customers(rng, ROWS)
    df["churn"] = np.where(rng.random(ROWS) < churn_probability(df), "Yes", "No")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(df)} rows, churn rate {(df['churn'] == 'Yes').mean():.1%})")


if __name__ == "__main__":
    main()
