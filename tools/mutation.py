"""Mutation testing of the privacy, training and attribution cores with mutmut.

Each core module is mutated on its own and checked against a small, fast subset of the test
suite: a mutant (one small change such as ``<`` -> ``<=``, ``+`` -> ``-``, a constant + 1, an
argument dropped) is *killed* when one of the tests that run the mutated function fails, and
*survives* when they all pass. Survivors are either equivalent mutants (the change cannot alter
any result) or places where the tests do not pin the numbers down.

Not part of the test suite or CI: mutmut is not a project dependency. Install it in a separate
virtual environment that also sees the project's environment, then run this script with it::

    python -m venv .bench/mutation-venv
    .bench/mutation-venv/bin/pip install "mutmut==3.8.1"
    echo "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \\
        > .bench/mutation-venv/lib/python3.11/site-packages/project-env.pth   # torch, transformers, ...

    .bench/mutation-venv/bin/python tools/mutation.py --list             # modules, tests, mutant counts
    .bench/mutation-venv/bin/python tools/mutation.py --modules attribution.stats --jobs 2   # ~3 min
    .bench/mutation-venv/bin/python tools/mutation.py --sample 12 --jobs 2   # every module, 12 mutants each
    .bench/mutation-venv/bin/python tools/mutation.py --modules privacy.canaries \\
        --tests tests/privacy/test_priv_canaries.py --out .bench/mutation/canaries
    .bench/mutation-venv/bin/python tools/mutation.py --modules privacy.membership \\
        --mutants x_balanced_sample__mutmut_33                        # re-test one survivor

Every module in full is about 4,400 mutants, many hours on 2 cores; docs/development.md gives
the measured times.

Options: ``--modules`` (comma-separated names from ``--list``), ``--tests`` (pytest node ids or
files replacing the module's own subset), ``--out`` (folder for ``summary.json`` and
``summary.md``, default ``.bench/mutation/<timestamp>``), ``--jobs`` (mutants tested at once,
default 1), ``--timeout-multiplier`` and ``--timeout-constant`` (a mutant is stopped as a
timeout after multiplier x (its tests' clean time + constant + 1.5 x the fixture time of the
subset) seconds of wall time, twice that of CPU; defaults 3 and 5 s), ``--sample N`` (test N
covered mutants per module drawn at random, with ``--seed``; the score is then an estimate with
its interval), ``--mutants`` (only mutants whose names match these globs, e.g. to re-test the
survivors of an earlier run), ``--all-functions`` (mutate every function of the module, not only
the numeric ones listed below).

How it works, per module: the repository (audit/, reports/, modelcard/, tests/) is copied to
``.bench/mutation/work/<module>``; one coverage run of the test subset finds the lines the tests
execute and times the fixtures; mutmut lists every mutant of the chosen functions, skipping lines
that only build messages (``raise``, warnings, notes); mutants on lines the subset never executes
are counted as "no coverage" without running; the rest are run by mutmut, which forks a
warmed-up pytest per mutant and runs only the tests that call the mutated function. Counts per
module and every surviving mutant (file, line, diff) go to the summary.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("audit", "reports", "modelcard", "tests", "pyproject.toml")
MUTMUT_VERSION = "3.8.1"

#: Lines whose expressions only build messages or progress output: mutating them cannot change a number.
MESSAGE_LINES = (
    r"^\s*raise\b",
    r"warnings\.warn\(",
    r"\bnotes\.append\(",
    r"\blog(ger)?\.(debug|info|warning|error)\(",
    r"\bbar\.(set_postfix|update|close)\(",
)

#: Plugins that cost time in every forked test run and play no part in a verdict.
#: ``--assert=plain``: a failing assert is a kill either way, and explaining it can take longer than the tests.
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:threadexception",
               "-p", "no:benchmark", "--assert=plain")


@dataclass
class Module:
    name: str
    path: str
    tests: list[str]
    functions: list[str] = field(default_factory=lambda: ["*"])  # globs over mutmut's function keys
    about: str = ""


def _fn(*names: str) -> list[str]:
    """Function keys as mutmut spells them: ``x_name`` for functions, ``xǁClassǁmethod`` for methods."""
    out = []
    for n in names:
        cls, _, meth = n.rpartition(".")
        out.append(f"x\u01c1{cls}\u01c1{meth}" if cls else f"x_{n}")
    return out


_P, _T, _A = "tests/privacy/", "tests/training/", "tests/attribution/"

MODULES: list[Module] = [
    Module("privacy.lower_bound", "audit/privacy/lower_bound.py", [_P + "test_priv_lower_bound.py"],
           _fn("_check_counts", "p_value", "p_values", "epsilon_lower_bound", "max_certifiable_epsilon",
               "guess_counts", "one_run_audit", "split_audit_records"),
           "one-run ε lower bound: p-values, crossing search, Bonferroni level, guessing"),
    Module("privacy.bounds", "audit/privacy/bounds.py",
           [_P + "test_priv_bounds.py::test_single_pair_is_vacuous_at_epsilon_8",
            _P + "test_priv_bounds.py::test_gaussian_mechanism_bound_is_the_exact_tradeoff",
            _P + "test_priv_bounds.py::test_whole_curve_is_far_tighter_than_the_single_pair",
            _P + "test_priv_bounds.py::test_flags_a_memorising_model_labelled_private",
            _P + "test_priv_bounds.py::test_passes_scores_inside_the_guarantee",
            _P + "test_priv_bounds.py::test_no_false_alarms_for_the_strongest_attack_the_ledger_allows",
            _P + "test_priv_bounds.py::test_ledger_underreporting_epsilon_is_noted",
            _P + "test_priv_bounds.py::test_check_needs_experiments"],
           _fn("PrivacyCurve.__init__", "PrivacyCurve.delta", "PrivacyCurve.epsilon", "PrivacyCurve.tpr_bound",
               "PrivacyCurve.gaussian_mu", "tradeoff_bound", "single_pair_tpr_bound", "dp_bound_check"),
           "DP trade-off curve and the check of observed attack points against it"),
    Module("privacy.stats", "audit/privacy/stats.py", [_P + "test_priv_stats.py", _P + "test_priv_stats_exact.py"],
           _fn("_as_scores", "clopper_pearson_lower", "clopper_pearson_upper", "_check_count", "roc_curve", "auc",
               "_auc_rows", "allowed_false_positives", "_threshold_rows", "tpr_at_fpr", "_youden_rows",
               "best_balanced_accuracy", "downsample_roc", "attack_metrics"),
           "ROC/AUC, TPR at low FPR, Clopper-Pearson and bootstrap intervals"),
    Module("privacy.canaries", "audit/privacy/canaries.py", [_P + "test_priv_canaries.py"],
           _fn("Canary.fill", "Canary.secret_index", "exposure_from_scores", "candidate_secrets",
               "canary_log_probs", "plant_canaries"),
           "canary planting, candidate secrets and exposure"),
    Module("privacy.membership", "audit/privacy/membership.py",
           [_P + "test_priv_membership.py::test_statistics_from_logits",
            _P + "test_priv_membership.py::test_untrained_model_is_at_chance",
            _P + "test_priv_membership.py::test_reference_scores_are_target_minus_out_mean",
            _P + "test_priv_membership.py::test_reference_recipe_and_validation",
            _P + "test_priv_membership_sample.py"],
           _fn("_check_labels", "log_prob_from_logits", "margin_from_logits", "ExampleStats.from_logits",
               "LossAttack.score", "balanced_sample", "membership_inference"),
           "per-example loss/margin statistics and the membership attack wiring"),
    Module("training.clipping", "audit/training/clipping.py",
           [_T + "test_private.py::test_one_step_equals_clipped_mean_of_per_example_gradients[bert-hooks]",
            _T + "test_private.py::test_one_step_equals_clipped_mean_of_per_example_gradients[bert-ghost]",
            _T + "test_private.py::test_a_weight_also_read_outside_its_layer_is_never_ghost_clipped",
            _T + "test_private.py::test_layer_norm_per_example_gradients_with_and_without_bias",
            _T + "test_private.py::test_zoo_one_step_equals_per_example_loop[albert+unigram-cls-all-auto]",
            _T + "test_private.py::test_zoo_one_step_equals_per_example_loop[albert+unigram-cls-all-per-example]"],
           _fn("ghost_hooks", "PerExampleClipping.__init__", "PerExampleClipping.criterion",
               "PerExampleClipping.example", "PerExampleClipping.backward", "_PerExampleTensor.backward"),
           "per-example clipping (ghost hooks and the per-example loop)"),
    Module("training.ledger", "audit/training/ledger.py",
           [_T + "test_ledger.py::test_default_delta_is_well_below_one_over_n",
            _T + "test_ledger.py::test_default_delta_values",
            _T + "test_ledger.py::test_delta_at_or_above_one_over_n_is_refused_with_the_reason",
            _T + "test_ledger.py::test_gdp_and_unknown_accountants_are_refused",
            _T + "test_ledger.py::test_epsilon_agrees_with_dp_accounting",
            _T + "test_ledger.py::test_calibrated_noise_meets_the_target",
            _T + "test_ledger.py::test_calibration_refuses_impossible_budgets",
            _T + "test_ledger.py::test_no_noise_means_infinite_epsilon_and_zero_steps_zero_epsilon",
            _T + "test_ledger.py::test_ledger_round_trip_and_strict_json",
            _T + "test_ledger_exact.py"],
           _fn("check_accountant", "default_delta", "check_delta", "compute_epsilon", "calibrate_noise",
               "independent_epsilon", "_finite", "PrivacyLedger.recompute_epsilon"),
           "privacy accounting: δ default, ε from the accountant, noise calibration"),
    Module("training.private", "audit/training/private.py",
           [_T + "test_private.py::test_one_step_equals_clipped_mean_of_per_example_gradients[bert-hooks]",
            _T + "test_private.py::test_one_step_equals_clipped_mean_of_per_example_gradients[bert-ghost]",
            _T + "test_private.py::test_dp_steps_clip_and_add_calibrated_noise[bert]",
            _T + "test_private.py::test_empty_poisson_batches_take_a_noise_only_step[ghost]"],
           _fn("_empty_batch_grads", "_per_example_norms", "_lean_ghost_criterion", "_make_private", "_dp_objects",
               "_live_epsilon"),
           "DP-SGD wiring: clipping bound, noise, Poisson sampling rate, per-example norms"),
    Module("attribution.integrated_gradients", "audit/attribution/integrated_gradients.py",
           [_A + "test_attr_adaptive_ig.py::test_clenshaw_curtis_is_exact_for_polynomials_and_nested",
            _A + "test_attr_adaptive_ig.py::test_adaptive_simpson_refines_only_where_the_integrand_is_sharp",
            _A + "test_attr_adaptive_ig.py::test_fixed_clenshaw_curtis_on_a_smooth_path",
            _A + "test_attr_adaptive_ig.py::test_cap_is_respected_and_flags_when_not_converged",
            "tests/attribution/test_integrated_gradients.py::test_completeness_in_float32",
            "tests/attribution/test_integrated_gradients.py::test_target_choice_and_flagging"],
           _fn("clenshaw_curtis", "IntegratedGradients.baseline_embeddings", "IntegratedGradients.mean_baseline_rows",
               "IntegratedGradients._explain_nested", "_FixedRule.*", "_AdaptiveSimpson.*", "completeness_summary"),
           "integrated gradients: quadrature rules, baselines, the adaptive integrator"),
    Module("attribution.faithfulness", "audit/attribution/faithfulness.py",
           [_A + "test_attr_faithfulness.py", _A + "test_attr_faithfulness_exact.py"],
           _fn("Protocol.count", "_units", "unit_scores", "ranking", "trapezoid", "_aopc", "evaluate_faithfulness",
               "rank_methods"),
           "comprehensiveness/sufficiency, AOPC and the ranking of methods"),
    Module("attribution.stats", "audit/attribution/_stats.py",
           [_A + "test_attr_plausibility.py", _A + "test_attr_stats_exact.py"], ["*"],
           "rank statistics and intervals used by the attribution checks"),
]


# ---------------------------------------------------------------------------------------------
# Listing the mutants (mutmut's own generator, so names and numbering match mutmut's)
# ---------------------------------------------------------------------------------------------


@dataclass
class Mutant:
    name: str
    function: str
    line: int
    change: str
    covered: bool = True
    status: str = ""
    diff: str = ""


def _write_config(work: Path, mod: Module, tests: list[str], timeout_multiplier: float,
                  timeout_constant: float = 5.0) -> None:
    def lines(values: list[str] | tuple[str, ...]) -> str:
        return "".join(f"\n    {v}" for v in values)

    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = audit\n"
        f"only_mutate = {mod.path}\n"
        f"do_not_mutate_patterns ={lines(MESSAGE_LINES)}\n"
        f"pytest_add_cli_args ={lines(PYTEST_ARGS)}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        f"timeout_multiplier = {timeout_multiplier}\n"
        f"timeout_constant = {timeout_constant}\n"
        "process_isolation = forkserver\n"
        "use_git_change_detection = false\n",
        encoding="utf-8",
    )


def _list_mutants(mod: Module) -> list[Mutant]:
    """Every mutant mutmut makes of ``mod`` (run inside the work folder, whose setup.cfg mutmut reads)."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider
    from mutmut.configuration import reset_config
    from mutmut.mutation.file_mutation import MutationVisitor
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import get_ignored_lines
    from mutmut.utils.format_utils import get_mutant_name, make_mutant_key

    reset_config()
    code = Path(mod.path).read_text(encoding="utf-8")
    wrapper = MetadataWrapper(cst.parse_module(code))
    positions: list[int] = []

    class Visitor(MutationVisitor):
        def _create_mutations(self, node: cst.CSTNode) -> None:
            before = len(self.mutations)
            super()._create_mutations(node)
            pos = self.get_metadata(PositionProvider, node, None)
            positions.extend([pos.start.line if pos else 0] * (len(self.mutations) - before))

    visitor = Visitor(mutation_operators, get_ignored_lines(mod.path, code, wrapper), None)
    wrapper.visit(visitor)
    module = wrapper.module
    owner: dict[int, str | None] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
            for child in stmt.body.body:
                owner[id(child)] = stmt.name.value
    counters: dict[str, int] = {}
    out = []
    for mutation, line in zip(visitor.mutations, positions):
        func = mutation.contained_by_top_level_function
        if not isinstance(func, cst.FunctionDef):  # class-level statements get no mutants in mutmut either
            continue
        key = make_mutant_key(func.name.value, owner.get(id(func)))
        counters[key] = counters.get(key, 0) + 1
        before = " ".join(module.code_for_node(mutation.original_node).split())
        after = " ".join(module.code_for_node(mutation.mutated_node).split())
        out.append(Mutant(name=get_mutant_name(Path(mod.path), f"{key}__mutmut_{counters[key]}"), function=key,
                          line=line, change=_delta(before, after)))
    return out


def _delta(before: str, after: str, context: int = 40) -> str:
    """``before -> after`` cut down to the part that differs, with some context on each side."""
    if len(before) + len(after) <= 160:
        return f"{before}  ->  {after}"
    i = 0
    while i < min(len(before), len(after)) and before[i] == after[i]:
        i += 1
    j = 0
    while j < min(len(before), len(after)) - i and before[-1 - j] == after[-1 - j]:
        j += 1
    start = max(0, i - context)

    def cut(s: str) -> str:
        end = len(s) - max(0, j - context)
        return ("..." if start else "") + s[start:end] + ("..." if end < len(s) else "")

    return f"{cut(before)}  ->  {cut(after)}"


def _selected(mutants: list[Mutant], patterns: list[str]) -> list[Mutant]:
    return [m for m in mutants if any(fnmatch.fnmatchcase(m.function, p) for p in patterns)]


# ---------------------------------------------------------------------------------------------
# Running one module
# ---------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0")
    return env


def _prepare(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, work / name)


def _covered_statements(work: Path, mod: Module, tests: list[str]) -> tuple[list[int], set[int], float]:
    """(statement lines, executed statement lines) of ``mod`` under its test subset, and the subset's fixture time.

    mutmut times only the test calls; the fixture time (tiny models are built in fixtures) is
    measured here so that the timeout can allow for it.
    """
    data = work / ".coverage-subset"
    cmd = [sys.executable, "-m", "coverage", "run", f"--data-file={data}", f"--include={mod.path}",
           "-m", "pytest", "-q", "-x", "--durations=0", "--durations-min=0", *PYTEST_ARGS, *tests]
    proc = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mod.name}: the test subset does not pass on the unmutated code:\n{proc.stdout[-3000:]}"
                         f"\n{proc.stderr[-2000:]}")
    fixtures = sum(float(m.group(1)) for m in re.finditer(r"^([0-9.]+)s (?:setup|teardown) ", proc.stdout, re.M))
    import coverage

    cov = coverage.Coverage(data_file=str(data))
    cov.load()
    _, statements, _, missing, _ = cov.analysis2(str(work / mod.path))
    return sorted(statements), set(statements) - set(missing), fixtures


def _mark_coverage(mutants: list[Mutant], statements: list[int], executed: set[int]) -> None:
    """A mutant is covered when the statement holding its line ran (coverage counts a statement by its first line)."""
    import bisect

    for m in mutants:
        i = bisect.bisect_right(statements, m.line) - 1
        m.covered = i >= 0 and statements[i] in executed


def _run_mutmut(work: Path, names: list[str], jobs: int, log: Path) -> float:
    mutmut = Path(sys.executable).parent / "mutmut"
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run([str(mutmut), "run", "--max-children", str(jobs), *names], cwd=work, env=_env(),
                              stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed (exit {proc.returncode}), log {log}:\n{tail}")
    return time.perf_counter() - start


def _read_results(work: Path, mod: Module, mutants: list[Mutant], tested: set[str]) -> None:
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    meta = json.loads((work / "mutants" / f"{mod.path}.meta").read_text(encoding="utf-8"))
    codes = meta["exit_code_by_key"]
    reset_config()
    for m in mutants:
        if not m.covered:
            m.status = "no coverage"
            continue
        if m.name not in tested:
            continue  # covered, left out of the sample
        if m.name not in codes:
            raise SystemExit(f"{m.name} is not a mutant mutmut made of {mod.path}: the mutmut version differs from "
                             f"{MUTMUT_VERSION}")
        status = status_by_exit_code[codes[m.name]]
        m.status = "no coverage" if status == "no tests" else status
        if m.status == "survived":
            m.diff = get_diff_for_mutant(m.name, path=mod.path)


def _sample(mutants: list[Mutant], n: int | None, seed: int) -> list[Mutant]:
    """``n`` of the covered mutants drawn at random (all of them when ``n`` is None or larger)."""
    covered = [m for m in mutants if m.covered]
    if n is None or n >= len(covered):
        return covered
    import random

    picked = set(random.Random(seed).sample(range(len(covered)), n))
    return [m for i, m in enumerate(covered) if i in picked]


def _interval(k: int, n: int) -> list[float] | None:
    """95% Clopper-Pearson interval of the detection rate (the score is a sample estimate when mutants are sampled)."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return [round(ci.low, 3), round(ci.high, 3)]


def run_module(mod: Module, tests: list[str], out: Path, *, jobs: int, timeout_multiplier: float,
               all_functions: bool, sample: int | None, seed: int, timeout_constant: float,
               only: list[str] | None = None) -> dict[str, Any]:
    work = ROOT / ".bench" / "mutation" / "work" / mod.name
    print(f"[{mod.name}] preparing {work}", flush=True)
    _prepare(work)
    _write_config(work, mod, tests, timeout_multiplier, timeout_constant)  # mutmut's mutant list reads it
    t0 = time.perf_counter()
    os.chdir(work)
    try:
        mutants = _list_mutants(mod)
        if not all_functions:
            mutants = _selected(mutants, mod.functions)
        if only:
            mutants = [m for m in mutants if any(fnmatch.fnmatchcase(m.name.rsplit(".", 1)[-1], p) for p in only)]
        print(f"[{mod.name}] {len(mutants)} mutants; coverage run of {len(tests)} test selections", flush=True)
        statements, executed, fixture_s = _covered_statements(work, mod, tests)
        constant = timeout_constant + 1.5 * fixture_s  # each forked run builds the fixtures again
        _write_config(work, mod, tests, timeout_multiplier, constant)
        _mark_coverage(mutants, statements, executed)
        tested = _sample(mutants, sample, seed)
        n_covered = sum(m.covered for m in mutants)
        print(f"[{mod.name}] running {len(tested)} of {n_covered} covered mutants "
              f"({len(mutants) - n_covered} on lines the tests never run); fixtures {fixture_s:.1f} s, "
              f"timeout {timeout_multiplier} x (clean time + {constant:.1f} s)", flush=True)
        mutmut_s = _run_mutmut(work, [m.name for m in tested], jobs, out / f"mutmut-{mod.name}.log") if tested else 0.0
        _read_results(work, mod, mutants, {m.name for m in tested})
    finally:
        os.chdir(ROOT)
    counts = {"total": len(mutants), "no coverage": sum(m.status == "no coverage" for m in mutants),
              "tested": sum(m.status not in ("", "no coverage") for m in mutants)}
    for s in ("killed", "survived", "timeout"):
        counts[s] = sum(m.status == s for m in mutants)
    counts["other"] = counts["tested"] - counts["killed"] - counts["survived"] - counts["timeout"]
    detected = counts["killed"] + counts["timeout"]
    result = {
        "module": mod.name, "path": mod.path, "about": mod.about, "tests": tests,
        "functions": "all" if all_functions else mod.functions, "counts": counts,
        "sampled": counts["tested"] < n_covered,
        "score": detected / counts["tested"] if counts["tested"] else None,
        "score_95ci": _interval(detected, counts["tested"]),
        "seconds": round(time.perf_counter() - t0, 1), "mutmut_seconds": round(mutmut_s, 1),
        "fixture_seconds": round(fixture_s, 1), "timeout_constant": round(constant, 1),
        "mutants": [asdict(m) for m in mutants],
    }
    print(f"[{mod.name}] " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f" in {result['seconds']} s",
          flush=True)
    return result


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


def write_summary(results: list[dict[str, Any]], out: Path, args: dict[str, Any]) -> None:
    doc = {"created": datetime.now().isoformat(timespec="seconds"), "mutmut": MUTMUT_VERSION, "settings": args,
           "modules": results}
    (out / "summary.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    lines = ["# Mutation testing summary", "",
             f"mutmut {MUTMUT_VERSION}, {doc['created']}. Score: (killed + timeout) / tested, with its 95% interval "
             "(an estimate when the covered mutants were sampled). No coverage: mutants on lines the module's "
             "tests never run (not tested).", "",
             "| module | killed | survived | timeout | other | tested | covered, not sampled | no coverage | total "
             "| score | 95% interval | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["counts"]
        ci = r["score_95ci"]
        score = "-" if r["score"] is None else f"{r['score']:.0%}"
        lines.append(f"| {r['module']} | {c['killed']} | {c['survived']} | {c['timeout']} | {c['other']} | "
                     f"{c['tested']} | {c['total'] - c['tested'] - c['no coverage']} | {c['no coverage']} | "
                     f"{c['total']} | {score} | {'-' if ci is None else f'{ci[0]:.0%}-{ci[1]:.0%}'} | "
                     f"{r['seconds']} |")
    for r in results:
        lines += ["", f"## {r['module']} ({r['path']})", "", r["about"], "",
                  "Tests: " + ", ".join(f"`{t}`" for t in r["tests"]), ""]
        survivors = [m for m in r["mutants"] if m["status"] == "survived"]
        others = [m for m in r["mutants"] if m["status"] not in ("", "killed", "survived", "no coverage")]
        if not survivors and not others:
            lines.append("No surviving mutants.")
        for m in survivors:
            lines += [f"### {m['name'].rsplit('.', 1)[-1]} — {r['path']}:{m['line']}", "", f"`{m['change']}`", "",
                      "```diff", m["diff"], "```", ""]
        for m in others:
            lines.append(f"- {m['status']}: {r['path']}:{m['line']} `{m['change']}`")
        uncovered = [m for m in r["mutants"] if m["status"] == "no coverage"]
        if uncovered:
            lines += ["", "Lines with mutants the subset never runs: "
                      + ", ".join(str(x) for x in sorted({m["line"] for m in uncovered}))]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--modules", help="comma-separated module names (see --list); default: all")
    p.add_argument("--tests", nargs="+", help="pytest node ids or files replacing each chosen module's subset")
    p.add_argument("--out", type=Path, help="folder for summary.json and summary.md (default .bench/mutation/<time>)")
    p.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    p.add_argument("--timeout-multiplier", type=float, default=3.0,
                   help="a mutant's wall-clock limit is this x (clean time of its tests + constant + 1.5 x the "
                        "subset's fixture time); default 3")
    p.add_argument("--timeout-constant", type=float, default=5.0, help="seconds for start-up; default 5")
    p.add_argument("--all-functions", action="store_true", help="mutate every function, not only the listed ones")
    p.add_argument("--sample", type=int, help="test only this many covered mutants per module, drawn at random")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--mutants", nargs="+", help="only these mutants (globs over names as in the summary, "
                                                  "e.g. x_mean_ci__mutmut_6 'x_spearman__*'), e.g. to re-test survivors")
    p.add_argument("--list", action="store_true", help="show modules, test subsets and mutant counts, run nothing")
    a = p.parse_args(argv)

    try:
        import mutmut  # noqa: F401
    except ImportError:
        p.error("mutmut is not importable: run this script with the Python of the venv that has it "
                "(see the top of tools/mutation.py)")
    by_name = {m.name: m for m in MODULES}
    names = a.modules.split(",") if a.modules else list(by_name)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        p.error(f"unknown module(s) {unknown}; known: {', '.join(by_name)}")
    chosen = [by_name[n] for n in names]

    if a.list:
        scratch = ROOT / ".bench" / "mutation" / "work" / "_list"
        _prepare(scratch)
        for mod in chosen:
            _write_config(scratch, mod, a.tests or mod.tests, a.timeout_multiplier)
            os.chdir(scratch)
            try:
                every = _list_mutants(mod)
            finally:
                os.chdir(ROOT)
            picked = every if a.all_functions else _selected(every, mod.functions)
            print(f"{mod.name:34s} {mod.path:44s} {len(picked):5d} of {len(every):5d} mutants")
            for t in a.tests or mod.tests:
                print(f"    {t}")
        return 0

    out = a.out or ROOT / ".bench" / "mutation" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = {"modules": names, "tests": a.tests, "jobs": a.jobs, "timeout_multiplier": a.timeout_multiplier,
                "timeout_constant": a.timeout_constant,
                "all_functions": a.all_functions, "sample": a.sample, "seed": a.seed, "mutants": a.mutants,
                "cpu_count": os.cpu_count()}
    results = []
    for mod in chosen:
        results.append(run_module(mod, a.tests or mod.tests, out, jobs=a.jobs,
                                  timeout_multiplier=a.timeout_multiplier, all_functions=a.all_functions,
                                  sample=a.sample, seed=a.seed, timeout_constant=a.timeout_constant,
                                  only=a.mutants))
        write_summary(results, out, settings)  # keep what is done if a later module fails
    print(f"summary: {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
