"""Shared fixtures: the shipped model, small in-file corpora, and a helper to run the installed CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import marksales
from marksales._corpus import shipped_dev_files

MARKETING = [
    "Plan and run brand campaigns across TV, social and out-of-home",
    "Own the SEO roadmap and grow organic traffic",
    "Write positioning and messaging for product launches",
    "Run market research and customer surveys to size new segments",
    "Manage the paid social budget and optimise cost per lead",
    "Build email nurture programmes in Marketo",
    "Pitch stories to journalists and manage press releases",
    "Plan trade shows and sponsorships to raise brand awareness",
    "Brand Manager",
    "Content Marketing Specialist",
]
SALES = [
    "Cold call prospects and book discovery meetings",
    "Close new business and hit a quarterly quota",
    "Negotiate contracts and pricing with procurement teams",
    "Manage a territory of independent retailers and grow revenue",
    "Handle objections and follow up with leads from the website",
    "Renew and upsell existing accounts",
    "Give product demos to prospective buyers",
    "Keep the CRM pipeline up to date and forecast deals accurately",
    "Account Executive",
    "Inside Sales Representative",
]


@pytest.fixture(scope="session")
def model() -> marksales.Model:
    return marksales.load_model()


@pytest.fixture(scope="session")
def dev_rows() -> list[dict[str, str]]:
    rows = []
    for path in shipped_dev_files():
        with open(path, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    return write_jsonl(tmp_path / "tiny.jsonl", rows)
