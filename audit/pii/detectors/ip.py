"""IP addresses (v4 and v6), parsed by the standard ``ipaddress`` module.

A dotted quad that is part of a longer dotted number ("1.2.3.4.5"), follows a version marker
("v1.2.3.4", "version 10.0.0.1") or is not a valid address is skipped; three-part version strings
never match. A quad of single digits ("2.7.2.3") is below the default confidence floor unless
an address cue ("IP", "server", "from", ...) precedes it. IPv6 candidates need at least two colons and must parse as an address (so clock
times and MAC addresses do not).
"""

from __future__ import annotations

import ipaddress
import re

from ..findings import IP_ADDRESS, Finding
from .base import Detector

V4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d|[\w-])")
V6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])")
IP_CUE = re.compile(r"\b(?:ip|ips|address|addr|host|server|dns|ping|from|gateway|proxy|connect\w*|logged|login|"
                    r"blocked|banned|client|router)\b", re.I)
VERSION = re.compile(r"(?:\bv|\bversion|\bver\.?|\bbuild|\brelease)\s*$", re.I)


class IpDetector(Detector):
    type = IP_ADDRESS
    name = "ipaddress"

    def might_contain(self, text: str) -> bool:
        return "." in text or "::" in text or text.count(":") >= 2

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in V4.finditer(text):
            if VERSION.search(text[max(0, m.start() - 12):m.start()]):
                continue
            try:
                addr = ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            confidence = _confidence(addr)
            if all(len(o) == 1 for o in m.group().split(".")) and not IP_CUE.search(text[max(0, m.start() - 30):m.start()]):
                confidence = 0.45  # "GCC 2.7.2.3": single-digit quads are usually versions unless an IP cue is near
            out.append(self.finding(m.start(), m.end(), confidence, subtype="v4"))
        for m in V6.finditer(text):
            value = m.group()
            if sum(ch.isalnum() for ch in value) < 2:
                continue
            try:
                addr = ipaddress.IPv6Address(value)
            except ValueError:
                continue
            out.append(self.finding(m.start(), m.end(), _confidence(addr), subtype="v6"))
        return out


def _confidence(addr) -> float:
    # Public addresses can identify a subscriber; private, loopback and documentation ranges rarely do.
    return 0.9 if addr.is_global else 0.6
