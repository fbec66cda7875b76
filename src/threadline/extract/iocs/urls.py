"""URLs and e-mail addresses in refanged text: the scanners that run first, since what they claim (a host, a path's
file name, an address's domain) is part of their indicator and is not reported again.

Both are linear in the text however hostile it is (issue 13): every "://" of a run is judged by its own
authority, and an address's domain is cut once to the longest name that can be a domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from threadline.extract.iocs import patterns as p
from threadline.extract.iocs.scan import Raw, Spans, valid_domain
from threadline.limits import check

_URL_TRAIL = ".,;:!?'\"*`\u2026\u2013\u2014"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_WRAP_END = "/?&=-_%#"        # a URL cut at one of these at a line end goes on on the next line (PDF text)
_WRAP_NEXT = re.compile(r"[ \t]*([^\s<>\"'`|]+)")


def _trim_url(url: str) -> str:
    """``url`` without trailing punctuation and unbalanced closing brackets.

    Brackets are counted once and the end moves by index: counting or slicing per trailing character was quadratic
    on a URL followed by thousands of ")" or ".".
    """
    end = len(url)
    counts: dict[str, int] = {}
    while end:
        last = url[end - 1]
        if last in _URL_TRAIL:
            end -= 1
            continue
        if last not in _CLOSERS:
            break
        if last not in counts:
            counts[last] = url.count(last, 0, end)
            counts[_CLOSERS[last]] = url.count(_CLOSERS[last], 0, end)
        if counts[_CLOSERS[last]] >= counts[last]:
            break
        counts[last] -= 1
        end -= 1
    return url[:end]


def _url_host(rest: str) -> tuple[str, str, str] | None:
    """Split what follows ``scheme://`` into (authority as normalised, host, path); None if the host is invalid."""
    cut = len(rest)
    for sep in "/?#":
        pos = rest.find(sep)
        if pos != -1:
            cut = min(cut, pos)
    authority, path = rest[:cut], rest[cut:]
    userinfo, _, hostport = authority.rpartition("@")
    prefix = userinfo + "@" if userinfo else ""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            return None
        v6 = p.ipv6_value(hostport[1:close])
        if v6 is None:
            return None
        port = hostport[close + 1:]
        if port and not re.fullmatch(r":\d{1,5}", port):
            return None
        return f"{prefix}[{v6}]{port}", v6, path
    host, _, port = hostport.partition(":")
    if port and not port.isdigit():
        return None
    host = host.lower().rstrip(".")
    if not (p.IPV4.fullmatch(host) or host == "localhost" or valid_domain(host)):
        return None
    return prefix + host + (":" + port if port else ""), host, path


_AUTHORITY_END = re.compile(r"[/?#]")


def _fixed_authority(text: str, begin: int, body_end: int) -> str | None:
    """The authority of a URL whose body is ``text[begin:body_end]`` when trimming and line joining cannot change it.

    That holds when a "/" or "#" ends it (never trimmed), or when a "/" follows within the body (trimming stops
    there). Else None, and the URL has to be built in full. This lets every "://" of a long run of them (a badly
    quoted list, ``hxxp://hxxp://...``) be rejected in time proportional to its own authority, not to the run.
    """
    cut = _AUTHORITY_END.search(text, begin, body_end)
    if cut is None:
        return None
    if text[cut.start()] == "?" and text.find("/", cut.start(), body_end) == -1:
        return None
    return text[begin:cut.start()]


def scan_urls(text: str, claimed: Spans) -> Iterator[Raw]:
    done = 0
    body_end = -1          # end of the last URL body matched; every later "://" before it shares that end
    for sep in p.SCHEME_SEP.finditer(text):
        check()      # bounded work per document in any thread (threadline.limits)
        left = sep.start()
        if left < done:
            continue
        start = left
        while start > left - 6 and start > 0 and (text[start - 1].isalpha() or text[start - 1] in "*_"):
            start -= 1
        scheme_match = None
        for begin in range(start, left):       # the longest scheme ending at "://" (hxxps, fxp, ...)
            scheme_match = p.SCHEME.match(text, begin, left)
            if scheme_match:
                start = begin
                break
        if scheme_match is None or (start and text[start - 1].isalnum()):
            continue
        if sep.end() >= body_end:
            body = p.URL_BODY.match(text, sep.end())
            if body is None:
                continue
            body_end = body.end()
        authority = _fixed_authority(text, sep.end(), body_end)
        if authority is not None and _url_host(authority) is None:
            continue
        hit = _url(text, start, body_end, scheme_match.group(0))
        if hit is not None:
            done = hit.end
            claimed.add(hit.start, hit.end)
            yield hit


def _continuation(text: str, url: str, stop: int) -> tuple[int, int] | None:
    """Span of the next line's first token if it continues a URL that ends at ``stop`` (a line end)."""
    if text[stop:stop + 1] not in ("\n", "\r") or url[-1] not in _WRAP_END + ".":
        return None
    nl = stop + (2 if text[stop:stop + 2] == "\r\n" else 1)
    nxt = _WRAP_NEXT.match(text, nl)
    if nxt is None or "://" in nxt.group(1):
        return None
    token = _trim_url(nxt.group(1))
    if url[-1] == ".":
        ok = token[:1].islower() or token[:1].isdigit()
        ok = ok and any(c in token for c in "/?=")
    else:
        ok = any(c in token for c in "/.=&?")
    return (nxt.start(1), nxt.start(1) + len(token)) if ok and token else None


def _url(text: str, start: int, end: int, scheme: str) -> Raw | None:
    url = text[start:end]
    # PDF text: a URL broken at a line end goes on with the next line's first token, when the break is after
    # "/", "?", "&", "=", ... or after a dot followed by the rest of a host or path ("[.]\ncom/a", ".\npng?v=3").
    stop = end
    for _ in range(3):
        more = _continuation(text, url, stop)
        if more is None:
            break
        url += text[more[0]:more[1]]
        stop = end = more[1]
    trimmed = _trim_url(url)
    stop -= len(url) - len(trimmed)
    url = trimmed
    scheme = scheme.lower()
    if scheme[0] == "h":
        scheme = "https" if scheme.endswith("s") else "http"
    elif scheme[0] == "f":
        scheme = "ftps" if scheme.endswith("s") else "ftp"
    parts = _url_host(url[url.index("://") + 3:])
    if parts is None:
        return None
    authority, host, path = parts
    return Raw("url", f"{scheme}://{authority}{path}", start, stop, host)


_MAX_DOMAIN = 253


def _longest_possible_domain(name: str) -> str:
    """``name`` without trailing dots and hyphens, lower case, cut to its longest prefix ending before a dot that
    can be a host name (253 characters at most; "" if there is none): ``scan_emails`` drops labels from the right
    until the name is valid, and the longer prefixes never are. Dropping them one at a time from ``x@a.a.a...``
    (100,000 labels) made 100,000 copies of up to 200 KB each, and ``valid_domain``'s cache kept them."""
    name = name.rstrip(".-")
    if len(name) > _MAX_DOMAIN:
        dot = name.rfind(".", 0, _MAX_DOMAIN + 1)
        name = name[:dot] if dot != -1 else ""
    return name.lower()


def scan_emails(text: str, claimed: Spans) -> Iterator[Raw]:
    for at in p.AT.finditer(text):
        check()      # bounded work per document in any thread (threadline.limits)
        pos = at.start()
        start = pos
        while start > pos - 64 and start > 0 and text[start - 1] in p.EMAIL_LOCAL:
            start -= 1
        while start < pos and not text[start].isalnum():
            start += 1
        if start == pos or claimed.covers(start, pos) or (start and text[start - 1] in "%/:=?&\\"):
            continue                    # "autodiscover.json%3f@evil.com" is part of a URL, not a mailbox
        match = p.EMAIL_DOMAIN.match(text, pos + 1)
        if match is None:
            continue
        local = text[start:pos]
        domain = _longest_possible_domain(match.group(0))
        while domain and not valid_domain(domain) and "." in domain:   # "a@evil.com.Next" -> "evil.com"
            domain = domain.rsplit(".", 1)[0]
        if not valid_domain(domain):
            continue
        end = pos + 1 + len(domain)
        claimed.add(start, end)
        yield Raw("email", f"{local.lower()}@{domain}", start, end, domain)
