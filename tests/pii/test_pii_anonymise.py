"""Anonymisation: placeholders, keyed pseudonyms (consistent, secret-dependent, shape-preserving,
never the original), the command (other columns kept, atomic write, summary without values)."""

from __future__ import annotations

import csv
import json
import re

import pytest
from pii_data import CARD, EMAILS, IBAN_VALUE, PHONES, RAW_VALUES, ROWS, TEXT_VALUES, raw_fragments, write_csv

from audit.cli import main
from audit.pii import Anonymiser, PIIScanner, anonymise_texts
from audit.pii.findings import EMAIL, PHONE, Finding

SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def scanner():
    return PIIScanner()


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _shape(s: str) -> str:
    return re.sub(r"\d", "9", s)


def test_placeholder_mode(scanner):
    texts = [r[0] for r in ROWS]
    new, summary = anonymise_texts(texts, scanner, Anonymiser())
    assert new[0] == "Great service, write to me at <EMAIL> anytime."
    assert "<PHONE>" in new[2] and "<CREDIT_CARD>" in new[3] and "<IBAN>" in new[5]
    assert new[1] == texts[1]  # rows without personal data are untouched
    assert summary["replacements"] == {"CREDIT_CARD": 1, "EMAIL": 2, "IBAN": 1, "PHONE": 2}
    assert summary["n_texts_changed"] == 5
    assert scanner.scan_many(new) == [[] for _ in new]


def test_pseudonyms_are_consistent_keyed_and_shaped(scanner):
    texts = [r[0] for r in ROWS]
    new, _ = anonymise_texts(texts, scanner, Anonymiser("pseudonym", SECRET))
    other, _ = anonymise_texts(texts, scanner, Anonymiser("pseudonym", SECRET + "!"))
    again, _ = anonymise_texts(texts, scanner, Anonymiser("pseudonym", SECRET))
    assert new == again  # same secret, same surrogates: files anonymised apart still line up
    # the same address in rows 0 and 6 becomes the same surrogate
    mail0 = re.search(r"user-[0-9a-f]{6}@example\.invalid", new[0]).group()
    assert mail0 in new[6]
    assert re.search(r"user-[0-9a-f]{6}@example\.invalid", other[0]).group() != mail0
    # a phone keeps its digit count and separators
    phone = re.search(r"\+[\d ]+\d", new[2]).group()
    assert _shape(phone) == _shape(PHONES[0]) and phone != PHONES[0]
    # a card keeps length and grouping and can never be a real card
    card = re.search(r"\d{4} \d{4} \d{4} \d{4}", new[3]).group()
    assert _shape(card) == _shape(CARD) and not _luhn_ok(card)
    # the IBAN keeps its country and length; check digits 00 fail the ISO check
    iban = re.search(r"GB00[\w ]+\d", new[5]).group()
    assert len(iban) == len(IBAN_VALUE)
    # nothing original survives, and a scan of the result finds no original value
    blob = "\n".join(new)
    for v in TEXT_VALUES:
        assert all(frag not in blob for frag in raw_fragments(v)), v
    for t, fs in zip(new, scanner.scan_many(new)):
        assert all(t[f.start:f.end] not in TEXT_VALUES for f in fs)


def test_many_cards_are_all_luhn_invalid():
    a = Anonymiser("pseudonym", SECRET)
    for i in range(200):
        value = f"4000 0000 0000 {i:04d}"
        assert not _luhn_ok(a.surrogate("CREDIT_CARD", value))


def test_person_surrogates_keep_titles_and_word_count():
    a = Anonymiser("pseudonym", SECRET)
    new = a.surrogate("PERSON", "Dr Hans Müller")
    assert new.startswith("Dr ") and len(new.split()) == 3 and "Hans" not in new
    assert len(a.surrogate("PERSON", "Priya").split()) == 1
    assert a.surrogate("PERSON", "priya") == a.surrogate("PERSON", "Priya")  # case does not make another person


def test_jsonl_keys_and_values_are_kept(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "mail a.b@example.com", "n": 3, "tags": ["x"]}\n{"n": 4}\n', encoding="utf-8")
    assert main(["anonymise", "--data", str(src), "--out", str(tmp_path / "o.jsonl"), "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert rows == [{"text": "mail <EMAIL>", "n": 3, "tags": ["x"]}, {"n": 4}]
    assert main(["anonymise", "--data", str(src), "--out", str(tmp_path / "o.csv"), "--quiet"]) == 0
    assert _read(tmp_path / "o.csv") == [{"text": "mail <EMAIL>", "n": "3", "tags": '["x"]'}, {"text": "", "n": "4", "tags": ""}]


def test_anonymise_returns_changes_without_values():
    text = "mail a.b@example.com now"
    new, changes = Anonymiser().anonymise(text, [Finding(EMAIL, 5, 20, "email", 0.9), Finding(PHONE, 7, 9, "x", 0.5)])
    assert new == "mail <EMAIL> now"  # overlapping findings: the earlier, longer one wins
    assert changes == [{"type": EMAIL, "subtype": None, "detector": "email", "start": 5, "end": 20, "new_start": 5, "new_end": 12}]


def test_pseudonym_mode_needs_a_secret():
    with pytest.raises(ValueError, match="--secret-file.*AUDIT_PII_SECRET"):
        Anonymiser("pseudonym")
    with pytest.raises(ValueError, match="16"):
        Anonymiser("pseudonym", "short")
    with pytest.raises(ValueError, match="mode"):
        Anonymiser("hash")


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_anonymise_command_keeps_columns_and_reports_counts(tmp_path, capsys, monkeypatch):
    data = write_csv(tmp_path / "in.csv")
    out, summary = tmp_path / "out.csv", tmp_path / "summary.json"
    monkeypatch.setenv("AUDIT_PII_SECRET", SECRET)
    rc = main(["anonymise", "--data", str(data), "--out", str(out), "--columns", "text,note", "--mode", "pseudonym",
               "--summary", str(summary)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    rows = _read(out)
    assert [r["label"] for r in rows] == [r[1] for r in ROWS]  # other columns kept
    assert rows[1]["text"] == ROWS[1][0]
    s = json.loads(summary.read_text())
    assert s["replacements"] == {"CREDIT_CARD": 1, "EMAIL": 3, "IBAN": 1, "PHONE": 2} and s["mode"] == "pseudonym"
    written = out.read_text() + summary.read_text() + cap.out + cap.err
    for v in RAW_VALUES:
        assert all(frag not in written for frag in raw_fragments(v)), v
    assert SECRET not in written
    assert json.loads(cap.out.strip().splitlines()[-1])["n_replacements"] == 7


def test_anonymise_command_errors(tmp_path, capsys, monkeypatch):
    data = write_csv(tmp_path / "in.csv")
    monkeypatch.delenv("AUDIT_PII_SECRET", raising=False)
    rc = main(["anonymise", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--mode", "pseudonym", "--quiet"])
    assert rc == 2 and "AUDIT_PII_SECRET" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    rc = main(["anonymise", "--data", str(data), "--out", str(tmp_path / "o.jsonl"), "--mode", "pseudonym",
               "--secret-file", str(secret_file), "--quiet"])
    assert rc == 0
    rows = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(rows) == len(ROWS) and EMAILS[0] not in rows[0]["text"] and "@example.invalid" in rows[0]["text"]
    assert main(["anonymise", "--data", str(data), "--out", str(data), "--quiet"]) == 2
    assert main(["anonymise", "--data", str(data), "--out", str(tmp_path / "x.csv"), "--text-column", "body", "--quiet"]) == 2


def test_anonymise_write_is_atomic(tmp_path, monkeypatch, capsys):
    import audit.pii.table as table_mod

    data = write_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    out.write_text("previous contents\n")
    real_writer = csv.writer

    class Failing:
        def __init__(self, f, **kw):
            self.w, self.n = real_writer(f, **kw), 0

        def writerow(self, row):
            self.n += 1
            if self.n > 3:
                raise OSError("disk full")
            self.w.writerow(row)

    monkeypatch.setattr(table_mod.csv, "writer", Failing)
    assert main(["anonymise", "--data", str(data), "--out", str(out), "--quiet"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert out.read_text() == "previous contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]  # no temporary file left
