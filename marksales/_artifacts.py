"""Model files on disk: their names, checksums, and writing a model (portable form, pickle, metadata,
model card) as one atomic switch."""

from __future__ import annotations

import ctypes
import datetime as _dt
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import ModelFileError
from ._format import PortableModel

PORTABLE_NAME = "model.npz"
PICKLE_NAME = "model.joblib"
METADATA_NAME = "model.json"
CARD_NAME = "model.md"
MODEL_FILES = (PORTABLE_NAME, PICKLE_NAME, METADATA_NAME, CARD_NAME)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

_UNSTABLE_KEYS = ("created", "timings", "fingerprint")


def fingerprint(meta: dict[str, Any]) -> str:
    """sha256 of the metadata without its run-dependent keys: same corpus and versions, same value."""
    stable = {k: v for k, v in meta.items() if k not in _UNSTABLE_KEYS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _drop_process_state(pipeline: Any) -> None:
    """Remove what a fitted scikit-learn object remembers about this process before it is pickled.

    Two builds of the same model must pickle to the same bytes. A vectorizer notes
    ``id(self.stop_words)``, a memory address that differs in every process, once it has checked its
    stop words: a cache, checked and noted again on the next use. Older scikit-learn (1.3, say) also keeps
    ``stop_words_``, the pruned terms, as a set whose order follows the per-process string hash seed:
    introspection only, and scikit-learn's documentation says it can be removed before pickling.
    """
    get_params = getattr(pipeline, "get_params", None)
    if get_params is None:
        return
    for part in [pipeline, *get_params(deep=True).values()]:
        state = getattr(part, "__dict__", None)
        if isinstance(state, dict):
            state.pop("_stop_words_id", None)
            state.pop("stop_words_", None)


def created_stamp() -> str:
    """UTC creation time, or SOURCE_DATE_EPOCH's when set (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
            else _dt.datetime.now(_dt.timezone.utc))
    return when.replace(microsecond=0).isoformat()


def write_model(portable: PortableModel, pipelines: Any, metadata: Mapping[str, Any], directory: str | Path, *,
                force: bool = False) -> dict[str, Any]:
    """Write a model into ``directory`` (model.npz, model.joblib when ``pipelines`` is given, model.json,
    model.md); returns the metadata as written (with file checksums, creation date and fingerprint).

    The new model is written complete into a folder beside the target, then the two folders change
    places in one step (``renameat2(RENAME_EXCHANGE)`` where the kernel has it), so a reader sees the
    old model or the new one, never a mix. Other files in the target folder (an ``__init__.py``) come
    along. Without the exchange (another OS), the old folder is renamed aside first: a reader in that
    instant finds no model rather than half of one.

    Raises
    ------
    FileExistsError
        A model is already in ``directory`` and ``force`` is False.
    """
    import joblib

    target = Path(directory)
    existing = [n for n in MODEL_FILES if (target / n).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{str(target)!r} already holds a model ({', '.join(existing)}); pass force=True (--force on the "
            f"command line) to replace it, or choose another directory."
        )
    if target.exists() and not target.is_dir():
        raise ModelFileError(f"{str(target)!r} is a file; a model is saved into a directory.")
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.marksales-save-", dir=parent))
    try:
        portable_bytes = portable.to_bytes()
        (tmp / PORTABLE_NAME).write_bytes(portable_bytes)
        if pipelines is not None:
            for p in pipelines.values() if isinstance(pipelines, dict) else [pipelines]:
                _drop_process_state(p)
            joblib.dump(pipelines, tmp / PICKLE_NAME)
        files = {PORTABLE_NAME: sha256_bytes(portable_bytes)}
        if (tmp / PICKLE_NAME).exists():
            files[PICKLE_NAME] = sha256_file(tmp / PICKLE_NAME)
        meta["files"] = files
        meta["created"] = created_stamp()
        meta["fingerprint"] = fingerprint(meta)
        (tmp / METADATA_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
        (tmp / CARD_NAME).write_text(model_card(meta), encoding="utf-8")
        if target.is_dir():
            for entry in target.iterdir():  # what else lives in the folder comes along (not the old model)
                if entry.name not in MODEL_FILES and not entry.name.startswith(".marksales-save-"):
                    if entry.is_dir():
                        shutil.copytree(entry, tmp / entry.name, symlinks=True)
                    else:
                        shutil.copy2(entry, tmp / entry.name)
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
            _swap(tmp, target)  # tmp now holds the old model, removed below
        else:
            os.chmod(tmp, 0o777 & ~_umask())
            os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap(a: Path, b: Path) -> None:
    """Exchange two directories in one step where the kernel can; else rename ``b`` aside, then ``a`` in."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def model_card(meta: dict[str, Any]) -> str:
    """A short Markdown model card from the metadata."""
    def metrics(report: dict[str, Any] | None, title: str) -> list[str]:
        if not report:
            return []
        lines = [f"### {title}", "",
                 f"n = {report['n']}, accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}, "
                 f"Brier {report['brier']:.4f}, ECE {report['ece']:.3f}", "",
                 "| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        for label in report["labels"]:
            m = report["per_class"][label]
            lines.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
        if "by_form" in report:
            lines += ["", "macro-F1 by form: " + ", ".join(
                f"{f} {m['macro_f1']:.3f} (n={m['n']})" for f, m in report["by_form"].items())]
        return lines + [""]

    corpus = meta.get("corpus", {})
    versions = meta.get("versions", {})
    lines = [
        "# marksales model card", "",
        f"Created {meta.get('created')} by marksales {meta.get('marksales_version')}; "
        f"fingerprint `{meta.get('fingerprint', '')[:16]}`.", "",
        "## Intended use", "",
        "Tells whether a job title, a duty sentence or a job posting describes marketing-like or sales-like "
        "work (or the labels of the corpus it was trained on). TF-IDF word and character n-grams with a "
        "calibrated logistic regression. Not for judging people, and not for text that is not about work: "
        "check `no_signal` before trusting a label.", "",
        "## Data", "",
        f"{corpus.get('n_texts')} texts (corpus sha256 `{corpus.get('sha256', '')[:16]}`), "
        f"labels: " + ", ".join(f"{k} {v}" for k, v in meta.get("label_counts", {}).items()) + ".", "",
        "Files: " + ", ".join(f"`{f}`" for f in corpus.get("files", [])), "",
        "## Settings", "", "```json", json.dumps(meta.get("params"), sort_keys=True), "```", "",
        "## Metrics", "",
        *metrics(meta.get("cv"), f"Cross-validation ({meta.get('cv', {}).get('n_splits')} folds, "
                                 "near-duplicates kept together)"),
        *metrics(meta.get("dev"), "Dev set (never trained on)"),
        *scope_lines(meta.get("scope")),
        "## Versions", "",
        ", ".join(f"{k} {v}" for k, v in versions.items()), "",
        "## Limits", "",
        "Trained on text written for the purpose, not sampled from real postings; English only. "
        + ("The scope head says whether a text is marketing or sales work at all (`in_scope`); the lean "
           "(`label`, `score`) is reported for every text." if meta.get("scope") else
           "No scope head: a role that is neither still gets one of the labels (check `no_signal`)."), "",
        ("Settings (features, `C`) were chosen by grouped cross-validation on the training corpus (the search; "
         "model.json holds its grid and every result). " if meta.get("search") else
         "Settings (features, `C`) were given, not searched. `Params()` defaults are the shipped model's: the "
         "search's grouped cross-validation left word n-grams alone and word with char_wb 2-5 n-grams tied "
         "(macro-F1 0.9685 and 0.9682), and the real-text yardstick (ESCO occupations, `../shared/realdev/`), "
         "used to find kinds of errors and to compare settings, never trained on, broke the tie. ")
        + "The scope threshold was chosen on the training corpus alone.", "",
    ]
    return "\n".join(lines)


def scope_lines(scope: dict[str, Any] | None) -> list[str]:
    """The model card's scope section."""
    if not scope:
        return []
    cv, at = scope["cv"], scope["cv_at_threshold"]
    return ["### Scope head (in scope vs out of scope)", "",
            f"Out-of-scope label `{scope['other_label']}`; in scope when relevance >= {scope['threshold']:.2f} "
            f"({scope['threshold_rule']}).", "",
            f"Cross-validation: n = {cv['n']}, accuracy {cv['accuracy']:.3f}, macro-F1 {cv['macro_f1']:.3f}, "
            f"Brier {cv['brier']:.4f}, ECE {cv['ece']:.3f}; at the threshold {at['in_scope_kept']:.1%} of in-scope "
            f"texts kept and {at['out_of_scope_flagged']:.1%} of out-of-scope texts flagged.", ""]
