"""Person names from a gazetteer of given names plus context rules.

* a given name from the shipped list (``gazetteer.first_names``, about 9,900 names of 39 locales),
  capitalised, is a name; the capitalised words that follow it on the same line (with particles
  such as "van", "de", "di") are its surname;
* an honorific (Mr, Mrs, Ms, Dr, Prof, Herr, Frau, Mme, Sig., Sr., ...) or a naming phrase ("my
  name is", "I'm", "called", "named", "signed,", "regards,", "my sister", "je m'appelle", ...)
  followed by capitalised words is a name even when the given name is not in the list;
* an unlisted capitalised word followed by what only a person does ("Obinna and I", "Ngozi
  mentioned it", "Takeshi bought it") is a name, with lower confidence;
* given names that are also everyday words or places ("Will", "Rose", "May", "Paris": the list's
  ``ambiguous_first_names``) count only after such a cue, or when a surname follows them
  mid-sentence.

The span covers honorific, given name and surname(s).
"""

from __future__ import annotations

import re

from ..findings import PERSON, Finding
from . import gazetteer
from .base import Detector

_CAP = r"(?:[A-ZÀ-Ý]['’])?[A-ZÀ-Ý][a-zß-ÿ]+(?:[A-ZÀ-Ý][a-zß-ÿ]+)?(?:[-'’][A-ZÀ-Ý]?[a-zß-ÿ]+)*(?![\w])"
_PARTICLE = r"(?i:van der|van den|van de|van|von der|von|de la|de los|del|della|de|di|da|du|dos|le|la|ter|ten|bin|al)"
HONORIFIC = (r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle|M|Sr|Sra|Srta|Sig|Sig\.ra|Dott|Dott\.ssa|"
             r"Ing|Avv|Dhr|Mevr|Mevrouw|Meneer|Madame|Monsieur|Señor|Señora|Signor|Signora)\.?")
CUE = re.compile(
    rf"(?:\b{HONORIFIC}|\b(?:[Mm]y name is|[Mm]y name's|[Nn]ame:|I'm|I am|[Cc]alled|[Nn]amed|[Ss]igned,?|[Rr]egards,|"
    rf"[Ss]incerely,|[Cc]heers,|[Tt]hanks,|[Bb]est,|[Ff]rom|[Aa]sk for|[Ss]poke (?:to|with)|[Cc]ontact|"
    rf"[Jj]e m'appelle|[Ii]ch heiße|[Ii]ch bin|[Mm]i chiamo|[Mm]e llamo|[Mm]ijn naam is|[Ii]k ben|[Gg]rüße,|[Cc]ordialement,|"
    rf"[Ss]aludos,|[Gg]roeten,|[Mm]y (?:friend|wife|husband|partner|girlfriend|boyfriend|fiancée?|brother|sister|mother|"
    rf"father|mum|mom|dad|son|daughter|colleague|neighbou?r|boss|cousin|aunt|uncle|flatmate|roommate|grandmother|"
    rf"grandfather|grandma|grandpa|nephew|niece)))[ \t]+$")
# What only a person does, right after an unlisted capitalised word: "Obinna and I", "Ngozi mentioned it".
PERSON_AFTER = re.compile(
    r"[ \t]+(?:and (?:I|me)\b|(?:told (?:me|us)|mentioned|recommended it|insisted|complained|promised|bought it|"
    r"picked it|gave it|lent it|chose it|ordered it|returned it|watched it|loved it|hated it)\b)")
WORD = re.compile(_CAP)
_INITIALS = r"(?:[ \t]+[A-Z]\.)*"
SURNAME = re.compile(rf"(?:{_INITIALS}[ \t]+(?:{_PARTICLE}[ \t]+)?{_CAP}){{1,3}}(?:,?[ \t]+(?:Jr|Sr|II|III|IV|MD|PhD|DDS|DVM)\.?)?")
HONORIFIC_BEFORE = re.compile(rf"\b{HONORIFIC}[ \t]+$")
# Capitalised words that never continue a name.
NOT_SURNAME = {
    "I", "The", "A", "An", "And", "Or", "But", "So", "If", "In", "On", "At", "To", "For", "Of", "With", "By", "From",
    "My", "Our", "Your", "His", "Her", "Their", "We", "You", "He", "She", "They", "It", "This", "That", "These",
    "Is", "Was", "Are", "Were", "Has", "Had", "Have", "Will", "Would", "Can", "Could", "Should", "Did", "Does",
    "Thanks", "Thank", "Hi", "Hello", "Hey", "Dear", "Yes", "No", "Not", "Very", "Great", "Good", "Best",
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October", "November", "December",
    "Customer", "Service", "Support", "Team", "Store", "Shop", "Hotel", "Restaurant",
    "Der", "Die", "Das", "Und", "Le", "La", "Les", "Et", "El", "Los", "Las", "Il", "Het", "En", "Een",
}
# Street types that are not also common surnames (unlike "Lane", "Hill", "Wood").
STREET_WORDS = {"Street", "St", "Road", "Rd", "Avenue", "Ave", "Boulevard", "Blvd", "Drive", "Highway", "Parkway",
                "Square", "Terrace", "Crescent", "Straße", "Strasse", "Gasse", "Weg", "Platz", "Allee", "Straat", "Laan"}
# Endings of compound street names that surnames do not have (unlike "-ring", "-weg": Siering, Zuidweg).
STREET_ENDINGS = ("straße", "strasse", "str.", "gasse", "allee", "straat", "platz", "gracht", "steeg", "laan")
SENTENCE_START = re.compile(r"(?:^|[.!?:;\"“(\n]\s*)$")


class PersonDetector(Detector):
    type = PERSON
    name = "gazetteer"

    def __init__(self):
        g = gazetteer.load()
        self.ambiguous = g["ambiguous_first_names"]
        self.first_names = g["first_names"]
        self.street_words = STREET_WORDS
        self.street_endings = STREET_ENDINGS

    def might_contain(self, text: str) -> bool:
        return not text.islower()

    def find(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        pos = 0
        for m in WORD.finditer(text):
            if m.start() < pos:
                continue
            word = m.group()
            if word in NOT_SURNAME:
                continue
            if text.startswith(".", m.end()) and m.end() + 1 < len(text) and not text[m.end() + 1].isspace():
                continue  # an abbreviation such as "Univ.Prof." or "Dipl.-Ing."
            before = text[max(0, m.start() - 24):m.start()]
            cue = CUE.search(before)
            known = word in self.first_names or word.split("-", 1)[0] in self.first_names
            acts = (not known and cue is None and not word.endswith("ly")  # "Highly recommended it"
                    and PERSON_AFTER.match(text, m.end()) is not None)
            if not known and cue is None and not acts:
                continue
            end = self._surname_end(text, m.end())
            with_surname = end > m.end()
            if known and word in self.ambiguous and cue is None:
                if not with_surname or SENTENCE_START.search(before):
                    continue
                confidence = 0.6
            elif acts:
                confidence = 0.6  # an unlisted word doing what people do: a name, less surely
            elif cue is not None:
                confidence = 0.9 if known or with_surname else 0.75
            else:
                confidence = 0.85 if with_surname else 0.7
            start = m.start()
            honorific = HONORIFIC_BEFORE.search(before)
            if honorific is not None:
                start = m.start() - (len(before) - honorific.start())
            out.append(self.finding(start, end, confidence))
            pos = end
        return out

    def _surname_end(self, text: str, end: int) -> int:
        m = SURNAME.match(text, end)
        if m is None:
            return end
        stop = end
        for part in re.finditer(rf"{_INITIALS}[ \t]+(?:{_PARTICLE}[ \t]+)?({_CAP})|,?[ \t]+(?:Jr|Sr|II|III|IV|MD|PhD|DDS|DVM)\.?",
                                m.group()):
            word = part.group(1)
            if word is not None and (word in NOT_SURNAME or word in self.street_words
                                     or word.lower().endswith(self.street_endings)):
                break  # "Kevin Street", "Ida Jäckel-Gasse": a street, not a surname
            stop = end + part.end()
        return stop
