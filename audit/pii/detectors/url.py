"""URLs that point at a person: a profile or account path, or a query carrying an identity.

Only such URLs are reported; a plain site or article URL is not personal data. A URL counts when
its path has an account segment followed by an identifier (``/users/<name>``, ``/u/<id>``,
``/profile/<id>``, ``/in/<name>``, ``/@<name>``, ``/~<name>``), when its host is a social site and the
first path segment is an account name (on code hosting sites: a bare account link, since
``github.com/<org>/<repo>`` names a project), or when its query has an identity
parameter (``email=``, ``user=``, ``uid=``, ``phone=``, ...).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from ..findings import URL, Finding
from .base import Detector

CANDIDATE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.I)
TRAILING = ".,;:!?)]}'\""
ACCOUNT_PATH = re.compile(
    r"/(?:users?|u|profiles?|people|person|members?|accounts?|author|authors|in|user_id|customer|customers|"
    r"patients?|employees?|staff)/[^/?#]+|/@[^/?#]+|/~[^/?#]+", re.I)
SOCIAL_HOSTS = {
    "facebook.com", "fb.com", "twitter.com", "x.com", "instagram.com", "github.com", "gitlab.com", "tiktok.com",
    "linkedin.com", "medium.com", "bitbucket.org", "codeberg.org", "reddit.com", "youtube.com", "pinterest.com", "threads.net", "bsky.app",
    "vk.com", "t.me", "twitch.tv", "soundcloud.com", "flickr.com", "tumblr.com", "snapchat.com",
}
# On code hosts the first segment may be an organisation: only a bare account link counts.
CODE_HOSTS = {"github.com", "gitlab.com", "bitbucket.org", "codeberg.org"}
# First path segments on social hosts that are site pages, not accounts.
SITE_PAGES = {
    "", "home", "about", "help", "login", "signup", "search", "explore", "settings", "privacy", "terms", "watch",
    "hashtag", "topics", "trending", "features", "pricing", "blog", "docs", "jobs", "careers", "r", "p", "reel",
    "groups", "events", "pages", "marketplace", "i", "intent", "share", "sharer", "status", "legal", "policies",
}
IDENTITY_PARAMS = {
    "email", "e-mail", "mail", "user", "username", "user_name", "userid", "user_id", "uid", "login", "name",
    "first_name", "last_name", "fullname", "phone", "tel", "mobile", "account", "account_id", "customer_id",
    "member_id", "profile_id", "ssn", "dob",
}


def personal(url: str) -> bool:
    """Whether a URL's path or query identifies a person or account."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if ACCOUNT_PATH.search(parts.path):
        return True
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    first = parts.path.strip("/").split("/", 1)[0].lower()
    segments = [p for p in parts.path.split("/") if p]
    if host in CODE_HOSTS and len(segments) == 1 and first not in SITE_PAGES:
        return True
    if host in SOCIAL_HOSTS - CODE_HOSTS and first not in SITE_PAGES and not first.endswith((".php", ".html")):
        return True
    return any(k.lower() in IDENTITY_PARAMS and v for k, v in parse_qsl(parts.query, keep_blank_values=True))


class UrlDetector(Detector):
    type = URL
    name = "url"

    def might_contain(self, text: str) -> bool:
        return "http" in text or "www." in text or "HTTP" in text or "WWW." in text

    def find(self, text: str) -> list[Finding]:
        out = []
        for m in CANDIDATE.finditer(text):
            value = m.group().rstrip(TRAILING)
            if value.count("(") < value.count(")"):
                value = value[:value.rfind(")")]
            if personal(value):
                out.append(self.finding(m.start(), m.start() + len(value), 0.9))
        return out
