"""What the shipped model does with text in other languages: a dozen job lines, printed one per row.

    python benchmarks/other_languages.py [--model PATH]

The lines are written here for the purpose (Spanish, French, German, Italian), in the style of job-board
titles and duties; marksales is trained on English only. Words shared with English ("marketing",
"commercial", "B2B", "communication") carry a text; most other words are unknown to the model, and a
text made only of them has no signal.
"""

from __future__ import annotations

import argparse
import sys

from marksales import load_model

LINES = [
    ("Vendedor de tienda con experiencia en atención al cliente", "sales"),
    ("Responsable marketing digital H/F - CDI Paris", "marketing"),
    ("Wir suchen einen Außendienstmitarbeiter im Vertrieb", "sales"),
    ("Gestionar campañas de publicidad en redes sociales", "marketing"),
    ("Commercial terrain B2B, prospection et négociation", "sales"),
    ("Chargé de communication et relations presse", "marketing"),
    ("Verkäuferin in Teilzeit für unsere Bäckerei", "sales"),
    ("Analista de investigación de mercados", "marketing"),
    ("Enfermera para turno de noche en hospital", "other"),
    ("Développeur Python confirmé, télétravail partiel", "other"),
    ("Buchhalter (m/w/d) in Vollzeit", "other"),
    ("Addetto alle vendite per negozio di abbigliamento", "sales"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model directory or .npz (default: the shipped model)")
    model = load_model(parser.parse_args().model)
    signal = lean_right = kept = flagged = 0
    inside = [y != "other" for _, y in LINES]
    for (text, want), is_in in zip(LINES, inside):
        p = model.classify(text)
        print(f"{want:9} -> {p.label:9} score {p.score:.2f}  no_signal={p.no_signal!s:5}  relevance "
              f"{p.relevance:.2f}  in_scope={p.in_scope!s:5}  {text}")
        signal += not p.no_signal
        lean_right += is_in and not p.no_signal and p.label == want
        kept += is_in and bool(p.in_scope)
        flagged += not is_in and not p.in_scope
    n_in = sum(inside)
    print(f"\n{signal} of {len(LINES)} have signal; the lean is right on {lean_right} of the in-scope lines with "
          f"signal; {kept} of {n_in} in-scope lines kept in scope, {flagged} of {len(LINES) - n_in} others flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
