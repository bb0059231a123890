"""Precision, recall and speed of the personal-data scanner on generated review-like messages.

Rows are generated with Faker in seven locales (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT,
nl_NL): short reviews and support messages with personal values planted in realistic sentence
contexts, plus distractors that must not be reported (order numbers, Luhn-valid order ids
after "order #", ISBNs, version strings, build numbers, prices, timestamps, tracking numbers,
plain shop URLs, ordinary dates). The gold span of every planted value is recorded as the text
is built.

Matching: a prediction matches a gold value of the same type when it covers at least 50% of
the gold span (``--match exact`` asks for identical spans). Recall is the share of gold values
matched; precision the share of predictions that match a gold value; F2 weighs recall twice.
Throughput is rows per second of ``PIIScanner.scan_many`` alone (generation excluded).

Planted phone numbers are Faker numbers that libphonenumber accepts for the locale's region
(Faker also emits fictitious ones), and planted card numbers lie in their network's issuer range
(Faker's "JCB" numbers also use 3500-3527 and 3590-3599, which no network issues); UK National Insurance numbers and German tax ids are
generated here with valid prefixes / check digits (Faker's are placeholders). PERSON figures are
optimistic: the shipped given-name list is derived from the same Faker providers.

    python benchmarks/bench_pii.py --n 5000 --seed 0 [--record out.json] [--match exact]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LOCALES = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT", "nl_NL": "NL"}
PATTERN_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "NATIONAL_ID", "URL")

FILLER = (
    "Great product, arrived two days early.", "The size runs a little small.", "Would buy again!",
    "Customer service was slow but helpful.", "Not what I expected from the photos.", "Five stars from me.",
    "The battery lasts about a week.", "Packaging was damaged but the item was fine.",
    "I returned the first one because it was broken.", "Highly recommended for the price.",
    "Support answered within an hour.", "The colour is darker than shown.", "Works as described.",
    "Delivery took longer than promised.", "My kids love it.", "Sadly it stopped working after a month.",
)
TEMPLATES = {
    "EMAIL": ("You can write to me at {v} if needed.", "Contact: {v}", "Please send the invoice to {v}.",
              "my email is {v} thanks"),
    "PHONE": ("Call me on {v} after 6pm.", "My number is {v}.", "Reach me at {v} please.", "tel. {v}",
              "Phone {v} anytime."),
    "CREDIT_CARD": ("I paid with my card {v} and was charged twice.", "Card number: {v}.",
                    "They billed {v} instead of my other card.", "visa {v} exp 04/27"),
    "IBAN": ("Please refund to IBAN {v}.", "My account is {v}, refund there.", "Transfer it to {v} please."),
    "IP_ADDRESS": ("The site blocked my IP {v} for no reason.", "Logged in from {v} yesterday.",
                   "server said {v} was banned"),
    "URL": ("See my profile at {v} for the photos.", "I posted the video on {v}", "Here is my account: {v}"),
    "NATIONAL_ID": ("{label} {v} was requested at checkout!", "They asked for my {label} ({v}), why?",
                    "Why would a shop need my {label} {v}?"),
    "DATE_OF_BIRTH": ("I was born on {v} and still felt young using it.", "DOB: {v}", "My birthday is {v}, so it was a gift.",
                      "Date of birth {v} was printed on the label!"),
    "ADDRESS": ("Please ship to {v} next time.", "I live at {v} and the courier never came.",
                "Delivered to {v} instead of my office."),
    "PERSON": ("{v} at the front desk was very kind.", "Thanks to {v} for the quick help.", "My name is {v} and I ordered twice.",
               "Regards, {v}", "I spoke with {v} who fixed it."),
}
ID_LABELS = {"en_US": ("SSN", "social security number"), "en_GB": ("National Insurance number", "NI number"),
             "fr_FR": ("numéro de sécurité sociale", "NIR"), "it_IT": ("codice fiscale", "CF"),
             "es_ES": ("DNI", "NIE"), "nl_NL": ("BSN", "burgerservicenummer"), "de_DE": ("Steuer-ID", "Steuer-IdNr")}


class Planter:
    """Faker-backed generators of one value per type, valid for the locale."""

    def __init__(self, seed: int):
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers = {}
        for i, loc in enumerate(LOCALES):
            f = Faker(loc)
            f.seed_instance(seed * 100 + i)
            self.fakers[loc] = f

    def value(self, kind: str, loc: str) -> tuple[str, dict]:
        f, r = self.fakers[loc], self.rng
        return getattr(self, "_" + kind.lower())(f, r, loc)

    def _email(self, f, r, loc):
        return (f.email() if r.random() < 0.6 else f.free_email()), {}

    def _phone(self, f, r, loc):
        import phonenumbers

        for _ in range(50):
            v = f.phone_number()
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(v, LOCALES[loc])):
                    return v, {}
            except phonenumbers.NumberParseException:
                pass
        raise RuntimeError(f"no valid {loc} phone number from Faker")

    def _credit_card(self, f, r, loc):
        from audit.pii.detectors.card import network

        kind = r.choice(["visa16", "mastercard", "amex", "discover", "jcb16", "visa13"])
        v = f.credit_card_number(card_type=kind)
        while network(v) is None:  # Faker's "JCB" numbers span 3500-3599; JCB's range is 3528-3589
            v = f.credit_card_number(card_type=kind)
        if len(v) == 16 and r.random() < 0.5:
            v = " ".join(v[i:i + 4] for i in range(0, 16, 4))
        return v, {}

    def _iban(self, f, r, loc):
        v = f.iban()
        if r.random() < 0.5:
            v = " ".join(v[i:i + 4] for i in range(0, len(v), 4))
        return v, {}

    def _ip_address(self, f, r, loc):
        x = r.random()
        return (f.ipv4_public() if x < 0.5 else f.ipv4_private() if x < 0.7 else f.ipv6()), {}

    def _url(self, f, r, loc):
        user = f.user_name()
        return r.choice([
            f"https://{f.domain_name()}/users/{user}", f"https://github.com/{user}", f"https://www.linkedin.com/in/{f.slug()}",
            f"https://{f.domain_name()}/account?email={f.email()}", f"https://twitter.com/{user}",
            f"https://www.{f.domain_name()}/u/{r.randint(1000, 99999999)}", f"https://medium.com/@{user}",
            f"https://{f.domain_name()}/profile.php?uid={r.randint(1000, 999999)}",
        ]), {}

    def _national_id(self, f, r, loc):
        label = r.choice(ID_LABELS[loc])
        if loc == "en_GB":
            v = _nino(r)
        elif loc == "de_DE":
            v = _idnr(r)
        elif loc == "es_ES":
            v = f.nie() if label == "NIE" else f.nif()
        else:
            v = f.ssn()
        return v, {"label": label}

    def _date_of_birth(self, f, r, loc):
        d = f.date_of_birth(minimum_age=18, maximum_age=90)
        fmt = r.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y"])
        return d.strftime(fmt), {}

    def _address(self, f, r, loc):
        v = f.street_address().replace("\n", ", ").strip()
        if r.random() < 0.3:
            v = f"{v}, {f.postcode()}"
        return v, {}

    def _person(self, f, r, loc):
        return (f.name() if r.random() < 0.5 else f"{f.first_name()} {f.last_name()}"), {}


def _nino(r: random.Random) -> str:
    first, second = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    while True:
        p = r.choice(first) + r.choice(second)
        if p not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    d = f"{r.randint(0, 999999):06d}"
    sep = r.choice(["", " "])
    return sep.join([p, d[:2], d[2:4], d[4:], r.choice("ABCD")])


def _idnr(r: random.Random) -> str:
    from stdnum.de import idnr
    from stdnum.iso7064 import mod_11_10

    while True:
        body = str(r.randint(1, 9)) + "".join(str(r.randint(0, 9)) for _ in range(9))
        v = body + mod_11_10.calc_check_digit(body)
        if idnr.is_valid(v):
            return v


def distractor(f, r: random.Random) -> str:
    from stdnum import luhn

    body = "4" + "".join(str(r.randint(0, 9)) for _ in range(14))
    order_id = body + luhn.calc_check_digit(body)
    return r.choice([
        f"My order #{order_id} never arrived.", f"Order number {r.randint(10**7, 10**9)} is still pending.",
        f"The book (ISBN {f.isbn13()}) was mislabeled.", f"Updated to v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)} today.",
        f"Windows build 10.0.{r.randint(10000, 22631)} broke it.", f"It cost ${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(10, 99)} in total.",
        f"Shipped at {f.date_time().strftime('%Y-%m-%d %H:%M:%S')} according to the log.",
        f"Tracking 1Z{r.randint(100, 999)}{r.choice('ABCDEFGH')}{r.choice('ABCDEFGH')}{r.randint(10**9, 10**10 - 1)} shows nothing.",
        f"USPS tracking {' '.join(str(r.randint(1000, 9999)) for _ in range(5))} 12 is stuck.",
        f"More at https://www.{f.domain_name()}/products/{r.randint(100, 99999)} if you want.",
        f"It broke on {f.date_this_decade().strftime('%d/%m/%Y')}, two weeks in.",
        f"Reference {r.randint(100000, 999999)}-{r.randint(10, 99)} in the email.",
        f"The firmware 1.2.{r.randint(3, 30)}.{r.randint(1, 99)}.{r.randint(1, 9)} fixed it.",
    ])


def make_rows(n: int, seed: int) -> list[dict]:
    """``n`` rows: text plus gold spans [{type, start, end}]; about 70% carry personal data."""
    p = Planter(seed)
    r = p.rng
    kinds = list(TEMPLATES)
    rows = []
    for _ in range(n):
        loc = r.choice(list(LOCALES))
        f = p.fakers[loc]
        parts: list[tuple[str, str | None]] = []  # (text, type or None)
        if r.random() < 0.8:
            parts.append((r.choice(FILLER), None))
        planted = r.choices(kinds, k=r.choice([0, 1, 1, 2, 2, 3])) if r.random() < 0.85 else []
        for kind in planted:
            value, extra = p.value(kind, loc)
            template = r.choice(TEMPLATES[kind])
            left, right = template.split("{v}")
            parts.append((left.format(**extra), None))
            parts.append((value, kind))
            parts.append((right, None))
        if r.random() < 0.6:
            parts.append((distractor(f, r), None))
        if r.random() < 0.3:
            parts.append((r.choice(FILLER), None))
        text, gold = "", []
        for i, (chunk, kind) in enumerate(parts):
            if not chunk:  # a template ending with its value: the next sentence starts on a new line
                text += "\n"
                continue
            if text and not chunk[0].isspace() and chunk[0] not in ".,;:!?)" and not text.endswith((" ", "(", "\n")):
                text += " "
            if kind is not None:
                gold.append({"type": kind, "start": len(text), "end": len(text) + len(chunk)})
            text += chunk
        rows.append({"locale": loc, "text": text, "gold": gold})
    return rows


def matches(pred: dict, gold: dict, mode: str) -> bool:
    if pred["type"] != gold["type"]:
        return False
    if mode == "exact":
        return pred["start"] == gold["start"] and pred["end"] == gold["end"]
    overlap = min(pred["end"], gold["end"]) - max(pred["start"], gold["start"])
    return overlap >= 0.5 * (gold["end"] - gold["start"])


def evaluate(rows: list[dict], predictions: list[list[dict]], mode: str) -> dict:
    from audit.pii.findings import TYPES

    stats = {t: {"gold": 0, "pred": 0, "tp_gold": 0, "tp_pred": 0, "exact": 0} for t in TYPES}
    misses: dict[str, list] = {t: [] for t in TYPES}
    false_hits: dict[str, list] = {t: [] for t in TYPES}
    for row, preds in zip(rows, predictions):
        for g in row["gold"]:
            s = stats[g["type"]]
            s["gold"] += 1
            hit = [p for p in preds if matches(p, g, mode)]
            if hit:
                s["tp_gold"] += 1
                s["exact"] += any(p["start"] == g["start"] and p["end"] == g["end"] for p in hit)
            elif len(misses[g["type"]]) < 8:
                misses[g["type"]].append({"text": row["text"], "gold": row["text"][g["start"]:g["end"]],
                                          "found": [(p["type"], row["text"][p["start"]:p["end"]]) for p in preds]})
        for p in preds:
            s = stats[p["type"]]
            s["pred"] += 1
            if any(matches(p, g, mode) for g in row["gold"]):
                s["tp_pred"] += 1
            elif len(false_hits[p["type"]]) < 8:
                false_hits[p["type"]].append({"text": row["text"], "found": row["text"][p["start"]:p["end"]],
                                              "detector": p["detector"]})
    table = {}
    for t, s in stats.items():
        recall = s["tp_gold"] / s["gold"] if s["gold"] else None
        precision = s["tp_pred"] / s["pred"] if s["pred"] else None
        f2 = (5 * precision * recall / (4 * precision + recall)
              if precision is not None and recall is not None and (precision or recall) else None)
        table[t] = {**s, "precision": precision, "recall": recall, "f2": f2,
                    "exact_share": s["exact"] / s["tp_gold"] if s["tp_gold"] else None}
    return {"per_type": table, "misses": misses, "false_hits": false_hits}


def _fmt(x) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="rows to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--match", choices=["overlap", "exact"], default="overlap",
                    help="overlap: >= 50%% of the gold span covered (default); exact: identical spans")
    ap.add_argument("--min-confidence", type=float, default=0.5)
    ap.add_argument("--record", type=Path, help="write rows, predictions and metrics as JSON here")
    args = ap.parse_args(argv)

    from audit.pii.scanner import PIIScanner

    t0 = time.perf_counter()
    rows = make_rows(args.n, args.seed)
    t_gen = time.perf_counter() - t0
    scanner = PIIScanner(min_confidence=args.min_confidence)
    texts = [r["text"] for r in rows]
    t0 = time.perf_counter()
    found = scanner.scan_many(texts)
    t_scan = time.perf_counter() - t0
    predictions = [[{"type": f.type, "start": f.start, "end": f.end, "detector": f.detector, "confidence": f.confidence,
                     "subtype": f.subtype} for f in fs] for fs in found]
    result = evaluate(rows, predictions, args.match)
    result.update({"n": args.n, "seed": args.seed, "match": args.match, "min_confidence": args.min_confidence,
                   "generation_s": round(t_gen, 2), "scan_s": round(t_scan, 2), "rows_per_s": round(args.n / t_scan, 1),
                   "mean_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1)})

    print(f"{args.n} rows (seed {args.seed}, mean {result['mean_chars']} chars), match={args.match}")
    print(f"{'type':<14}{'gold':>7}{'pred':>7}  {'prec':>6}  {'recall':>6}  {'F2':>6}  {'exact':>6}")
    for t, s in result["per_type"].items():
        mark = " *" if t in PATTERN_TYPES else ""
        print(f"{t:<14}{s['gold']:>7}{s['pred']:>7}  {_fmt(s['precision'])}  {_fmt(s['recall'])}  {_fmt(s['f2'])}  "
              f"{_fmt(s['exact_share'])}{mark}")
    print("* pattern-checkable types; exact = share of matched gold spans found with identical boundaries")
    print(f"scan: {t_scan:.2f} s = {result['rows_per_s']:.0f} rows/s (generation {t_gen:.1f} s, not counted)")
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps({**result, "rows": rows, "predictions": predictions}, indent=1,
                                          ensure_ascii=False))
        print(f"wrote {args.record}")
    return result


if __name__ == "__main__":
    main()
