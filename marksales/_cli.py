"""The ``marksales`` command line: classify, explain, info, train, evaluate, compare, score."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._errors import MarksalesError

logger = logging.getLogger("marksales")


def _model(args: argparse.Namespace) -> Any:
    return _load(args.model, getattr(args, "trusted", False))


def _load(path: str | None, trusted: bool = False) -> Any:
    """A model by path, or the shipped one for None or the name ``default`` (so commands that take model
    paths work outside a clone: ``marksales compare holdout.csv --against my-model/``)."""
    from ._model import load_model

    return load_model(None if path in (None, "default") else path, trusted=trusted)


def _no_model_among(paths: Sequence[str], command: str) -> None:
    """Data arguments that are models: the 0.2 order (``evaluate MODEL DATA``, ``compare A B DATA``),
    answered with the fix."""
    models = [p for p in paths if p == "default" or Path(p).suffix == ".npz"
              or (Path(p).is_dir() and (Path(p) / "model.npz").is_file())]
    if not models:
        return
    data = " ".join(p for p in paths if p not in models) or "DATA"
    fix = (f"marksales evaluate {data} --model {models[0]}" if command == "evaluate" else
           f"marksales compare {data} --model {models[0]} --against {models[-1] if len(models) > 1 else 'B'}")
    raise ValueError(f"{models[0]!r} is a model, not labelled data; every command takes its model as --model PATH "
                     f"(compare the second as --against PATH), e.g. {fix}.")


def _text_argument(value: str) -> str:
    """``-`` reads standard input, ``@FILE`` reads a file (both UTF-8): a whole multi-line posting as one
    text. ``@@...`` is the literal text ``@...``."""
    if value == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        return buffer.read().decode("utf-8-sig", errors="replace") if buffer is not None else sys.stdin.read()
    if value.startswith("@@"):
        return value[1:]
    if value.startswith("@") and len(value) > 1:
        try:
            with open(value[1:], encoding="utf-8-sig", errors="replace") as f:
                return f.read()
        except OSError as exc:
            raise ValueError(f"{value!r}: cannot read the file {value[1:]!r} ({exc.strerror or exc}); an argument "
                             f"starting with @ names a file to read as one text, and @@ starts a literal @ "
                             f"(marksales classify '@@home sales').") from None
    return value


def _stdin_lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\r\n")


def _cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    if args.text.count("-") > 1:
        raise ValueError("'-' (all of standard input as one text) can be given once.")
    texts = [_text_argument(t) for t in args.text] if args.text else _stdin_lines(sys.stdin)
    for text in texts:
        p = model.classify(text)
        if args.json:
            out.write(json.dumps({"text": text, **p.to_dict()}, ensure_ascii=False) + "\n")
        else:
            out.write(f"{_verdict(p)}  {_clip(text)}\n")
        out.flush()
    return 0


def _verdict(p: Any) -> str:
    """How one prediction reads on a terminal: the lean and its score, then scope and signal plainly."""
    flags = []
    if p.in_scope is not None:
        flags.append(f"in scope {p.relevance:.2f}" if p.in_scope else f"OUT OF SCOPE {p.relevance:.2f}")
    if p.no_signal:
        flags.append("no signal")
    return f"{p.label:<10} {p.score:.3f}" + (f"  ({', '.join(flags)})" if flags else "")


def _clip(text: str, width: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 3] + "..."


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    e = model.explain(_text_argument(args.text), top=args.top)
    if args.json:
        out.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
        return 0
    out.write(_verdict(e.prediction) + "\n")
    for label, terms in e.terms.items():
        out.write(f"toward {label}: " + ", ".join(f"{t.term} ({t.weight:+.2f})" for t in terms) + "\n")
    for name, terms in e.scope_terms.items():
        out.write(f"toward {name.replace('_', ' ')}: " + ", ".join(f"{t.term} ({t.weight:+.2f})" for t in terms)
                  + "\n")
    if e.sentences:
        for label in model.classes:
            out.write(f"most {label}-like sentences:\n")
            for s in e.most(label, 3):
                out.write(f"  {s.prediction.probabilities[label]:.3f}  {_clip(s.text, 100)}\n")
    return 0


def _cmd_info(args: argparse.Namespace, out: TextIO) -> int:
    model = _model(args)
    meta = dict(model.metadata)
    if args.json:
        out.write(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return 0
    from ._report import format_report

    corpus = meta.get("corpus", {})
    out.write(f"model: {model.path}" + ("  (the shipped model; name it 'default' in any command)"
                                          if args.model in (None, "default") else "") + "\n")
    out.write(f"labels: {', '.join(model.classes)}\n")
    out.write(f"created: {meta.get('created')}  marksales {meta.get('marksales_version')}\n")
    out.write("versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()) + "\n")
    out.write(f"corpus: {corpus.get('n_texts')} texts, sha256 {corpus.get('sha256')}\n")
    out.write(f"settings: {json.dumps(meta.get('params'), sort_keys=True)}\n")
    out.write(f"no-signal threshold: {meta.get('no_signal_threshold')}\n")
    if model.has_scope:
        out.write(f"scope head: in scope when relevance >= {model.scope_threshold:.3f} "
                  f"(chosen on training data: {meta.get('scope', {}).get('threshold_rule', '')})\n")
    else:
        out.write("scope head: none (relevance and in_scope are unknown for this model)\n")
    for name, sha in meta.get("files", {}).items():
        out.write(f"file {name}: sha256 {sha}\n")
    if meta.get("cv"):
        out.write(format_report(meta["cv"], "cross-validation:") + "\n")
    if meta.get("dev"):
        out.write(format_report(meta["dev"], "dev set:") + "\n")
    if meta.get("scope", {}).get("cv"):
        out.write(format_report(meta["scope"]["cv"], "scope head, cross-validation (in scope vs out):") + "\n")
    return 0


def _cmd_train(args: argparse.Namespace, out: TextIO) -> int:
    from ._report import format_report
    from ._train import Params, train

    params = Params(C=args.C) if args.C is not None else None
    model = train(
        args.corpus or None, text_column=args.text_column, label_column=args.label_column,
        allowed_labels=args.labels.split(",") if args.labels else None, params=params, search=args.search,
        dev=args.dev, n_splits=args.folds, progress=None if args.quiet else _progress, other_label=args.other_label,
        on_conflict=args.on_conflict,
    )
    model = model.save(args.output, force=args.force)
    out.write(format_report(model.metadata["cv"], "cross-validation:") + "\n")
    if model.metadata.get("dev"):
        out.write(format_report(model.metadata["dev"], "dev set:") + "\n")
    out.write(f"saved to {args.output}\n")
    return 0


def _folds(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--folds must be a whole number, not {value!r}") from None
    if not 2 <= n <= 20:
        raise argparse.ArgumentTypeError(f"--folds must be 2 to 20 (cross-validation needs two folds at least), "
                                         f"not {n}")
    return n


def _progress(msg: str) -> None:
    print(f"marksales: {msg}", file=sys.stderr, flush=True)


def _cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from ._evaluation import evaluate_files, format_scope
    from ._report import format_report

    _no_model_among(args.data, "evaluate")
    model = _model(args)
    report = evaluate_files(model, args.data, text_column=args.text_column, label_column=args.label_column)
    if args.json:
        out.write(json.dumps(report, sort_keys=True) + "\n")
        return 0
    if report["n"]:
        out.write(format_report(report, f"{model.path}: the lean, on the rows labelled "
                                        f"{' / '.join(model.classes)}") + "\n")
        for cut, m in report["confident"].items():
            out.write(f"score >= {cut}: {m['share']:.1%} of the rows, accuracy {m['accuracy']:.3f}\n")
    if "scope" in report:
        out.write(format_scope(report["scope"]) + "\n")
    return 0


def _cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from ._corpus import read_labelled
    from ._report import evaluate_predictions, format_report

    _no_model_among(args.data, "compare")
    if args.against is None:
        raise ValueError("compare needs the second model as --against PATH, e.g. marksales compare holdout.csv "
                         "--model default --against my-model/.")
    a = _load(args.model)
    b = _load(args.against)
    name_a, name_b = args.model or "default", args.against
    examples = read_labelled(args.data, text_column=args.text_column, label_column=args.label_column)
    texts = [e.text for e in examples]
    ys = [e.label for e in examples]
    pa, pb = a.predict_proba(texts), b.predict_proba(texts)
    ra = evaluate_predictions(ys, pa, a.classes)
    rb = evaluate_predictions(ys, pb, b.classes)
    out.write(format_report(ra, f"A: {name_a}") + "\n\n")
    out.write(format_report(rb, f"B: {name_b}") + "\n\n")
    la = [a.classes[i] for i in pa.argmax(axis=1)]
    lb = [b.classes[i] for i in pb.argmax(axis=1)]
    flips = [k for k in range(len(texts)) if la[k] != lb[k]]
    out.write(f"{len(flips)} of {len(texts)} predictions flip between A and B\n")
    for k in flips[: args.examples]:
        fixed = "B right" if lb[k] == ys[k] else ("A right" if la[k] == ys[k] else "both wrong")
        out.write(f"  {la[k]} -> {lb[k]} (true {ys[k]}, {fixed}): {_clip(texts[k])}\n")
    return 0


def _cmd_score(args: argparse.Namespace, out: TextIO) -> int:
    from ._batch import score_file

    progress = not args.quiet and sys.stderr.isatty()
    if args.dask_scheduler:
        from joblib import parallel_config

        try:
            import distributed
        except ImportError:
            raise MarksalesError("--dask-scheduler needs the dask extra: pip install 'marksales[dask]'") from None
        # Any: distributed's Client is untyped, and mypy must pass with the extra installed or not
        client: Any = distributed.Client
        with client(args.dask_scheduler), parallel_config(backend="dask"):
            summary = _score(args, progress, score_file)
    else:
        summary = _score(args, progress, score_file)
    if not args.quiet:
        print(f"marksales: scored {summary}", file=sys.stderr)
    return 0


def _score(args: argparse.Namespace, progress: bool, score_file: Any) -> Any:
    return score_file(
        args.input, args.output, text_columns=args.text_column or ["text"], id_column=args.id_column,
        file_format=args.format, output_format=args.output_format, encoding=args.encoding,
        model=None if args.model == "default" else args.model,
        jobs=args.jobs, chunk_size=args.chunk_size, on_error=args.on_error, safe_csv=args.safe_csv,
        prefix=args.prefix, progress=progress, only_in_scope=args.in_scope_only, max_record_mb=args.max_record_mb,
        delimiter=args.delimiter, force=args.force,
    )


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="marksales", description="Is a job title, duty sentence or posting marketing-like or sales-like?"
    )
    parser.add_argument("--version", action="version", version=f"marksales {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_model(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", metavar="PATH",
                       help="a model directory or .npz, a .joblib with --trusted, or 'default' (the shipped model)")
        p.add_argument("--trusted", action="store_true",
                       help="allow unpickling this .joblib (it runs code from the file: only for files you made)")

    def with_columns(p: argparse.ArgumentParser) -> None:
        p.add_argument("--text-column", default="text", help="column / key holding the text (default: text)")
        p.add_argument("--label-column", default="label", help="column / key holding the label (default: label)")

    p = sub.add_parser("classify", help="classify texts given as arguments, or one per line on stdin")
    p.add_argument("text", nargs="*",
                   help="texts to classify; '-' reads all of stdin and '@FILE' a whole file as one text (a "
                        "multi-line posting), '@@...' is a literal '@...'. Without arguments each line of stdin "
                        "is one text")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    with_model(p)
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("score", help="score a CSV / TSV / JSONL file of postings, row by row")
    p.add_argument("input", help="input file, or - for stdin (then give --format)")
    p.add_argument("-o", "--output", required=True, help="output file, or - for stdout")
    p.add_argument("--text-column", action="append", metavar="NAME",
                   help="column with the text (default: text); repeat to join several, e.g. title and description")
    p.add_argument("--id-column", metavar="NAME", help="a column that must exist (all columns pass through)")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"],
                   help="input format (default: from the extension; parquet needs the parquet extra)")
    p.add_argument("--output-format", choices=["csv", "tsv", "jsonl", "parquet"],
                   help="default: from the extension or input")
    p.add_argument("--encoding", default="utf-8-sig", help="file encoding (default: UTF-8, with or without BOM)")
    p.add_argument("--delimiter", metavar="CHAR",
                   help="field delimiter of a CSV / TSV input and output, e.g. ';' (default: ',' for CSV, tab for TSV)")
    p.add_argument("--jobs", type=int, default=-1, help="worker processes (default: -1, all cores)")
    p.add_argument("--chunk-size", type=int, default=500, help="rows per chunk (default: 500)")
    p.add_argument("--on-error", choices=["mark", "fail"], default="mark",
                   help="a row without usable text: mark it in the error column (default) or stop")
    p.add_argument("--safe-csv", nargs="?", const="added", default="off", choices=["off", "added", "all"],
                   help="neutralise cells starting with = + - @ (spreadsheet formulas): in the added columns (the flag "
                        "alone), or in 'all' columns (default: off)")
    p.add_argument("--prefix", default="", help="prefix for the added column names")
    p.add_argument("--in-scope-only", action="store_true",
                   help="write only rows that are marketing or sales work (and rows with an error); by default "
                        "every row comes back and the in_scope column marks them")
    p.add_argument("--max-record-mb", type=float, default=10.0, metavar="MB",
                   help="largest record read, in millions of characters (default: 10); a longer JSON line is a "
                        "row error, a longer CSV/TSV record stops the run naming its line")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", help="run the chunks on this Dask cluster")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (as train --force does)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")
    p.add_argument("--model", metavar="PATH", help="a model directory or .npz, or 'default' (the shipped model)")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("explain", help="show the terms and sentences behind a decision")
    p.add_argument("text", help="the text; - reads it from standard input and @FILE from a file, so a whole "
                                "multi-line posting is one text")
    p.add_argument("--top", type=int, default=8, help="terms per label (default: 8)")
    p.add_argument("--json", action="store_true", help="the whole explanation as one JSON object")
    with_model(p)
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("info", help="print the model's metadata")
    p.add_argument("--json", action="store_true", help="the whole metadata as JSON")
    with_model(p)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="train a model on labelled CSV / TSV / JSONL files")
    p.add_argument("corpus", nargs="*", help="labelled files (default: the shipped corpus)")
    p.add_argument("-o", "--output", required=True, help="directory to write the model into")
    with_columns(p)
    p.add_argument("--labels", help="comma-separated allowed labels (default: those in the corpus)")
    p.add_argument("--dev", nargs="+", metavar="FILE", help="labelled dev files to evaluate separately")
    p.add_argument("--search", action="store_true", help="grid-search features and C by cross-validation")
    p.add_argument("--C", type=float, help="inverse regularisation strength (default: 32)")
    p.add_argument("--folds", type=_folds, default=5, help="cross-validation folds, 2 to 20 (default: 5)")
    p.add_argument("--on-conflict", choices=["majority", "drop", "error"], default="majority",
                   help="a text with two labels: keep the majority label (a tie drops it; default), drop it, or "
                        "stop naming each one")
    p.add_argument("--other-label", default="other",
                   help="the label of out-of-scope rows; with such rows the model gets a scope head (default: other)")
    p.add_argument("--force", action="store_true", help="replace a model already in OUTPUT")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="report a model's accuracy on labelled files")
    p.add_argument("data", nargs="+", help="labelled CSV / TSV / JSONL files (realdev's TSV files as they are)")
    p.add_argument("--model", metavar="PATH", help="a model directory or .npz, or 'default' (the shipped model)")
    with_columns(p)
    p.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    p.set_defaults(func=_cmd_evaluate, trusted=False)

    p = sub.add_parser("compare", help="two models' reports side by side, and the predictions that flip")
    p.add_argument("data", nargs="+", help="labelled CSV / TSV / JSONL files")
    p.add_argument("--model", metavar="PATH", help="model A: a directory or .npz, or 'default' (the shipped "
                                                   "model, also when left out)")
    p.add_argument("--against", metavar="PATH", help="model B (required): a directory or .npz, or 'default'")
    with_columns(p)
    p.add_argument("--examples", type=int, default=10, help="flipped examples to show (default: 10)")
    p.set_defaults(func=_cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 1 error, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="marksales: %(levelname)s: %(message)s")
    previous = _term_as_interrupt()
    try:
        with warnings.catch_warnings():
            # joblib says which tasks it cancelled when a run stops; the one line below says it stopped
            warnings.filterwarnings("ignore", message=".*cancelled.*", category=UserWarning)
            return int(args.func(args, sys.stdout))
    except KeyboardInterrupt:
        print("marksales: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): no traceback, nothing more to stdout, and the status a shell
        # expects of a process killed by SIGPIPE.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (MarksalesError, OSError, ValueError, TypeError) as exc:
        print(f"marksales: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _term_as_interrupt() -> Any:
    """Make SIGTERM unwind like Ctrl-C, so partial outputs are removed; returns the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)
