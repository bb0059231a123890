"""Trainable scopes: which parameters private training updates.

The scope sets both the cost and the utility of DP-SGD. Every trainable parameter needs a
per-example gradient (or its norm), and the Gaussian noise is added to every trainable
coordinate, so fewer trainable parameters mean less work and less total noise, but also less
capacity to adapt. Four scopes behind one small interface:

* :class:`AllParameters` (``"all"``) - every parameter.
* :class:`AllButWordEmbeddings` (``"all-but-word-embeddings"``) - everything except the word
  embedding matrix (about half of a MiniLM's weights; its per-example gradient is a dense
  ``vocab x hidden`` matrix per example in ``hooks`` mode).
* :class:`TopLayers` (``"top-<k>"``, e.g. ``"top-2"``) - the top ``k`` transformer blocks plus
  everything above them (pooler, classifier head); ``"top-0"`` trains the head only.
* :class:`LoRA` (``"lora"`` or ``"lora-<r>"``) - low-rank adapters (``peft``) on the attention
  projections plus the classifier head; merged into the weights after training, so the result
  is a plain model of the original architecture.

A scope is applied to a model before training (:meth:`TrainableScope.apply`, which may wrap
it) and undone afterwards (:meth:`TrainableScope.finalize`, which returns a plain model with
every parameter trainable again).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any

SCOPE_NAMES = ("all", "all-but-word-embeddings", "top-<k>", "bias", "lora", "lora-<r>")


class ScopeError(ValueError):
    """A trainable scope that does not fit the model, or an unknown scope name."""


class TrainableScope(ABC):
    """Chooses the trainable parameters of a model (and undoes the choice after training)."""

    name: str = ""

    @abstractmethod
    def apply(self, model: Any) -> Any:
        """Set ``requires_grad`` (or wrap the model) and return the module to train."""

    def finalize(self, model: Any) -> Any:
        """Return the plain trained model with every parameter trainable again."""
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"


def _set_trainable(model: Any, keep: Any) -> None:
    for name, p in model.named_parameters():
        p.requires_grad_(bool(keep(name)))
    if not any(p.requires_grad for p in model.parameters()):
        raise ScopeError("the trainable scope leaves no parameter to train")


def _module_name(model: Any, target: Any) -> str:
    for name, module in model.named_modules():
        if module is target:
            return name
    raise ScopeError(f"{type(target).__name__} is not a submodule of {type(model).__name__}")


def word_embedding_name(model: Any) -> str:
    """Qualified name of the word (token) embedding module, e.g. ``bert.embeddings.word_embeddings``."""
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if emb is None:
        raise ScopeError(f"{type(model).__name__} has no input embeddings (get_input_embeddings)")
    return _module_name(model, emb)


def find_layer_list(model: Any) -> tuple[str, list[Any]]:
    """The stack of transformer blocks: the ``nn.ModuleList`` of same-type blocks holding the most parameters."""
    from torch import nn

    best: tuple[int, str, list[Any]] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            kinds = {type(m) for m in module}
            if len(kinds) != 1:
                continue
            size = sum(p.numel() for p in module.parameters())
            if best is None or size > best[0]:
                best = (size, name, list(module))
    if best is None or best[0] == 0:
        raise ScopeError(f"cannot find the stack of transformer blocks in {type(model).__name__}")
    return best[1], best[2]


def _under(name: str, prefix: str) -> bool:
    return bool(prefix) and (name == prefix or name.startswith(prefix + "."))


def _embedding_block(model: Any, stack_name: str) -> list[str]:
    """Module names below the transformer blocks: the module holding the word embeddings (e.g.
    ``bert.embeddings`` with its position/type embeddings and LayerNorm), or, when that module
    also holds the blocks, every ``nn.Embedding`` outside the blocks."""
    from torch import nn

    words = word_embedding_name(model)
    parent = words.rpartition(".")[0]
    if parent and not _under(stack_name, parent):
        return [parent]
    return [n for n, m in model.named_modules() if isinstance(m, nn.Embedding) and not _under(n, stack_name)]


class AllParameters(TrainableScope):
    """Every parameter of the model is trained."""

    name = "all"

    def apply(self, model: Any) -> Any:
        _set_trainable(model, lambda n: True)
        return model


class AllButWordEmbeddings(TrainableScope):
    """Everything except the word embedding matrix (position/type embeddings stay trainable)."""

    name = "all-but-word-embeddings"

    def apply(self, model: Any) -> Any:
        words = word_embedding_name(model)
        _set_trainable(model, lambda n: not _under(n, words))
        return model


class TopLayers(TrainableScope):
    """The top ``k`` transformer blocks and everything after them (pooler, head); ``k=0``: the head only."""

    def __init__(self, k: int = 2) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ScopeError(f"top-k scope needs an integer k >= 0, got {k!r}")
        self.k = k
        self.name = f"top-{k}"

    def apply(self, model: Any) -> Any:
        stack_name, blocks = find_layer_list(model)
        if self.k > len(blocks):
            raise ScopeError(f"top-{self.k} asks for {self.k} blocks but the model has {len(blocks)} ({stack_name})")
        top = {f"{stack_name}.{i}" for i in range(len(blocks) - self.k, len(blocks))}
        frozen_below = _embedding_block(model, stack_name)

        def keep(name: str) -> bool:
            if _under(name, stack_name):
                return any(_under(name, t) for t in top)
            return not any(_under(name, f) for f in frozen_below)

        _set_trainable(model, keep)
        return model

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k}


class BiasTerms(TrainableScope):
    """Every bias vector of the model (BitFit, Ben Zaken et al., 2022) and the layers after the
    transformer blocks (pooler, classifier head); weight matrices and embeddings stay frozen."""

    name = "bias"

    def apply(self, model: Any) -> Any:
        stack_name, _ = find_layer_list(model)
        frozen_below = _embedding_block(model, stack_name)

        def keep(name: str) -> bool:
            if name.rpartition(".")[2] == "bias":
                return True
            if _under(name, stack_name):
                return False
            return not any(_under(name, f) for f in frozen_below)

        _set_trainable(model, keep)
        return model


class LoRA(TrainableScope):
    """Low-rank adapters (``peft``) on the attention projections, plus the classifier head.

    ``target_modules=None`` uses peft's defaults for the architecture (query and value
    projections for BERT, DistilBERT and RoBERTa). After training the adapters are merged into
    the weights (``merge_and_unload``), so the saved model needs no peft to load.
    """

    def __init__(self, r: int = 8, alpha: float | None = None, dropout: float = 0.0, target_modules: list[str] | None = None) -> None:
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ScopeError(f"LoRA rank must be an integer >= 1, got {r!r}")
        self.r = r
        self.alpha = float(alpha) if alpha is not None else float(2 * r)
        self.dropout = float(dropout)
        self.target_modules = list(target_modules) if target_modules else None
        self.name = "lora" if r == 8 else f"lora-{r}"

    def apply(self, model: Any) -> Any:
        try:
            from peft import LoraConfig, TaskType, get_peft_model
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ScopeError("the LoRA scope needs the 'peft' package (pip install peft)") from exc
        for p in model.parameters():
            p.requires_grad_(False)
        cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                         target_modules=self.target_modules, bias="none")
        try:
            peft_model = get_peft_model(model, cfg)
        except ValueError as exc:
            raise ScopeError(
                f"cannot add LoRA adapters to {type(model).__name__}: {exc}; pass LoRA(target_modules=[...]) "
                "naming its attention projection layers"
            ) from exc
        return peft_model

    def finalize(self, model: Any) -> Any:
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        return super().finalize(model)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "r": self.r, "alpha": self.alpha, "dropout": self.dropout,
                "target_modules": self.target_modules or "peft default for the architecture"}


_TOP = re.compile(r"^top[-_:]?(\d+)$")
_LORA = re.compile(r"^lora(?:[-_:]?(\d+))?$")


def resolve_scope(spec: str | TrainableScope) -> TrainableScope:
    """A scope from an instance or a name: ``all``, ``all-but-word-embeddings``, ``top-<k>``, ``bias``, ``lora``,
    ``lora-<r>``."""
    if isinstance(spec, TrainableScope):
        return spec
    if not isinstance(spec, str):
        raise ScopeError(f"trainable scope must be a name or a TrainableScope, got {type(spec).__name__}")
    key = spec.strip().lower().replace("_", "-")
    if key == "all":
        return AllParameters()
    if key in ("all-but-word-embeddings", "no-word-embeddings", "frozen-word-embeddings"):
        return AllButWordEmbeddings()
    m = _TOP.match(key)
    if m:
        return TopLayers(int(m.group(1)))
    if key == "head":
        return TopLayers(0)
    if key in ("bias", "bitfit"):
        return BiasTerms()
    m = _LORA.match(key)
    if m:
        return LoRA(r=int(m.group(1)) if m.group(1) else 8)
    raise ScopeError(f"unknown trainable scope {spec!r}; choose one of {', '.join(SCOPE_NAMES)}")


def trainable_names(model: Any) -> list[str]:
    """Names of the parameters that will be trained (``requires_grad``), in model order."""
    return [n for n, p in model.named_parameters() if p.requires_grad]
