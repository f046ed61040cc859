"""Generate the synthetic support-ticket dataset used by ticket_topics.ipynb.

Tickets are assembled from hand-written phrases (no real customer text) with a
fixed seed, so running this script again writes the same `data/tickets.csv`.
A few tickets mix two topics and a few labels are wrong on purpose, as in real
triage data. Released under CC0.

    python make_data.py            # writes data/tickets.csv next to this script
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

SEED = 1234
ROWS = 900
LABEL_NOISE = 0.06
OUT = Path(__file__).resolve().parent / "data" / "tickets.csv"

OPENERS = ["Hi,", "Hello team,", "Hey,", "Good morning,", "", "", "Urgent:", "Hi there,"]
CLOSERS = ["Thanks.", "Please help.", "Any update?", "", "", "Regards", "Thank you!"]

PHRASES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {plan} subscription this month",
        "my invoice shows the wrong amount",
        "can I get a refund for the last payment",
        "the credit card payment failed but money left my account",
        "please send me a copy of the receipt for {month}",
        "why did my bill go up after the {plan} upgrade",
        "I want to change the billing address on my invoices",
        "there is a charge I do not recognise on my statement",
        "the discount code was not applied to my order total",
        "how do I switch from monthly to yearly billing",
    ],
    "technical": [
        "the app crashes every time I open the {screen} screen",
        "I get error code {code} when I try to sync",
        "the website is very slow and pages time out",
        "notifications stopped working after the last update",
        "the export to CSV button does nothing",
        "login works on my phone but the desktop app shows a blank page",
        "the integration with our calendar keeps disconnecting",
        "uploading a file larger than 10 MB fails with a network error",
        "the dashboard charts do not load in {browser}",
        "after updating to version {version} the app freezes",
    ],
    "account": [
        "I forgot my password and the reset email never arrives",
        "how do I change the email address on my account",
        "please delete my account and all my data",
        "my account was locked after too many attempts",
        "I want to add a second user to our {plan} team",
        "can I merge my two accounts into one",
        "two-factor authentication codes are not accepted",
        "how do I transfer ownership of the workspace to a colleague",
        "I cannot change my username in the profile settings",
        "someone else may have logged into my account",
    ],
    "shipping": [
        "my package has not arrived and it has been {days} days",
        "the tracking number says delivered but I have nothing",
        "the box arrived damaged and the item is broken",
        "can I change the delivery address for order {order}",
        "I received the wrong item in my parcel",
        "how long does international delivery to {country} take",
        "the courier left the parcel with a neighbour I do not know",
        "my order is stuck in customs",
        "can I pick up the order at a store instead of delivery",
        "only half of the items in my order were delivered",
    ],
}

SLOTS: dict[str, list[str]] = {
    "plan": ["Pro", "Basic", "Business", "Family", "Premium"],
    "month": ["January", "March", "June", "September", "November"],
    "screen": ["settings", "reports", "home", "checkout", "profile"],
    "code": ["E102", "500", "0x80070005", "403", "SYNC-17"],
    "browser": ["Firefox", "Safari", "Chrome", "Edge"],
    "version": ["4.2", "5.0.1", "3.9", "6.1"],
    "days": ["5", "10", "12", "three", "two weeks of"],
    "order": ["#48213", "#99120", "#10457", "#77302"],
    "country": ["Canada", "Germany", "Japan", "Brazil", "Kenya"],
}


def fill(template: str, rnd: random.Random) -> str:
    return template.format(**{k: rnd.choice(v) for k, v in SLOTS.items()})


def make_ticket(topic: str, rnd: random.Random) -> str:
    parts = [rnd.choice(OPENERS), fill(rnd.choice(PHRASES[topic]), rnd) + "."]
    if rnd.random() < 0.35:  # a second sentence on the same topic
        parts.append(fill(rnd.choice(PHRASES[topic]), rnd).capitalize() + ".")
    if rnd.random() < 0.12:  # a sentence on another topic makes the ticket ambiguous
        other = rnd.choice([t for t in PHRASES if t != topic])
        parts.append("Also " + fill(rnd.choice(PHRASES[other]), rnd) + ".")
    parts.append(rnd.choice(CLOSERS))
    return " ".join(p for p in parts if p)


def main() -> None:
    rnd = random.Random(SEED)
    topics = list(PHRASES)
    rows = []
    for i in range(ROWS):
        topic = rnd.choice(topics)
        label = rnd.choice(topics) if rnd.random() < LABEL_NOISE else topic
        rows.append({"ticket_id": 5000 + i, "text": make_ticket(topic, rnd), "topic": label})
    df = pd.DataFrame(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(df)} tickets, {df['topic'].nunique()} topics)")


if __name__ == "__main__":
    main()
