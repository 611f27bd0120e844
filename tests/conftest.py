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


def _all_dev_rows() -> list[dict[str, str]]:
    rows = []
    for path in shipped_dev_files():
        with open(path, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


@pytest.fixture(scope="session")
def dev_rows() -> list[dict[str, str]]:
    """The dev set's marketing and sales rows: what the lean is measured on."""
    return [r for r in _all_dev_rows() if r["label"] in ("marketing", "sales")]


@pytest.fixture(scope="session")
def scope_dev_rows() -> list[dict[str, str]]:
    """Every dev row, out-of-scope ones (label ``other``) included: what the scope head is measured on."""
    return _all_dev_rows()


REALDEV = Path(__file__).resolve().parents[1].parent / "shared" / "realdev"


@pytest.fixture(scope="session")
def realdev() -> dict[str, list[dict[str, str]]]:
    """The real-text yardstick beside the checkout (``../shared/realdev/``), by file stem; skips without it."""
    import csv

    if not (REALDEV / "esco_titles.tsv").is_file():
        pytest.skip(f"no real-text yardstick at {REALDEV} (it sits beside a clone of the project, not inside it)")
    out = {}
    for stem in ("esco_titles", "esco_descriptions"):
        with open(REALDEV / f"{stem}.tsv", encoding="utf-8", newline="") as f:
            out[stem] = list(csv.DictReader(f, delimiter="\t"))
    return out


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    rows = [{"text": t, "label": "marketing"} for t in MARKETING] + [{"text": t, "label": "sales"} for t in SALES]
    return write_jsonl(tmp_path / "tiny.jsonl", rows)
