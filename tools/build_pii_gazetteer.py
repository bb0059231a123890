"""Build the name and street-type gazetteer shipped with the personal-data scanner.

Development-time only (needs ``Faker``, a test extra; the scanner itself never imports it).
Reads the first-name lists and street vocabularies of Faker's locale providers (MIT licence)
and writes

* ``audit/resources/pii_gazetteer.json.gz`` — ``first_names`` (capitalised given names of many
  locales), ``ambiguous_first_names`` (those that are also common English words, e.g. "Will",
  "Rose", "Mark": the scanner needs extra context before calling them a name), and the street
  vocabularies ``street_suffixes`` ("415 Romero Skyway"), ``street_prefixes`` ("rue de Bailly",
  "Via Roma") and ``street_endings`` (compounds such as "Miasteeg", "Hauptstraße");
* ``audit/resources/FAKER_LICENSE.txt`` — Faker's MIT licence, which accompanies the derived data.

A given name counts as a common word when the shipped WordNet lexicon
(``audit/resources/wordnet_lexicon.json.gz``) lists its lower-case form. The output is
deterministic (sorted lists, gzip with a zero timestamp).

    python tools/build_pii_gazetteer.py [--out audit/resources]
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import io
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CA",
    "es_ES", "es_MX", "it_IT", "nl_NL", "nl_BE", "pt_PT", "pt_BR", "pl_PL", "sv_SE", "da_DK",
    "no_NO", "fi_FI", "cs_CZ", "ro_RO", "hu_HU", "hr_HR", "sk_SK", "sl_SI", "et_EE", "lt_LT",
    "yo_NG", "zu_ZA", "tw_GH", "tr_TR", "id_ID", "az_AZ",
)
#: Locales whose given names are written in another script, with their romanised lists.
ROMANISED_LOCALES = ("ja_JP", "zh_CN", "zh_TW")
NAME = re.compile(r"^[A-ZÀ-Þ][a-zß-ÿ]+(?:-[A-ZÀ-Þ][a-zß-ÿ]+)?$")
# Abbreviations and spellings used in real text but absent from the providers' lists.
# Capitalised words that are given names in some locale but far more often something else in text:
# months, places, brands, name particles. Particles are dropped; the rest need context to count.
PARTICLES = {"El", "Van", "Von", "De", "Del", "Della", "Di", "Da", "Du", "La", "Le", "Der", "Den", "Ter", "Ten"}
EXTRA_AMBIGUOUS = {
    "May", "June", "April", "August", "Summer", "Winter", "Autumn", "Paris", "Victoria", "Florence", "Madison",
    "Chelsea", "Jordan", "Austin", "Lincoln", "Mercedes", "Dallas", "Sydney", "Georgia", "Virginia", "Carolina",
    "Dakota", "Savannah", "Phoenix", "Florida", "Brooklyn", "Camden", "Kent", "Devon", "Chester", "Tesla",
    "Page", "Star", "Sunny", "Rich", "Art", "Sky", "Will", "Wes", "Mercy", "Liberty", "Trinity", "Unity",
}
# Given names whose only WordNet senses are rare in running text ("maria": lunar seas).
NOT_AMBIGUOUS = {"Maria", "John", "Adam", "Victor", "Harry", "Jimmy", "Johnny", "Mike", "Sally", "Sonny", "Jan", "Eddy"}
EXTRA_SUFFIXES = ("St", "Ave", "Rd", "Ln", "Dr", "Blvd", "Ct", "Pl", "Sq", "Ter", "Hwy", "Pkwy", "Cres", "Gdns")
EXTRA_PREFIXES = ("Rue", "Avenue", "Boulevard", "Chemin", "Impasse", "Allée", "Place", "Quai", "Calle", "Avenida",
                  "Paseo", "Plaza", "Carrer", "Via", "Viale", "Piazza", "Corso", "Vicolo", "Largo", "Rua", "Travessa")
EXTRA_ENDINGS = ("straße", "strasse", "str.", "weg", "gasse", "platz", "allee", "ring", "damm", "ufer", "chaussee",
                 "straat", "laan", "gracht", "kade", "plein", "dijk", "singel", "steeg", "dreef", "pad")


def first_names() -> tuple[list[str], set[str]]:
    names: set[str] = set()
    for loc in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr in ("first_names", "first_names_female", "first_names_male"):
            names.update(n for n in getattr(provider, attr, ()) if NAME.match(n))
    for loc in ROMANISED_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr in ("first_romanized_names", "first_romanized_names_female", "first_romanized_names_male"):
            names.update(n for n in getattr(provider, attr, ()) if NAME.match(n))
    names -= PARTICLES
    return sorted(names), names


def common_words() -> set[str]:
    from audit.robustness.lexicon import LEXICON_PATH

    with gzip.open(LEXICON_PATH, "rt", encoding="utf-8") as fh:
        lexicon = json.load(fh)
    words = lexicon.get("words", lexicon)
    return {w for w in words if w.isalpha()}


def street_vocabulary() -> dict[str, list[str]]:
    suffixes: set[str] = set(EXTRA_SUFFIXES)
    for loc in ("en_US", "en_GB"):
        suffixes.update(importlib.import_module(f"faker.providers.address.{loc}").Provider.street_suffixes)
    prefixes: set[str] = set(EXTRA_PREFIXES)
    for loc, attr in (("fr_FR", "street_prefixes"), ("es_ES", "street_prefixes"), ("it_IT", "street_suffixes")):
        prefixes.update(p.capitalize() for p in getattr(importlib.import_module(f"faker.providers.address.{loc}").Provider, attr)
                        if p.isalpha())
    endings: set[str] = set(EXTRA_ENDINGS)
    endings.update(importlib.import_module("faker.providers.address.nl_NL").Provider.street_suffixes)
    de = importlib.import_module("faker.providers.address.de_DE").Provider
    endings.update(s.lower().lstrip("-") for s in (*de.street_suffixes_short, *de.street_suffixes_long))
    return {"street_suffixes": sorted(suffixes), "street_prefixes": sorted(prefixes), "street_endings": sorted(endings)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "audit" / "resources")
    args = ap.parse_args(argv)
    import faker

    names, name_set = first_names()
    common = common_words()
    data = {
        "source": f"Faker {faker.VERSION} locale providers (MIT licence); see FAKER_LICENSE.txt",
        "first_names": names,
        "ambiguous_first_names": sorted(n for n in name_set if (n.lower() in common or n in EXTRA_AMBIGUOUS) and n not in NOT_AMBIGUOUS),
        **street_vocabulary(),
    }
    raw = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pii_gazetteer.json.gz").write_bytes(buf.getvalue())
    dist = Path(faker.__file__).resolve().parent.parent / f"faker-{faker.VERSION}.dist-info"
    text = next(dist.rglob("LICENSE*")).read_text()
    header = "The file pii_gazetteer.json.gz in this directory is derived from the locale providers of Faker.\n\n"
    (args.out / "FAKER_LICENSE.txt").write_text(header + text)
    print(f"{len(names)} first names ({len(data['ambiguous_first_names'])} ambiguous), "
          f"{sum(len(data[k]) for k in ('street_suffixes', 'street_prefixes', 'street_endings'))} street words")


if __name__ == "__main__":
    main()
