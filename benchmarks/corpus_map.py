"""Count the training corpus by occupation of the sales and marketing map, per form.

The map: SOC 2018 major group 41 (sales and related) and the advertising, marketing, public relations,
fundraising and market research occupations of groups 11, 13 and 27; ISCO-08 groups 122, 243 (marketing
and sales professionals), 332-333 (sales and business services agents) and 52 (sales workers). A text
counts for an occupation when its words match the occupation's pattern (titles, duties and postings name
their occupation in many ways; the patterns are deliberately broad). Prints the Markdown table that
``corpus/README.md`` holds:

    python benchmarks/corpus_map.py
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

FORMS = ("title", "sentence", "excerpt", "posting")

# (classification codes, occupation, label, pattern)
MAP: list[tuple[str, str, str, str]] = [
    ("SOC 11-2011, ISCO 1222", "advertising and promotions managers", "marketing",
     r"advertising (manager|director)|promotions? (manager|director|coordinator)|head of advertising"),
    ("SOC 11-2021, ISCO 1221", "marketing managers", "marketing", r"marketing (manager|director|lead|head)|\bcmo\b"),
    ("SOC 11-2022, ISCO 1221", "sales managers", "sales",
     r"sales (manager|director|lead)|head of sales|\bvp,? sales|\bcro\b"),
    ("SOC 11-2032, ISCO 1222", "public relations managers", "marketing",
     r"(pr|public relations|communications?) (manager|director|lead)|head of (pr|communications)"),
    ("SOC 11-2033", "fundraising managers", "marketing",
     r"fundrais\w* (manager|director|lead|strategy|team|plan|budget|target)|head of fundraising|"
     r"development director|major gifts?|donor (programme|program|pipeline|strategy)"),
    ("SOC 13-1131", "fundraisers", "marketing", r"fundrais|donor|legacy giving|chugger|face.to.face"),
    ("SOC 13-1161, ISCO 2431", "market research analysts and marketing specialists", "marketing",
     r"market research|consumer insight|survey|focus group|marketing (analyst|specialist|executive|coordinator)"),
    ("SOC 27-3031, ISCO 2432", "public relations specialists", "marketing",
     r"\bpr\b|public relations|press (officer|release)|media relations|publicist|spokes"),
    ("ISCO 2432", "political and public-affairs communication", "marketing",
     r"political|campaign (manager|organi[sz]er)|canvass|lobby|public affairs|election|party agent|"
     r"government relations"),
    ("ISCO 2431", "advertising professionals (planning, creative, media)", "marketing",
     r"copywrit|creative director|account planner|media (planner|buyer|planning|buying)|space buyer"),
    ("ISCO 2431", "brand, product and trade marketing", "marketing",
     r"brand (manager|management|strategy)|product marketing|trade marketing|shopper marketing|category"),
    ("ISCO 2431", "digital, e-commerce and web marketing", "marketing",
     r"\bseo\b|\bsem\b|\bppc\b|paid (social|search)|e-?commerce|e-?business|social media|email marketing|"
     r"content market|affiliate|influencer|marketplace"),
    ("ISCO 2431", "promotions, merchandising and events", "marketing",
     r"merchandis|sampling|experiential|event marketing|sponsorship|brand ambassador|promotion"),
    ("SOC 41-1011, ISCO 5222", "first-line supervisors of retail sales workers", "sales",
     r"(store|shop|retail|department|floor) (manager|supervisor)|assistant manager.*(store|shop)|"
     r"(shop|store|retail) supervisor"),
    ("SOC 41-1012, ISCO 1221", "first-line supervisors of non-retail sales workers", "sales",
     r"sales (supervisor|team leader|team lead)|team leader.*(sales|telesales)|"
     r"supervis\w*.{0,40}(sales (staff|representatives|reps|agents|team)|telesales)|(coach|schedul|roster)\w*"
     r".{0,40}(sales (staff|representatives|reps|agents|team))"),
    ("SOC 41-2011", "cashiers (out of scope by the guideline: counted for reference)", "other",
     r"cashier|checkout|till operator"),
    ("SOC 41-2021", "counter and rental clerks", "sales", r"counter|rental|hire (desk|counter|advis|controller)"),
    ("SOC 41-2022", "parts salespersons", "sales", r"parts (sales|advis|counter|interpreter)"),
    ("SOC 41-2031, ISCO 5223", "retail salespersons and shop sales assistants", "sales",
     r"sales (assistant|associate|advis|consultant|clerk)|shop (assistant|worker)|retail assistant|"
     r"specialised seller|salesperson"),
    ("SOC 41-3011", "advertising sales agents", "sales",
     r"(advertising|ad|media|space|airtime) sales|sponsorship sales|sells? (advertising|ad space|airtime)"),
    ("SOC 41-3021, ISCO 3321", "insurance sales agents", "sales", r"insurance"),
    ("SOC 41-3031, ISCO 3311", "securities and financial services sales agents", "sales",
     r"mortgage|loan|financial (product|services) sales|pension|investment sales|credit card|wealth"),
    ("SOC 41-3041, ISCO 4221", "travel agents and travel sales", "sales", r"travel|holiday|cruise|tour"),
    ("SOC 41-3091, ISCO 3339", "sales representatives of services", "sales",
     r"(telecom|energy|solar|utilit|saas|software|it services|logistics|freight) sales|"
     r"sales (representative|rep|executive)|account (executive|manager)|business development"),
    ("SOC 41-4011, ISCO 2433/2434", "technical and scientific sales representatives", "sales",
     r"technical sales|sales engineer|medical (sales|rep|device)|pharma|ict sales|solutions? (sales|consultant)|"
     r"presales|pre-sales"),
    ("SOC 41-4012, ISCO 3322", "wholesale and manufacturing sales representatives", "sales",
     r"wholesale|manufacturer|territory|distributor|route sales|van sales|field sales|key account"),
    ("SOC 41-9011, ISCO 5242", "demonstrators and product promoters", "sales", r"demonstrat|promoter|tasting"),
    ("SOC 41-9012", "models (as promoters)", "sales", r"\bmodel\b"),
    ("SOC 41-9021/9022, ISCO 3334", "real estate brokers and sales agents, lettings", "sales",
     r"real estate|estate agent|realtor|letting|leasing|property (sales|consultant|negotiator)|new homes"),
    ("SOC 41-9031, ISCO 2433", "sales engineers", "sales", r"sales engineer|applications engineer|technical demo"),
    ("SOC 41-9041, ISCO 5244", "telemarketers and contact centre salespersons", "sales",
     r"telesales|telemarket|call cent(re|er)|contact cent(re|er)|outbound|cold call"),
    ("SOC 41-9091, ISCO 5243", "door-to-door, street and news vendors, party plan", "sales",
     r"door.to.door|canvass|street vendor|hawker|pedlar|peddler|newspaper|party.plan|direct sell|network market"),
    ("ISCO 5211", "stall and market salespersons", "sales", r"market (trader|stall)|stall|costermonger|market vendor"),
    ("ISCO 5221", "shopkeepers", "sales", r"shopkeeper|shop owner|store owner|corner shop|kiosk|bodega|sari-sari"),
    ("ISCO 5249", "rental and other sales workers", "sales", r"rental|hire|rent-to-own|auction"),
    ("ISCO 3339", "agents and brokers of services and rights", "sales",
     r"(talent|literary|sports|booking|licensing|franchise|business|yacht|aircraft|ship) (agent|broker)|"
     r"licen[cs]ing (manager|sales|coordinator)|speakers"),
    ("SOC 41-9099", "auctioneers", "sales", r"auction"),
    ("ISCO 5246/5245", "fuel-station and food-counter staff (out of scope by the guideline)", "other",
     r"forecourt|fuel station|petrol station|gas station|food counter|fast.food"),
]


def main() -> int:
    root = Path(__file__).resolve().parents[1] / "corpus" / "train"
    rows = [json.loads(line) for path in sorted(root.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    print("| codes | occupation | label | " + " | ".join(FORMS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in FORMS) + " |")
    empty = 0
    for codes, name, label, pattern in MAP:
        rx = re.compile(pattern, re.IGNORECASE)
        counts = Counter(r["form"] for r in rows if r["label"] == label and rx.search(r["text"]))
        empty += any(counts[f] == 0 for f in FORMS)
        print(f"| {codes} | {name} | {label} | " + " | ".join(f"{counts[f]:,}" for f in FORMS) + " |")
    return 1 if empty else 0


if __name__ == "__main__":
    sys.exit(main())
