"""Dates of birth: a date written within a few words of a birth cue ("born on", "DOB", "date of
birth", "birthday", "geboren am", "né le", "nato il", "fecha de nacimiento", ...).

Dates are ISO (1990-04-23), numeric day/month/year with / . or - (04/23/1990, 23.04.1990) and
written months in English ("April 23, 1990", "23 April 1990", "23rd of April 1990"); each is
checked to be a real calendar day in the past 130 years. The reported span is the date alone.
"""

from __future__ import annotations

import datetime as dt
import re

from ..findings import DATE_OF_BIRTH, Finding
from .base import Detector

MONTHS = {m: i + 1 for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"))}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9
_MON = r"(?P<mon>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
DATE = re.compile(
    r"(?<![\w/.-])(?:"
    r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    r"|(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})"
    rf"|{_DAY}(?:\s+of)?\s+{_MON},?\s+(?P<y2>\d{{4}})"
    rf"|{_MON.replace('mon', 'mon3')}\s+(?P<day3>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{{4}})"
    r")(?![\w/-]|\.\d)", re.I)
CUE = re.compile(
    r"\b(?:born(?:\s+on)?|d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthdate|birthday|b-day|"
    r"geboren(?:\s+am)?|geburtsdatum|geb\.|n[ée]e?\s+le|date\s+de\s+naissance|nat[oa]\s+il|data\s+di\s+nascita|"
    r"fecha\s+de\s+nacimiento|nacid[oa]\s+el|geboortedatum|geboren\s+op)\b", re.I)
CUE_WINDOW = 40  # characters between the end of a cue and the date (a few words)


def parse_date(m: re.Match[str], today: dt.date) -> dt.date | None:
    g = m.groupdict()
    try:
        if g["iy"]:
            d = dt.date(int(g["iy"]), int(g["im"]), int(g["id"]))
        elif g["a"]:
            year = int(g["y"])
            if len(g["y"]) == 2:
                year += 1900 if year > today.year % 100 else 2000
            a, b = int(g["a"]), int(g["b"])
            # Day first unless that is impossible (then month first, US style).
            day, month = (a, b) if b <= 12 else (b, a)
            d = dt.date(year, month, day)
        elif g["y2"]:
            d = dt.date(int(g["y2"]), MONTHS[g["mon"].lower()], int(g["day"]))
        else:
            d = dt.date(int(g["y3"]), MONTHS[g["mon3"].lower()], int(g["day3"]))
    except (ValueError, KeyError):
        return None
    return d if today.year - 130 <= d.year and d <= today else None


class DobDetector(Detector):
    type = DATE_OF_BIRTH
    name = "date+cue"

    def might_contain(self, text: str) -> bool:
        return CUE.search(text) is not None

    def find(self, text: str) -> list[Finding]:
        today = dt.date.today()
        out, taken = [], set()
        for cue in CUE.finditer(text):
            # Each cue claims the first real date that follows it within a few words.
            for m in DATE.finditer(text, cue.end(), min(len(text), cue.end() + CUE_WINDOW + 30)):
                if m.start() - cue.end() > CUE_WINDOW:
                    break
                if parse_date(m, today) is not None:
                    if m.start() not in taken:
                        taken.add(m.start())
                        out.append(self.finding(m.start(), m.end(), 0.9))
                    break
        return out
