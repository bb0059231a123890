"""Integrated gradients on the input (word) embeddings, batched across texts of similar length.

The path integral runs from a baseline to the text in the space of the model's word embeddings;
position and token-type embeddings are added by the model itself and are identical for the text
and the baseline. With a fixed number of steps and one of captum's quadratures this is exactly
captum's ``LayerIntegratedGradients`` on the input-embedding layer, computed with captum's
``IntegratedGradients`` on ``inputs_embeds`` so that texts of similar length share one forward
pass and the zero-embedding baseline needs no special token.

``method="adaptive_simpson"`` chooses the number of steps per text. The path [0, 1] is cut into
Simpson panels, and because the sum over tokens of a node's gradient contributions is the
derivative of the explained output along the path, while the forward pass gives the output itself
at the same node, each panel's completeness error is known exactly: ``|Simpson(panel) - (f(b) - f(a))|``.
A text starts on ``min_steps`` nodes (9: four panels) and stops when its completeness error
``|sum(attributions) - (f(x) - f(baseline))|`` is within ``tolerance`` of ``|f(x) - f(baseline)|``
(or under the absolute floor 1e-4), or when ``n_steps`` nodes are used; until then every panel whose
exact error is above its share of the tolerance is cut into four (nodes reused, six added). Steps
go where the output changes fast: a fine-tuned classifier's output typically moves in a narrow
stretch of the path, where a fixed schedule is too coarse while it wastes steps elsewhere. Texts of similar length that are still refining share forward/backward
passes (rows = text x node), padded only to the longest text of their group.
``method="clenshaw_curtis"`` is a fixed, non-adaptive rule (``n_steps`` Chebyshev points, exact for
polynomials of degree ``n_steps - 1``).
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from .._forward import classifier_logits
from .._util import length_batches, progress
from .base import Attribution, Encoded, encode_texts, pad_batch, resolve_targets

BASELINES = ("pad", "mask", "zero")
OUTPUTS = ("probability", "logit")
CAPTUM_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", "riemann_right")
METHODS = CAPTUM_METHODS + ("clenshaw_curtis", "adaptive_simpson")
ABSOLUTE_FLOOR = 1e-4


def clenshaw_curtis(n_intervals: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of Clenshaw-Curtis quadrature on [0, 1] with ``n_intervals + 1`` points.

    Nodes are ``(1 - cos(k pi / N)) / 2`` for k = 0..N, so the nodes for N are among those for 2N;
    the rule integrates polynomials of degree N exactly (Waldvogel 2006, explicit weights).
    """
    n = int(n_intervals)
    if n < 1:
        raise ValueError("Clenshaw-Curtis needs at least one interval")
    k = np.arange(n + 1)
    nodes = (1.0 - np.cos(k * np.pi / n)) / 2.0
    if n == 1:
        return nodes, np.array([0.5, 0.5])
    theta = k * np.pi / n
    w = np.ones(n + 1)
    for j in range(1, n // 2 + 1):
        b = 1.0 if 2 * j == n else 2.0
        w -= b * np.cos(2 * j * theta) / (4 * j * j - 1)
    c = np.full(n + 1, 2.0)
    c[0] = c[-1] = 1.0
    weights = c * w / n / 2.0  # [-1, 1] weights sum to 2; on [0, 1] they sum to 1
    return nodes, weights


class IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) for a sequence classifier.

    ``baseline``: ``"pad"`` (every non-special token replaced by the pad token; the default),
    ``"mask"`` (replaced by the mask token) or ``"zero"`` (zero embedding). Special tokens
    ([CLS], [SEP], <s>, </s>) are kept in every baseline. ``output``: attribute the target
    class logit (default) or its probability. The logit is the default because the softmax of a
    confident fine-tuned model saturates: along the path the probability stays flat and then
    jumps, so the same completeness error needs several times more steps. Each result carries the completeness check
    ``|sum(attributions) - (f(x) - f(baseline))|`` and is flagged when that error exceeds
    ``tolerance`` times ``|f(x) - f(baseline)|`` (and an absolute floor of 1e-4).
    """

    name = "integrated_gradients"

    def __init__(
        self,
        n_steps: int = 50,
        baseline: str = "pad",
        method: str = "gausslegendre",
        output: str = "logit",
        tolerance: float = 0.01,
        max_tokens: int | None = None,
        max_length: int | None = None,
        show_progress: bool = False,
        min_steps: int = 9,
    ) -> None:
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if n_steps < 2:
            raise ValueError("n_steps must be >= 2")
        adaptive = method == "adaptive_simpson"
        if adaptive and n_steps < min_steps:
            raise ValueError(f"n_steps ({n_steps}) is the most points an adaptive text may use; it must be >= min_steps ({min_steps})")
        if min_steps < 2:
            raise ValueError("min_steps must be >= 2")
        self.n_steps = n_steps
        self.baseline = baseline
        self.method = method
        self.output = output
        self.tolerance = tolerance
        self.max_tokens = max_tokens
        self.max_length = max_length
        self.show_progress = show_progress
        self.adaptive = adaptive
        self.min_steps = min_steps

    def config(self) -> dict[str, Any]:
        cfg = {
            "n_steps": self.n_steps, "baseline": self.baseline, "method": self.method,
            "output": self.output, "tolerance": self.tolerance, "layer": "input word embeddings",
            "absolute_tolerance_floor": ABSOLUTE_FLOOR, "adaptive": self.adaptive,
        }
        if self.adaptive:
            cfg["min_steps"] = self.min_steps
            cfg["refinement"] = "panels cut into four (two when the step budget is short) where the exact local completeness error exceeds its share of the tolerance"
        return cfg

    def _forward(self, bundle: Any):
        import torch

        model = bundle.model

        def forward(embeds, attention_mask, ids=None):
            # ``ids``: the token ids the embeddings stand for; a last-token classifier reads the
            # same position for the text, the baseline and every point between them.
            logits = classifier_logits(model, attention_mask=attention_mask, inputs_embeds=embeds, reference_ids=ids)
            return torch.softmax(logits, dim=-1) if self.output == "probability" else logits

        return forward

    def baseline_embeddings(self, bundle: Any, ids: Any, special: Any, mask: Any = None) -> Any:
        """Baseline in embedding space for a padded batch; special tokens and padding are kept.

        A zero embedding is a singular point of models that normalise each position by its scale
        before adding anything to it (RMSNorm decoders such as Llama, Qwen2, Gemma): the output
        jumps within a hair of it, and integrated gradients from there need many steps or cannot be
        made complete at all. The pad (or mask) token's embedding is zero when it is a padding row
        that was never trained; for such a model and such a token the mean token embedding stands
        in for the baseline token (see :meth:`mean_baseline_rows`).
        """
        import torch

        emb = bundle.model.get_input_embeddings()
        if self.baseline == "zero":
            base = emb(ids)
            return torch.where(special.unsqueeze(-1), base, torch.zeros_like(base))
        tok = bundle.tokenizer
        token_id = tok.pad_token_id if self.baseline == "pad" else tok.mask_token_id
        if token_id is None:
            raise ValueError(f"the tokenizer has no {self.baseline} token; choose another baseline")
        base = emb(torch.where(special, ids, torch.full_like(ids, token_id)))
        rows = self.mean_baseline_rows(bundle, special, mask)
        if bool(rows.any()):
            mean = emb.weight.mean(0).to(base.dtype)
            swap = rows[:, None] & ~special
            base = torch.where(swap.unsqueeze(-1), mean.expand_as(base), base)
        return base

    def mean_baseline_rows(self, bundle: Any, special: Any, mask: Any = None) -> Any:
        """Rows whose baseline token is replaced by the mean embedding (see :meth:`baseline_embeddings`)."""
        import torch

        none = torch.zeros(special.shape[0], dtype=torch.bool, device=special.device)
        if self.baseline == "zero":
            return none
        tok = bundle.tokenizer
        token_id = tok.pad_token_id if self.baseline == "pad" else tok.mask_token_id
        row = bundle.model.get_input_embeddings().weight[token_id]
        if bool(row.detach().any()) or not zero_is_singular(bundle.model):
            return none
        return ~none

    def explain(self, bundle: Any, texts: Sequence[str], targets: Sequence[int] | int | str | None = None) -> list[Attribution]:
        """Attributions for every text, towards ``targets`` (the predicted class by default)."""
        import torch
        from captum.attr import IntegratedGradients as CaptumIG

        texts = list(texts)
        if isinstance(targets, (list, tuple, np.ndarray)) and len(targets) != len(texts):
            raise ValueError(f"{len(targets)} targets for {len(texts)} texts")
        encs = encode_texts(bundle, texts, self.max_length)
        if self.method in ("clenshaw_curtis", "adaptive_simpson"):
            return self._explain_nested(bundle, encs, targets)
        cuda = str(bundle.device).startswith("cuda")
        limits = _limits(bundle, encs, 16)
        budget = self.max_tokens or limits.tokens  # tokens per forward pass
        groups = length_batches([len(e) for e in encs], max_batch=limits.rows,
                                max_tokens=max(budget // self.n_steps, 1), max_waste=0.25 if cuda else 0.1)
        results: list[Attribution | None] = [None] * len(texts)
        forward = self._forward(bundle)
        ig = CaptumIG(forward)
        model = bundle.model
        was_training = model.training
        model.eval()
        bar = progress(total=len(texts), desc="integrated gradients", enabled=self.show_progress, unit="text")
        try:
            for idx in groups:
                items = [encs[i] for i in idx]
                ids, mask, special = pad_batch(bundle, items, special=True)  # padding stays padding in the baseline
                with torch.no_grad():
                    inputs = model.get_input_embeddings()(ids)
                    base = self.baseline_embeddings(bundle, ids, special, mask)
                    mean_rows = self.mean_baseline_rows(bundle, special, mask).tolist()
                    out_x = forward(inputs, mask, ids)
                    out_b = forward(base, mask, ids)
                predicted = out_x.argmax(-1).tolist()
                tgt = resolve_targets(targets if not isinstance(targets, (list, tuple, np.ndarray)) else [targets[i] for i in idx],
                                      len(idx), predicted)
                rows = max(len(idx), budget // ids.shape[1])
                attr, delta = ig.attribute(
                    inputs=inputs, baselines=base, target=tgt, additional_forward_args=(mask, ids),
                    n_steps=self.n_steps, method=self.method, internal_batch_size=rows, return_convergence_delta=True,
                )
                token_scores = attr.sum(-1).detach().double().cpu().numpy()
                probs = torch.softmax(out_x, -1).detach().cpu().numpy() if self.output == "logit" \
                    else out_x.detach().cpu().numpy()
                t_idx = torch.tensor(tgt, device=out_x.device)[:, None]
                f_xs, f_bs, deltas = (t.detach().double().cpu().numpy() for t in
                                      (out_x.gather(1, t_idx)[:, 0], out_b.gather(1, t_idx)[:, 0], delta))
                for r, i in enumerate(idx):
                    e = items[r]
                    ts = token_scores[r, : len(e)]
                    f_x, f_b, d = float(f_xs[r]), float(f_bs[r]), float(deltas[r])
                    diff = abs(f_x - f_b)
                    rel = abs(d) / diff if diff > 0 else (0.0 if abs(d) == 0 else float("inf"))
                    results[i] = Attribution(
                        method=self.name, text=e.text, target=tgt[r], tokens=e.tokens, token_scores=ts.tolist(),
                        word_spans=e.word_spans(), word_scores=e.merge_to_words(ts),
                        info={
                            "f_x": f_x, "f_baseline": f_b, "convergence_delta": d, "relative_error": rel,
                            "flagged": bool(abs(d) > self.tolerance * diff and abs(d) > ABSOLUTE_FLOOR),
                            "prediction": int(predicted[r]), "probabilities": [float(p) for p in probs[r]],
                            "n_steps": self.n_steps,
                            "baseline": "mean token embedding" if mean_rows[r] else self.baseline,
                        },
                    )
                bar.update(len(idx))
        finally:
            bar.close()
            model.train(was_training)
        return results  # type: ignore[return-value]


    def _explain_nested(self, bundle: Any, encs: list[Encoded], targets: Any) -> list[Attribution]:
        """Our own batched engine: fixed Clenshaw-Curtis, or adaptive Simpson panels (``adaptive=True``)."""
        import torch

        planners = [(_AdaptiveSimpson(self.min_steps, self.n_steps, self.tolerance) if self.adaptive
                     else _FixedRule(*clenshaw_curtis(self.n_steps - 1))) for _ in encs]
        first_nodes = len(planners[0].needed()) if planners else 1
        cuda = str(bundle.device).startswith("cuda")
        limits = _limits(bundle, encs, 64)
        budget = self.max_tokens or limits.tokens  # padded tokens per forward pass
        # Many texts per group, so that the later refinement rounds (a few new nodes per text) still
        # fill a pass; the first round is split into passes of at most ``budget`` tokens anyway.
        groups = length_batches([len(e) for e in encs], max_batch=limits.rows,
                                max_tokens=max(budget * 4 // first_nodes, 1), max_waste=0.25 if cuda else 0.1)
        per_text = isinstance(targets, (list, tuple, np.ndarray))
        forward = self._forward(bundle)
        model = bundle.model
        emb_layer = model.get_input_embeddings()
        results: list[Attribution | None] = [None] * len(encs)
        was_training = model.training
        model.eval()
        bar = progress(total=len(encs), desc="integrated gradients", enabled=self.show_progress, unit="text")
        try:
            for idx in groups:
                items = [encs[i] for i in idx]
                plans = [planners[i] for i in idx]
                ids, mask, special = pad_batch(bundle, items, special=True)
                with torch.no_grad():
                    inputs = emb_layer(ids)
                    base = self.baseline_embeddings(bundle, ids, special, mask)
                    mean_rows = self.mean_baseline_rows(bundle, special, mask).tolist()
                    logits_x = classifier_logits(model, attention_mask=mask, inputs_embeds=inputs, reference_ids=ids)
                    out_x = torch.softmax(logits_x, -1) if self.output == "probability" else logits_x
                    out_b = forward(base, mask, ids)
                probs = torch.softmax(logits_x.double(), -1).cpu().numpy()
                tgt = resolve_targets([targets[i] for i in idx] if per_text else targets, len(idx), probs.argmax(1).tolist())
                t_idx = torch.tensor(tgt, device=out_x.device)
                f_x = out_x.double().gather(1, t_idx[:, None])[:, 0].cpu().numpy()
                f_b = out_b.double().gather(1, t_idx[:, None])[:, 0].cpu().numpy()
                diff = (inputs - base).detach()
                for r, plan in enumerate(plans):
                    plan.start(float(f_x[r]), float(f_b[r]))
                active = list(range(len(idx)))
                while active:
                    rows = [(r, key, alpha) for r in active for key, alpha in plans[r].needed()]
                    per_pass = max(1, budget // ids.shape[1])
                    for s0 in range(0, len(rows), per_pass):
                        chunk = rows[s0 : s0 + per_pass]
                        r_idx = torch.tensor([r for r, _, _ in chunk], device=ids.device)
                        alphas = torch.tensor([a for _, _, a in chunk], dtype=inputs.dtype, device=ids.device)
                        point = (base[r_idx] + alphas[:, None, None] * diff[r_idx]).requires_grad_(True)
                        out = forward(point, mask[r_idx], ids[r_idx])
                        chosen = out.gather(1, t_idx[r_idx][:, None])[:, 0]
                        (grad,) = torch.autograd.grad(chosen.sum(), point)
                        both = torch.cat([(grad * diff[r_idx]).sum(-1), chosen.detach()[:, None]], 1)
                        both = both.detach().double().cpu().numpy()  # one transfer per pass
                        contrib, values = both[:, :-1], both[:, -1]
                        for (r, key, _), c, v in zip(chunk, contrib, values):
                            plans[r].record(key, c, float(v))
                    active = [r for r in active if not plans[r].advance()]
                for r, i in enumerate(idx):
                    e = items[r]
                    ts = plans[r].attribution()[: len(e)]
                    d = float(ts.sum() - (f_x[r] - f_b[r]))
                    diff_f = abs(float(f_x[r] - f_b[r]))
                    rel = abs(d) / diff_f if diff_f > 0 else (0.0 if abs(d) == 0 else float("inf"))
                    info = {
                        "f_x": float(f_x[r]), "f_baseline": float(f_b[r]), "convergence_delta": d, "relative_error": rel,
                        "flagged": bool(abs(d) > self.tolerance * diff_f and abs(d) > ABSOLUTE_FLOOR),
                        "prediction": int(probs[r].argmax()), "probabilities": [float(p) for p in probs[r]],
                        "n_steps": int(plans[r].n_points),
                        "baseline": "mean token embedding" if mean_rows[r] else self.baseline,
                    }
                    if self.adaptive:
                        info["local_error_bound"] = float(plans[r].error_bound())
                    results[i] = Attribution(
                        method=self.name, text=e.text, target=int(tgt[r]), tokens=e.tokens, token_scores=ts.tolist(),
                        word_spans=e.word_spans(), word_scores=e.merge_to_words(ts), info=info,
                    )
                bar.update(len(idx))
        finally:
            bar.close()
            model.train(was_training)
        return results  # type: ignore[return-value]


def _limits(bundle: Any, encs: Sequence[Encoded], cpu_rows: int) -> Any:
    """Texts and padded tokens per gradient pass: ``cpu_rows`` texts and 8,192 tokens on a CPU, sized to
    the free memory on a GPU (:func:`audit._device.batch_limits`)."""
    from .._device import batch_limits

    return batch_limits(bundle, cpu_rows, 8_192, kind="gradient", max_length=max((len(e) for e in encs), default=1))


_SINGULAR: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def zero_is_singular(model: Any) -> bool:
    """Whether a zero input embedding is a singular point of the model (checked once per model).

    Each position of a probe sequence in turn is set to its token's embedding scaled by 0, 0.01 and
    1. A model smooth at zero moves about 1% of the way from its output at 0 to its output at 1 when
    the position goes to 0.01; a model that normalises each position by its scale has already made
    a large part of the move (a quarter or more at some position that matters), so zero is a jump.
    """
    import torch

    try:
        hit = _SINGULAR.get(model)
    except TypeError:
        return False
    if hit is not None:
        return hit
    emb = model.get_input_embeddings()
    vocab = int(emb.weight.shape[0])
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, 6), generator=g).to(emb.weight.device)
    mask = torch.ones_like(ids)
    was_training = model.training
    model.eval()
    hit = False
    try:
        moves = []
        with torch.no_grad():
            x = emb(ids)
            for pos in range(ids.shape[1]):
                outs = []
                for scale in (0.0, 0.01, 1.0):
                    point = x.clone()
                    point[0, pos] = x[0, pos] * scale
                    outs.append(classifier_logits(model, attention_mask=mask, inputs_embeds=point, reference_ids=ids).double())
                moves.append((float((outs[1] - outs[0]).norm()), float((outs[2] - outs[0]).norm())))
        largest = max(full for _, full in moves)
        # positions that barely matter are left out: there float rounding alone moves the output
        hit = largest > 1e-6 and any(small > 0.25 * full for small, full in moves if full >= 0.1 * largest)
    except Exception:  # an unfamiliar model: keep the chosen baseline
        hit = False
    finally:
        model.train(was_training)
    _SINGULAR[model] = hit
    return hit


class _FixedRule:
    """One fixed quadrature rule: all nodes in one round."""

    def __init__(self, nodes: np.ndarray, weights: np.ndarray) -> None:
        self.nodes, self.weights = nodes, weights
        self.values: dict[int, np.ndarray] = {}

    @property
    def n_points(self) -> int:
        return len(self.nodes)

    def start(self, f_x: float, f_b: float) -> None:
        pass

    def needed(self) -> list[tuple[int, float]]:
        return [(k, float(a)) for k, a in enumerate(self.nodes) if k not in self.values]

    def record(self, key: int, contribution: np.ndarray, value: float) -> None:
        self.values[key] = contribution

    def advance(self) -> bool:
        return True

    def attribution(self) -> np.ndarray:
        return sum(w * self.values[k] for k, w in enumerate(self.weights))


_SCALE = 1 << 30  # node positions are integers k / 2^30 of the path, so refinement is exact


class _AdaptiveSimpson:
    """Adaptive composite Simpson rule on [0, 1] with an exact local error for every panel.

    Along the path, the sum over tokens of a node's contributions is the derivative of the
    explained output, g(a) = d f(path(a)) / da, and the forward pass gives f(path(a)) at the same
    node. So for a panel [a, b] the exact integral of g is known, f(b) - f(a), and the Simpson
    estimate's error on that panel is computed, not estimated. A text is done when its completeness
    error (the sum of the panels' signed errors) is within ``tolerance * |f(x) - f(baseline)|`` (or
    the absolute floor), or when every panel is within its share of that tolerance, or when
    ``max_points`` nodes are used. Otherwise every panel over its share is cut into four (its three
    nodes reused, six added; into two when the budget is short), worst panels first, so that few
    refinement rounds are needed and each round's pass holds many rows.
    """

    def __init__(self, min_points: int, max_points: int, tolerance: float) -> None:
        panels = 1
        while 2 * panels + 1 < min_points:
            panels *= 2
        width = _SCALE // panels
        self.panels: list[tuple[int, int]] = [(p * width, (p + 1) * width) for p in range(panels)]
        self.max_points = max_points
        self.tolerance = tolerance
        self.values: dict[int, tuple[np.ndarray, float]] = {}
        self.allowed = 0.0

    @property
    def n_points(self) -> int:
        return len(self.values)

    def start(self, f_x: float, f_b: float) -> None:
        self.allowed = max(self.tolerance * abs(f_x - f_b), ABSOLUTE_FLOOR)

    def needed(self) -> list[tuple[int, float]]:
        keys = sorted({k for a, b in self.panels for k in (a, (a + b) // 2, b)} - set(self.values))
        return [(k, k / _SCALE) for k in keys]

    def record(self, key: int, contribution: np.ndarray, value: float) -> None:
        self.values[key] = (contribution, value)

    def _error(self, a: int, b: int) -> float:
        """Signed error of the Simpson estimate on [a, b] against the exact f(b) - f(a)."""
        m = (a + b) // 2
        h = (b - a) / _SCALE
        g = [float(self.values[k][0].sum()) for k in (a, m, b)]
        estimate = h / 6.0 * (g[0] + 4.0 * g[1] + g[2])
        return estimate - (self.values[b][1] - self.values[a][1])

    def error_bound(self) -> float:
        """Sum over panels of the exact local completeness errors (bounds the global error)."""
        return sum(abs(self._error(a, b)) for a, b in self.panels)

    def advance(self) -> bool:
        """Refine the panels over their error share; True when done."""
        errors = [(self._error(a, b), a, b) for a, b in self.panels]
        if abs(sum(e for e, _, _ in errors)) <= self.allowed:
            return True
        over = sorted(((abs(e) / (self.allowed * (b - a) / _SCALE), a, b) for e, a, b in errors
                       if abs(e) > self.allowed * (b - a) / _SCALE), reverse=True)
        room = self.max_points - self.n_points
        if not over or room < 2:
            return True
        cuts: dict[tuple[int, int], int] = {}
        for _, a, b in over:
            if room >= 6 and (b - a) % 4 == 0:
                cuts[(a, b)] = 4
                room -= 6
            elif room >= 2:
                cuts[(a, b)] = 2
                room -= 2
        panels = []
        for a, b in self.panels:
            n = cuts.get((a, b), 1)
            w = (b - a) // n
            panels += [(a + i * w, a + (i + 1) * w) for i in range(n)]
        self.panels = panels
        return False

    def attribution(self) -> np.ndarray:
        total = None
        for a, b in self.panels:
            m = (a + b) // 2
            h = (b - a) / _SCALE
            part = h / 6.0 * (self.values[a][0] + 4.0 * self.values[m][0] + self.values[b][0])
            total = part if total is None else total + part
        return total


def completeness_summary(attributions: Sequence[Attribution]) -> dict[str, Any]:
    """How well the attributions add up to f(x) - f(baseline) across a set of texts."""
    rel = np.array([a.info["relative_error"] for a in attributions], dtype=np.float64)
    finite = rel[np.isfinite(rel)]
    steps = [a.info["n_steps"] for a in attributions if isinstance(a.info.get("n_steps"), (int, np.integer))]
    out = {
        "n": len(attributions),
        "n_flagged": int(sum(a.info["flagged"] for a in attributions)),
        "median_relative_error": float(np.median(finite)) if finite.size else None,
        "max_relative_error": float(finite.max()) if finite.size else None,
    }
    if steps:
        out["mean_steps"] = float(np.mean(steps))
        out["max_steps"] = int(max(steps))
    return out


__all__ = ["IntegratedGradients", "clenshaw_curtis", "completeness_summary", "Encoded"]
