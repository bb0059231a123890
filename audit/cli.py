"""The ``audit`` command. Heavy libraries are imported inside each command so ``--help`` is instant."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

PROG = "audit"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed for every step (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (cuda when available; default)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or status lines")


def _precision_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="training precision: bf16 (bfloat16 autocast; weights, per-example norms, clipping and noise stay "
                        "float32), fp32, or auto (default: bf16 on a CUDA GPU that supports it, fp32 otherwise)")


def _data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--data", required=required, help="CSV, TSV, JSONL or Parquet file, or a saved Hugging Face dataset directory")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--label-column", default="label", help="column holding the label (default: label)")
    p.add_argument("--multi-label", action="store_true",
                   help="several labels may apply to one text: the label column holds lists (JSON arrays in CSV/TSV); "
                        "lists in JSONL/Parquet/datasets are recognised without it")
    p.add_argument("--label-separator", default=None, metavar="SEP",
                   help="multi-label data whose label column holds delimited names, e.g. 'toxic|insult' with --label-separator '|'")
    p.add_argument("--label-columns", default=None, metavar="A,B,C",
                   help="multi-label data with one 0/1 column per label (comma-separated column names; they name the labels)")
    p.add_argument("--skip-invalid", action="store_true", help="skip rows with empty/non-string text or a missing label (the count is reported)")
    p.add_argument("--max-length", type=int, default=128, help="maximum tokens per text (default 128)")


def _explain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-explain", action="store_true", help="skip the explanations section")
    p.add_argument("--examples", type=int, default=4, help="examples explained per category (default 4)")
    p.add_argument("--ig-steps", type=int, default=300,
                   help="integrated-gradients steps: the most any text may use when adaptive, else the fixed count (default 300)")
    p.add_argument("--ig-method", default="adaptive_simpson",
                   choices=("adaptive_simpson", "gausslegendre", "riemann_trapezoid", "clenshaw_curtis"),
                   help="quadrature: adaptive_simpson (default) adds steps per text until the completeness error is "
                        "under --ig-tolerance; the others use --ig-steps for every text")
    p.add_argument("--ig-output", choices=("logit", "probability"), default="logit", help="attribute the target logit (default) or probability")
    p.add_argument("--ig-baseline", choices=("pad", "mask", "zero"), default="pad", help="integrated-gradients baseline (default pad)")
    p.add_argument("--ig-tolerance", type=float, default=None,
                   help="completeness error above which an example is flagged (default 0.01, or explanations.ig_tolerance of --thresholds)")
    g = p.add_argument_group("explanation quality and robustness")
    g.add_argument("--no-faithfulness", action="store_true",
                   help="skip explanation quality (faithfulness, plausibility, agreement and sanity of every method)")
    g.add_argument("--faithfulness-examples", type=int, default=None, help="texts the explanation methods are scored on (default 32; the demo uses 20)")
    g.add_argument("--probe", action="store_true", help="run the robustness probe (on by default; see --no-robustness)")
    g.add_argument("--no-robustness", action="store_true", help="skip the robustness probe (invariance tests, attacks, certificates)")
    g.add_argument("--attack-texts", type=int, default=None, help="texts each attack family is run on (default 100; the demo uses 50)")


def _gate_args(p: argparse.ArgumentParser, fail_on: str = "never") -> None:
    g = p.add_argument_group("gating and CI outputs (exit 0: passed, 1: the gate tripped, 2: usage or input error)")
    g.add_argument("--fail-on", choices=("fail", "warn", "never"), default=fail_on,
                   help="exit 1 when a check is at this level or worse: 'fail' trips on fail or error checks, 'warn' "
                        f"also on warnings, 'never' does not gate (default {fail_on})")
    g.add_argument("--thresholds", metavar="FILE", default=None,
                   help="TOML file of check thresholds, e.g. [performance] min_accuracy = 0.9 (see docs/ci.md)")
    g.add_argument("--threshold", metavar="KEY=VALUE", action="append", default=[],
                   help="one threshold, e.g. performance.min_accuracy=0.9 (repeatable; wins over --thresholds)")
    g.add_argument("--junit", metavar="PATH", default=None, help="write the checks as JUnit XML (one testsuite per model)")
    g.add_argument("--junit-warn", choices=("system-out", "skipped"), default="system-out",
                   help="a warning in JUnit: a passing testcase with the message in system-out (default) or a skipped one")
    g.add_argument("--summary-md", metavar="PATH", default=None,
                   help="write a markdown summary (verdict, checks, headline metrics), e.g. \"$GITHUB_STEP_SUMMARY\"")


def _pii_scanner_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("personal-data scanner")
    g.add_argument("--pii-types", default=None, metavar="A,B", help="types to look for, e.g. EMAIL,PHONE (default: all)")
    g.add_argument("--ner-model", default=None, help="token-classification model directory that finds names (default: none)")
    g.add_argument("--min-confidence", type=float, default=0.5, help="drop findings less sure than this (default 0.5)")


def _anonymise_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}mode", dest="anonymise_mode", choices=("placeholder", "pseudonym"), default="placeholder",
                   help="placeholder: <EMAIL>, <PHONE>...; pseudonym: consistent keyed surrogates of the same shape "
                        "(needs a secret) (default placeholder)")
    p.add_argument("--secret-file", default=None, metavar="PATH",
                   help="file holding the pseudonym secret (or set AUDIT_PII_SECRET); never written to any output")


def _demo_parser(sub: Any) -> None:
    """`audit demo`: the generated demo, end to end."""
    p = sub.add_parser("demo", help="generate demo reviews, fine-tune the embedded backbone, audit it, write the report")
    p.add_argument("--out", required=True, help="output directory (report.html, results.json, models/)")
    p.add_argument("--n", type=int, default=2400, help="number of demo reviews (default 2400)")
    p.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs of the non-private model (default 1)")
    p.add_argument("--max-length", type=int, default=64, help="maximum tokens per text (default 64)")
    p.add_argument("--no-private", action="store_true", help="skip the differentially private model")
    p.add_argument("--epsilon", type=float, default=8.0, help="privacy budget of the private model (default 8)")
    p.add_argument("--private-epochs", type=int, default=None,
                   help="DP-SGD epochs of the private model (default: the private-training recipe's, at most 6 "
                        "to stay within 10 minutes on 2 CPU cores; 20 gives the recipe's own choice for the demo data)")
    p.add_argument("--no-privacy-audit", action="store_true", help="skip the membership / canary leakage audit")
    p.add_argument("--canary-kinds", default="classic,email,phone", type=_canary_kinds,
                   help="comma-separated canary kinds planted in turn for the leakage audit: classic (digit codes), email, "
                        "phone (fake personal data from reserved ranges); default: all three")
    p.add_argument("--no-pii-scan", action="store_true", help="skip the scan of the training texts for personal data")
    _precision_arg(p)
    _explain_args(p)
    _gate_args(p)
    _common(p)


def _train_parser(sub: Any) -> None:
    """`audit train`: fine-tuning, private with --dp."""
    p = sub.add_parser("train", help="fine-tune a model (the embedded backbone by default) on a labelled file")
    _data_args(p)
    p.add_argument("--model", default=None, help="model directory or Hub name in the local Hugging Face cache to start from (default: the embedded backbone)")
    p.add_argument("--out", required=True, help="output directory: the model goes to OUT/model, the audit to OUT/report.html")
    p.add_argument("--eval-data", default=None, help="held-out file (same columns); default: a split of --data")
    p.add_argument("--eval-fraction", type=float, default=0.2, help="held-out fraction when no --eval-data (default 0.2)")
    p.add_argument("--epochs", type=int, default=None, help="default 3, or the private default with --dp")
    p.add_argument("--lr", type=float, default=None, help="default 1e-4, or the private default with --dp")
    p.add_argument("--batch-size", type=int, default=None, help="default 32; with --dp the expected logical batch")
    p.add_argument("--no-report", action="store_true", help="only train and save the model")
    _precision_arg(p)
    g = p.add_argument_group("differentially private training (DP-SGD)")
    g.add_argument("--dp", action="store_true", help="train with differential privacy; the model directory gets privacy_ledger.json")
    g.add_argument("--epsilon", type=float, default=None, help="target epsilon (give this or --noise-multiplier)")
    g.add_argument("--noise-multiplier", type=float, default=None, help="noise multiplier sigma instead of a target epsilon")
    g.add_argument("--delta", type=float, default=None, help="delta (default: below 1/n, at most 1e-5)")
    g.add_argument("--max-grad-norm", type=float, default=None, help="per-example clipping norm C")
    g.add_argument("--trainable", default=None, help="trainable scope: all, all-but-word-embeddings, top-K, bias, lora")
    g.add_argument("--grad-sample-mode", default=None, choices=("auto", "bookkeeping", "ghost", "hooks", "per-example"),
                   help="how per-example gradients are clipped (default auto: single-pass book-keeping clipping when it "
                        "covers every trained layer, else ghost clipping, else per-example passes); bf16 precision needs "
                        "bookkeeping, hooks or per-example")
    g.add_argument("--max-physical-batch-size", type=int, default=None,
                   help="largest batch held in memory at once (default: measured to fit a CUDA GPU's free memory; 32 on a "
                        "CPU); never changes the sampling or epsilon")
    g.add_argument("--max-epochs", type=int, default=None,
                   help="cap on the epochs the private-training recipe may choose (a compute limit)")
    g.add_argument("--dp-optimizer", default=None, choices=("adam", "adam-bc"),
                   help="update rule (default adam; adam-bc removes the noise variance from Adam's second moment, and the "
                        "recipe scales its learning rate to match)")
    g.add_argument("--clipping", default=None, choices=("flat", "automatic"),
                   help="how each example's gradient is clipped (default flat: cut to the clipping norm when longer; "
                        "automatic: every gradient normalised to just under it)")
    g.add_argument("--linear-probe", default=None, action=argparse.BooleanOptionalAction,
                   help="train the classifier head alone for the first quarter of the epochs, then the whole scope, at "
                        "the same noise (default: on, the recipe's; --no-linear-probe trains everything from the start)")
    g = p.add_argument_group("personal data")
    g.add_argument("--anonymise", action="store_true",
                   help="replace personal data in the training texts before training (recorded in training.json)")
    _anonymise_args(g, prefix="anonymise-")
    _pii_scanner_args(p)
    _explain_args(p)
    _gate_args(p)
    _common(p)


def _run_parser(sub: Any) -> None:
    """`audit run`: the audit of a trained model."""
    p = sub.add_parser("run", help="audit a trained model on a labelled file")
    p.add_argument("--model", default=None, help="model directory, or a Hub name (org/name[@revision]) already in the local Hugging Face cache (default: the embedded backbone with an untrained head)")
    _data_args(p)
    p.add_argument("--out", required=True, help="output directory (report.html, results.json)")
    p.add_argument("--limit", type=int, default=None, help="audit only the first N rows")
    p.add_argument("--trust-remote-code", action="store_true", help="allow model code from the model directory (off by default)")
    g = p.add_argument_group("privacy leakage audit")
    g.add_argument("--privacy", action="store_true", help="audit membership leakage of the training data (needs --train-data and --holdout-data)")
    g.add_argument("--train-data", help="the records the model was trained on (same columns as --data)")
    g.add_argument("--holdout-data", help="records of the same distribution the model never saw")
    g.add_argument("--reference-data", help="more unseen records to train reference models on (without it: loss attack only)")
    g.add_argument("--reference-model", help="the model the target was fine-tuned from (default: the embedded backbone)")
    g.add_argument("--n-reference-models", type=int, default=4, help="reference models for the calibrated attack (default 4)")
    g.add_argument("--ledger", help="privacy_ledger.json of a DP-trained model (default: the one in the model directory)")
    g.add_argument("--show-training-text", action="store_true", help="print training texts of the most exposed records in the report")
    _explain_args(p)
    _gate_args(p)
    _common(p)


def _scan_parser(sub: Any) -> None:
    """`audit scan`: personal data in a data file."""
    p = sub.add_parser("scan", help="scan a data file for personal data (e-mails, phones, cards, IBANs, identity numbers, names...)",
                       description="Scan the text of a data file for personal data and write results.json (a personal_data "
                                   "section under data) and report.html. Values are masked by their type unless "
                                   "--show-values is given. No model is loaded.")
    p.add_argument("--data", required=True, help="CSV, TSV, JSONL or Parquet file, or a saved Hugging Face dataset directory")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--columns", default=None, metavar="A,B", help="scan these columns instead (comma-separated)")
    p.add_argument("--out", default=".", help="output directory for results.json and report.html (default: .)")
    p.add_argument("--examples", type=int, default=5, help="texts shown as examples (default 5)")
    p.add_argument("--show-values", action="store_true",
                   help="show the personal data itself in the examples (recorded in the results; off by default)")
    _pii_scanner_args(p)
    _gate_args(p)
    p.add_argument("--quiet", "-q", action="store_true")


def _anonymise_parser(sub: Any) -> None:
    """`audit anonymise`: personal data replaced in a data file."""
    p = sub.add_parser("anonymise", help="replace personal data in a data file by placeholders or keyed pseudonyms",
                       description="Scan the text column(s) and write a copy of the file with every value found replaced: "
                                   "by its type (<EMAIL>, placeholder mode) or by a consistent surrogate of the same "
                                   "shape derived from your secret with HMAC-SHA256 (pseudonym mode). Other columns "
                                   "are kept. The output is written atomically.")
    p.add_argument("--data", required=True, help="CSV, TSV, JSONL or Parquet file")
    p.add_argument("--out", required=True, help="the anonymised file to write (format by its extension)")
    p.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    p.add_argument("--columns", default=None, metavar="A,B", help="anonymise these columns instead (comma-separated)")
    _anonymise_args(p)
    p.add_argument("--summary", default=None, metavar="PATH", help="also write the summary (counts per type, no values) as JSON")
    _pii_scanner_args(p)
    p.add_argument("--quiet", "-q", action="store_true")


def _render_parser(sub: Any) -> None:
    """`audit render`: a report from saved results."""
    p = sub.add_parser("render", help="re-render report.html from a results.json without recomputing")
    p.add_argument("results", help="results.json")
    p.add_argument("--out", required=True, help="report.html to write")
    p.add_argument("--quiet", "-q", action="store_true")


def _card_parser(sub: Any) -> None:
    """`audit card`: a model card from saved results."""
    p = sub.add_parser("card", help="write a Hugging Face model card (README.md) from a results.json, without recomputing")
    p.add_argument("results", help="results.json")
    p.add_argument("--out", required=True, help="model card to write (usually README.md in the model's directory)")
    p.add_argument("--model", default=None, help="the model of the results to describe (needed when there are several)")
    p.add_argument("--card-info", default=None, metavar="FILE",
                   help="TOML file with what only the owner can say: intended_use, out_of_scope_use, owners, contact, "
                        "license, language, dataset_name, dataset_id, base_model, model_name, limitations")
    g = p.add_argument_group("owner-supplied fields (override --card-info; missing ones are marked in the card)")
    g.add_argument("--model-name", default=None, help="the model's name on the Hub (default: its name in the results)")
    g.add_argument("--license", default=None, help="licence identifier, e.g. apache-2.0")
    g.add_argument("--owner", action="append", default=None, help="an owner of the model (repeat for several)")
    g.add_argument("--contact", default=None, help="how to reach the owners")
    g.add_argument("--language", action="append", default=None, help="language code of the texts, e.g. en (repeat for several)")
    g.add_argument("--intended-use", default=None, help="what the model is for")
    g.add_argument("--out-of-scope-use", default=None, help="what the model must not be used for")
    g.add_argument("--dataset-name", default=None, help="name of the evaluation dataset")
    g.add_argument("--dataset-id", default=None, help="the dataset's Hub id, when it has one")
    g.add_argument("--base-model", default=None, help="Hub id of the model that was fine-tuned")
    p.add_argument("--quiet", "-q", action="store_true")


def _compare_parser(sub: Any) -> None:
    """`audit compare`: models of saved audits side by side."""
    p = sub.add_parser("compare", help="compare models of saved audits (results.json files) without recomputing",
                       description="Compare the models of two or more saved audits: metric deltas, a paired confidence "
                                   "interval of the accuracy difference, checks that changed status (regressions first), "
                                   "faithfulness, robustness and leakage deltas, and explanations of the same examples. "
                                   "Files are named A, B, C... in the order given; every difference is B minus A.")
    p.add_argument("results", nargs="+", help="results.json files: A (the reference) first, then B (and more)")
    p.add_argument("--out", required=True, help="compare.html to write (compare.json is written beside it)")
    p.add_argument("--json", default=None, metavar="PATH", help="where to write the comparison JSON (default: beside --out)")
    p.add_argument("--pair", action="append", default=[], metavar="A:NAME=B:NAME",
                   help="compare model NAME of file A with model NAME of file B (repeatable). Files by letter or "
                        "1-based position; without a letter the left model is from A and the right from B (from A "
                        "when one file is given), e.g. --pair baseline=private. Default: every model of A against "
                        "the same-named model of each other file; one file: its first model against each other one")
    p.add_argument("--allow-different-data", action="store_true",
                   help="compare models evaluated on different data (refused by default); no paired statistics")
    p.add_argument("--seed", type=int, default=0, help="seed of the paired bootstrap (default 0)")
    p.add_argument("--quiet", "-q", action="store_true")


def _check_parser(sub: Any) -> None:
    """`audit check`: a CI gate on saved results."""
    p = sub.add_parser("check", help="gate on a saved results.json: re-judge its checks against thresholds, set the exit "
                                     "code, write JUnit / markdown (no recomputation)")
    p.add_argument("results", help="results.json of an earlier audit")
    _gate_args(p, fail_on="fail")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors and the verdict of a tripped gate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Audit a transformer text classifier (explanations, performance, identity) and write one offline HTML report plus results.json.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (_demo_parser, _train_parser, _run_parser, _scan_parser, _anonymise_parser, _render_parser, _card_parser, _compare_parser, _check_parser):
        add(sub)
    return parser


def _say(args: argparse.Namespace, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except Exception:  # pragma: no cover
        pass


def _audit_config(args: argparse.Namespace, analysis_options: dict[str, dict[str, Any]] | None = None) -> Any:
    from .pipeline import DEFAULT_ANALYSES, AuditConfig

    if args.probe and args.no_robustness:
        raise ValueError("--probe and --no-robustness contradict each other")
    skip = {"faithfulness": args.no_faithfulness, "robustness": args.no_robustness}
    options = {key: dict(v) for key, v in (analysis_options or {}).items()}
    if args.faithfulness_examples is not None:
        options.setdefault("faithfulness", {})["n_examples"] = args.faithfulness_examples
    if args.attack_texts is not None:
        options.setdefault("robustness", {})["n_attack"] = args.attack_texts
    config = AuditConfig(
        seed=args.seed, max_length=args.max_length, explain=not args.no_explain, examples_per_category=args.examples,
        ig_steps=args.ig_steps, ig_method=args.ig_method, ig_baseline=args.ig_baseline, ig_output=args.ig_output,
        show_progress=not args.quiet, analyses=tuple(a for a in DEFAULT_ANALYSES if not skip.get(a)),
        analysis_options={k: v for k, v in options.items() if not skip.get(k)},
    )
    return _configure_thresholds(args, config)


def _configure_thresholds(args: argparse.Namespace, config: Any) -> Any:
    """The thresholds file and flags into ``config``; an explicit --ig-tolerance wins over both."""
    from .thresholds import configure

    overrides = dict(getattr(args, "threshold_values", None) or {})
    if args.ig_tolerance is not None:
        overrides["explanations.ig_tolerance"] = args.ig_tolerance
    return configure(config, overrides)


def _load_data(args: argparse.Namespace, path: str, label_names: Any = None, multi_label: bool | None = None) -> Any:
    from .data import load_dataset

    multi = True if args.multi_label else multi_label
    ds = load_dataset(path, text_column=args.text_column, label_column=args.label_column,
                      label_names=label_names, skip_invalid=args.skip_invalid, multi_label=multi,
                      label_separator=args.label_separator, label_columns=args.label_columns)
    if ds.skipped_rows:
        _say(args, f"{path}: skipped {ds.skipped_rows} invalid rows")
    return ds


def _report_paths(args: argparse.Namespace, paths: Sequence[Path]) -> None:
    for p in paths:
        _say(args, f"wrote {p} ({p.stat().st_size / 1024:.0f} KiB)")


def _canary_kinds(value: str) -> tuple[str, ...]:
    from .privacy.pii_canaries import CANARY_KINDS

    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    bad = [k for k in kinds if k not in CANARY_KINDS]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(f"unknown canary kind(s) {', '.join(bad) or '(none given)'}; known: {', '.join(CANARY_KINDS)}")
    return kinds


def cmd_demo(args: argparse.Namespace) -> int:
    from .pipeline import DemoConfig, run_demo

    cfg = DemoConfig(n=args.n, seed=args.seed, epochs=args.epochs, max_length=args.max_length, audit=_audit_config(args),
                     private=not args.no_private, private_epsilon=args.epsilon, private_epochs=args.private_epochs,
                     privacy_audit=not args.no_privacy_audit, canary_kinds=args.canary_kinds,
                     personal_data=not args.no_pii_scan, precision=args.precision)
    _say(args, f"demo: {args.n} generated reviews; fine-tuning the embedded backbone ({args.epochs} epoch(s))"
         + ("" if args.no_private else f" and a private copy at epsilon {args.epsilon:g}"
            + (f" ({args.private_epochs} epochs)" if args.private_epochs else " (the default recipe)"))
         + ", then auditing")
    result = run_demo(args.out, cfg, device=args.device)
    for name, section in result.models.items():
        _say(args, f"{name}: {_headline(section['performance'])}")
    _say(args, f"overall status: {result.status}")
    out = Path(args.out)
    _report_paths(args, [out / "report.html", out / "results.json"])
    return _gate(args, result.to_dict(), str(out / "results.json"))


def _headline(perf: dict[str, Any]) -> str:
    if perf.get("problem_type") == "multi_label":
        return f"held-out micro-F1 {perf['f1_micro']:.1%} (subset accuracy {perf['subset_accuracy']:.1%})"
    return f"held-out accuracy {perf['accuracy']:.1%}"


def cmd_train(args: argparse.Namespace) -> int:
    from .models import load_model
    from .pipeline import run_audit, write_outputs
    from .training import fine_tune
    from .training.finetune import save_checkpoint

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = _load_data(args, args.data)
    if args.eval_data:
        train, eval_data = data, _load_data(args, args.eval_data, label_names=data.label_names, multi_label=data.multi_label or None)
    else:
        train, eval_data = data.split(args.eval_fraction, seed=args.seed)
    anonymisation = None
    if args.anonymise:
        train, anonymisation = _anonymise_training(args, train)
    elif args.secret_file or args.anonymise_mode != "placeholder":
        raise ValueError("--anonymise-mode and --secret-file need --anonymise")
    timings["data"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle = load_model(args.model, num_labels=train.num_labels, device=args.device, label_names=train.label_names, seed=args.seed,
                        multi_label=train.multi_label)
    timings["load"] = time.perf_counter() - t0
    _say(args, f"training {bundle.source} on {len(train)} rows, evaluating on {len(eval_data)} (device {bundle.device})"
         + (" with differential privacy" if args.dp else ""))
    t0 = time.perf_counter()
    out = Path(args.out)
    if args.dp:
        record = _train_private(args, bundle, train, eval_data, out / "model")
        if anonymisation:
            record.config["anonymisation"] = anonymisation
            _record_anonymisation(out / "model", anonymisation)
        eps = record.ledger["epsilon"]
        _say(args, f"privacy: epsilon {eps:.3g} at delta {record.ledger['delta']:.1g} ({record.ledger['accountant']} accountant)")
        cfg = record.config
        given = set(cfg["recipe"].get("given", []))
        _say(args, f"recipe: {cfg['epochs']} epochs, logical batch {cfg['batch_size']}, {record.ledger['steps']} steps, "
             f"lr {cfg['lr']:.3g}, clipping norm {cfg['max_grad_norm']:g}, noise multiplier {cfg['noise_multiplier']:.3g}"
             + (f" (given: {', '.join(sorted(given))})" if given else "") + "; reasons in training.json and privacy_ledger.json"),
    else:
        if any(v is not None for v in (args.epsilon, args.noise_multiplier, args.delta, args.max_grad_norm, args.trainable,
                                       args.grad_sample_mode, args.max_physical_batch_size, args.max_epochs,
                                       args.dp_optimizer, args.linear_probe, args.clipping)):
            raise ValueError("--epsilon, --noise-multiplier, --delta, --max-grad-norm, --trainable, --grad-sample-mode, "
                             "--max-physical-batch-size, --max-epochs, --dp-optimizer, --clipping and --[no-]linear-probe "
                             "need --dp")
        record = fine_tune(bundle, train, eval_data, epochs=args.epochs or 3, lr=args.lr or 1e-4, batch_size=args.batch_size or 32,
                           max_length=args.max_length, seed=args.seed, show_progress=not args.quiet, precision=args.precision)
        if anonymisation:
            record.config["anonymisation"] = anonymisation
        save_checkpoint(bundle, out / "model", record)
    record.checkpoint = "model"
    timings["train"] = time.perf_counter() - t0
    _say(args, f"saved the model to {out / 'model'}")
    if not args.no_report:
        name = "private" if args.dp else "baseline"
        result = run_audit({name: bundle}, eval_data, _audit_config(args), train_data=train, trainings={name: record},
                           command="train", timings=timings, extra_config={"train": vars_for_record(args)})
        _report_paths(args, write_outputs(result, out))
        return _gate(args, result.to_dict(), str(out / "results.json"))
    return 0


def _pii_scanner(args: argparse.Namespace) -> Any:
    from .pii.scanner import PIIScanner

    types = [t.strip() for t in args.pii_types.split(",") if t.strip()] if args.pii_types else None
    return PIIScanner(types=types, ner_model=args.ner_model, min_confidence=args.min_confidence)


def _pii_secret(args: argparse.Namespace) -> str | None:
    """The pseudonym secret from --secret-file or AUDIT_PII_SECRET (the file wins)."""
    if args.secret_file:
        path = Path(args.secret_file)
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            raise ValueError(f"--secret-file {path}: no such file") from None
    return os.environ.get("AUDIT_PII_SECRET") or None


def _anonymiser(args: argparse.Namespace) -> Any:
    from .pii.anonymise import Anonymiser

    return Anonymiser(mode=args.anonymise_mode, secret=_pii_secret(args) if args.anonymise_mode == "pseudonym" else None)


def _anonymise_training(args: argparse.Namespace, train: Any) -> tuple[Any, dict[str, Any]]:
    """The training split with its personal data replaced, and what was done (no values, no secret)."""
    from dataclasses import replace

    from .pii.analysis import library_versions, scanner_config
    from .pii.anonymise import anonymise_texts

    anonymiser = _anonymiser(args)
    scanner = _pii_scanner(args)
    texts, summary = anonymise_texts(train.texts, scanner, anonymiser)
    summary.update(scanner=scanner_config(scanner), versions=library_versions())
    _say(args, f"anonymised {summary['n_replacements']} pieces of personal data in {summary['n_texts_changed']} training texts "
         f"({args.anonymise_mode} mode)")
    changed = [a != b for a, b in zip(train.texts, texts)]
    rationales = None if train.rationales is None else [
        None if c else r for c, r in zip(changed, train.rationales)]
    if rationales is not None and any(r is None for r in rationales):
        rationales = None  # word flags no longer line up with the rewritten words
        summary["rationales_dropped"] = True
    return replace(train, texts=texts, rationales=rationales), summary


def _record_anonymisation(model_dir: Path, anonymisation: dict[str, Any]) -> None:
    """Add the anonymisation to a training.json already written with the model."""
    import json

    from ._util import atomic_write_json

    path = model_dir / "training.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved.setdefault("config", {})["anonymisation"] = anonymisation
    atomic_write_json(path, saved)


def cmd_scan(args: argparse.Namespace) -> int:
    import datetime as _dt

    from ._util import library_versions, platform_string
    from .pii.analysis import check, scan_dataset
    from .pii.table import read_table
    from .pipeline import write_outputs
    from .results import AuditResult, Check

    t0 = time.perf_counter()
    table = read_table(args.data)
    columns = _column_list(args)
    table.require(columns)
    if args.examples < 0:
        raise ValueError("--examples must be 0 or more")
    scanner = _pii_scanner(args)
    section = scan_dataset({c: table.data[c] for c in columns}, scanner, show_values=args.show_values,
                           examples=args.examples, show_progress=not args.quiet)
    run = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "command": "scan",
           "versions": library_versions(), "platform": platform_string(),
           "config": {"scan": vars_for_record(args)}, "wall_time_s": time.perf_counter() - t0}
    data = {"source": table.name, "format": table.format, "n_rows": table.n_rows, "text_columns": columns,
            "personal_data": section}
    result = AuditResult(run=run, data=data, checks=[Check(**{**check(section), "name": "data: personal data"})])
    _say(args, f"{section['n_findings']} pieces of personal data in {section['n_rows_affected']} of {section['n_rows']} rows"
         + (": " + ", ".join(f"{k} {v}" for k, v in section["counts"].items()) if section["counts"] else ""))
    out = Path(args.out)
    _report_paths(args, list(write_outputs(result, out)))
    return _gate(args, result.to_dict(), str(out / "results.json"))


def _column_list(args: argparse.Namespace) -> list[str]:
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else [args.text_column]
    if not columns:
        raise ValueError("--columns names no column")
    return list(dict.fromkeys(columns))


def cmd_anonymise(args: argparse.Namespace) -> int:
    import json

    from ._util import atomic_write_json
    from .pii.analysis import library_versions, scanner_config
    from .pii.anonymise import anonymise_texts
    from .pii.table import read_table, write_table

    anonymiser = _anonymiser(args)  # a missing secret fails before any work
    if Path(args.out).expanduser().resolve() == Path(args.data).expanduser().resolve():
        raise ValueError(f"--out {args.out} is the input file; write the anonymised copy elsewhere")
    table = read_table(args.data)
    columns = _column_list(args)
    table.require(columns)
    scanner = _pii_scanner(args)
    summary: dict[str, Any] = {"source": table.name, "output": str(args.out), "columns": {}}
    for col in columns:
        table.data[col], summary["columns"][col] = anonymise_texts(table.data[col], scanner, anonymiser,
                                                                   show_progress=not args.quiet)
    totals: dict[str, int] = {}
    for col_summary in summary["columns"].values():
        for kind, n in col_summary["replacements"].items():
            totals[kind] = totals.get(kind, 0) + n
    summary.update(mode=anonymiser.mode, replacements=dict(sorted(totals.items())), n_replacements=sum(totals.values()),
                   n_rows=table.n_rows, scanner=scanner_config(scanner), versions=library_versions())
    path = write_table(table, args.out)
    if args.summary:
        atomic_write_json(args.summary, summary)
    if not args.quiet:
        print(json.dumps({k: summary[k] for k in ("mode", "n_rows", "n_replacements", "replacements")}, ensure_ascii=False))
    _report_paths(args, [path] + ([Path(args.summary)] if args.summary else []))
    return 0


def _train_private(args: argparse.Namespace, bundle: Any, train: Any, eval_data: Any, out: Path) -> Any:
    from .training.private import fine_tune_private

    if (args.epsilon is None) == (args.noise_multiplier is None):
        raise ValueError("--dp needs exactly one of --epsilon and --noise-multiplier")
    given = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "delta": args.delta,
             "max_grad_norm": args.max_grad_norm, "trainable": args.trainable,
             "max_physical_batch_size": args.max_physical_batch_size, "grad_sample_mode": args.grad_sample_mode,
             "max_epochs": args.max_epochs, "optimizer": args.dp_optimizer, "linear_probe": args.linear_probe,
             "clipping": args.clipping}
    return fine_tune_private(bundle, train, eval_data, target_epsilon=args.epsilon, noise_multiplier=args.noise_multiplier,
                             max_length=args.max_length, seed=args.seed, out_dir=out, show_progress=not args.quiet,
                             precision=args.precision, **{k: v for k, v in given.items() if v is not None})


def vars_for_record(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in ("func", "quiet")}


def cmd_run(args: argparse.Namespace) -> int:
    from .models import check_compatible, load_model
    from .pipeline import run_audit, write_outputs

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bundle = load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code, seed=args.seed)
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = _load_data(args, args.data, label_names=bundle.label2id if not bundle.head_initialized else None,
                      multi_label=True if bundle.multi_label else None)
    if args.limit is not None:
        data = data.subset(range(min(args.limit, len(data))))
    timings["data"] = time.perf_counter() - t0
    check_compatible(bundle, data)
    if bundle.head_initialized:
        _say(args, "warning: the model has no trained classification head; results describe an untrained head")
    config = _audit_config(args)
    train = _privacy_options(args, bundle, config) if args.privacy else None
    name, saved = _saved_training(args)
    result = run_audit({name: bundle}, data, config, command="run", timings=timings, train_data=train,
                       trainings={name: saved} if saved else None, extra_config={"run": vars_for_record(args)})
    result.data.update({"text_column": args.text_column, "label_column": args.label_columns or args.label_column})
    _report_paths(args, write_outputs(result, Path(args.out)))
    return _gate(args, result.to_dict(), str(Path(args.out) / "results.json"))


def _saved_training(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """The model directory's training record and privacy ledger, when it has them: a model trained
    with ``audit train --dp`` is audited as "private" with its ledger in the report."""
    import json

    if not args.model:
        return "baseline", None
    out: dict[str, Any] = {}
    for key, file in (("record", "training.json"), ("privacy_ledger", "privacy_ledger.json")):
        path = Path(args.model) / file
        if path.is_file():
            try:
                out[key] = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from exc
            if not isinstance(out[key], dict):
                raise ValueError(f"{path}: expected a JSON object, found {type(out[key]).__name__}")
    if not out:
        return "baseline", None
    saved = dict(out.get("record") or {})
    if "privacy_ledger" in out:
        saved["privacy_ledger"] = out["privacy_ledger"]
    return ("private" if "privacy_ledger" in out else "baseline"), saved


def _privacy_options(args: argparse.Namespace, bundle: Any, config: Any) -> Any:
    """Load the member / non-member files and put the privacy-audit options into ``config``."""
    import json

    if not (args.train_data and args.holdout_data):
        raise ValueError("--privacy needs --train-data (the training records) and --holdout-data (unseen records)")
    names = bundle.label2id if not bundle.head_initialized else None
    train = _load_data(args, args.train_data, label_names=names, multi_label=True if bundle.multi_label else None)
    options: dict[str, Any] = {
        "holdout": _load_data(args, args.holdout_data, label_names=names),
        "n_reference_models": args.n_reference_models,
        "show_training_text": args.show_training_text,
        "max_length": args.max_length,
    }
    if args.reference_data:
        options["reference_population"] = _load_data(args, args.reference_data, label_names=names)
    if args.reference_model:
        options["reference_model"] = args.reference_model
    ledger_path = Path(args.ledger) if args.ledger else (Path(args.model) / "privacy_ledger.json" if args.model else None)
    if ledger_path is not None and ledger_path.is_file():
        options["ledger"] = json.loads(ledger_path.read_text(encoding="utf-8"))
    elif args.ledger:
        raise FileNotFoundError(f"{args.ledger}: no such ledger file")
    config.analyses = tuple(config.analyses) + ("privacy_audit",)
    config.analysis_options["privacy_audit"] = options
    return train


def cmd_render(args: argparse.Namespace) -> int:
    from reports import load_results, write_report

    path = write_report(load_results(args.results), args.out)
    _report_paths(args, [Path(path)])
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    from modelcard import CardInfo, load_card_info, write_card
    from reports import load_results

    info = load_card_info(args.card_info) if args.card_info else CardInfo()
    info = info.merged(model_name=args.model_name, license=args.license, owners=args.owner, contact=args.contact,
                       language=args.language, intended_use=args.intended_use, out_of_scope_use=args.out_of_scope_use,
                       dataset_name=args.dataset_name, dataset_id=args.dataset_id, base_model=args.base_model)
    path = write_card(load_results(args.results), args.out, model=args.model, info=info)
    _report_paths(args, [Path(path)])
    return 0



def cmd_compare(args: argparse.Namespace) -> int:
    from reports import write_comparison

    from ._util import atomic_write_json
    from .compare import compare_files

    comparison = compare_files(args.results, args.pair, allow_different_data=args.allow_different_data, seed=args.seed)
    out = Path(args.out)
    json_path = Path(args.json) if args.json else out.with_name(out.stem + ".json")
    if json_path.resolve() == out.resolve():
        raise ValueError(f"--json {json_path} and --out {out} name the same file")
    atomic_write_json(json_path, comparison)
    write_comparison(comparison, out)
    for pair in comparison["pairs"]:
        _say(args, _compare_line(pair))
    for note in comparison["notes"]:
        _say(args, note)
    _report_paths(args, [out, json_path])
    return 0


def _compare_line(pair: dict[str, Any]) -> str:
    parts = [pair["title"]]
    paired = pair["paired"]
    if "difference" in paired:
        lo, hi = paired["ci"]
        parts.append(f"{paired['metric'].replace('_', ' ')} {paired['difference']:+.1%} "
                     f"({paired['ci_level']:.0%} CI {lo:+.1%} to {hi:+.1%}, McNemar p={paired['mcnemar_p']:.3g})")
    if not pair["data"]["same"]:
        parts.append("DIFFERENT evaluation data")
    parts.append(f"{pair['checks']['n_regressions']} check regression(s)")
    return "; ".join(parts)


def cmd_check(args: argparse.Namespace) -> int:
    """Gate on saved results: the checks are judged again only where a threshold was given."""
    import json

    from .results import AuditResult
    from .thresholds import rejudge

    path = Path(args.results)
    try:
        results = AuditResult.load(path).to_dict()  # validates the schema version and every check's status
    except TypeError as exc:  # a check with keys other than name, status, value, threshold, message
        raise ValueError(f"{path}: a check is malformed ({exc})") from exc
    checks, notes = rejudge(results, args.threshold_values)
    used = {**_saved_thresholds(results), **args.threshold_values}
    if not args.quiet:
        for c in checks:
            print(f"{c['status'].upper():5}  {c['name']}: {c.get('message', '')}")
        for note in notes:
            print(f"note: {note}")
        if used:
            print("thresholds: " + json.dumps(used, sort_keys=True))
    return _gate(args, {**results, "checks": checks}, str(path), thresholds=used, notes=notes)


def _gate(args: argparse.Namespace, results: dict[str, Any], source: str, *, thresholds: dict[str, float] | None = None,
          notes: Sequence[str] = ()) -> int:
    """Write the CI outputs asked for and return the exit code of the --fail-on gate."""
    from . import junit, summary_md
    from .gate import judge

    checks = list(results.get("checks") or [])
    verdict = judge(checks, args.fail_on)
    if thresholds is None:
        thresholds = _saved_thresholds(results)
    written = []
    if args.junit:
        models = results.get("models") if isinstance(results.get("models"), dict) else {}
        written.append(junit.write(args.junit, checks, models.keys(), warn_as=args.junit_warn))
    if args.summary_md:
        written.append(summary_md.write(args.summary_md, results, checks, verdict, thresholds, notes, source))
    _report_paths(args, written)
    if verdict.tripped or (not args.quiet and (args.fail_on != "never" or args.command == "check")):
        print(f"{PROG}: {verdict.line()}", file=sys.stderr, flush=True)
        for name in verdict.tripping:
            _say(args, f"tripped by: {name}")
    return verdict.exit_code


def _saved_thresholds(results: dict[str, Any]) -> dict[str, Any]:
    """The thresholds a saved audit recorded (run.config.audit.thresholds), or none."""
    node: Any = results
    for key in ("run", "config", "audit", "thresholds"):
        node = node.get(key) if isinstance(node, dict) else None
    return dict(node) if isinstance(node, dict) else {}


def _prepare_gate(args: argparse.Namespace) -> None:
    """Read the thresholds before any work, so a bad file fails at once."""
    from .thresholds import gather

    args.threshold_values = gather(args.thresholds, args.threshold)
    if getattr(args, "no_report", False) and (args.junit or args.summary_md or args.fail_on != "never"):
        raise ValueError("--no-report audits nothing, so --fail-on, --junit and --summary-md have nothing to judge")


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "run": cmd_run, "render": cmd_render, "check": cmd_check,
            "card": cmd_card, "compare": cmd_compare, "scan": cmd_scan, "anonymise": cmd_anonymise}
#: Commands that only read saved results: they never load the model libraries.
LIGHT_COMMANDS = ("render", "check", "card", "compare")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"{PROG} {__version__}")
        return 0
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format=f"{PROG}: %(message)s")
    if args.command not in LIGHT_COMMANDS:
        _quiet_libraries()
    from .data import DataError
    from .models import ModelError

    try:
        if hasattr(args, "fail_on"):
            _prepare_gate(args)
        return COMMANDS[args.command](args)
    except (DataError, ModelError, OSError, ValueError, RuntimeError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"{PROG}: internal error (exit status 3); please report it with the traceback above", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
