"""Why a hit is probably not an indicator of compromise: MISP warninglists, publisher, references, private space.

Warninglists are read from the data that ships with ``pymispwarninglists`` (offline) and only a chosen subset is
used. Lists of cloud, CDN, VPN and hosting ranges (AWS, Azure, GCP, Cloudflare, Akamai, Fastly, OVH, GitHub,
VPN providers), dynamic-DNS, parking, disposable-mail and link-in-bio domains, and the top-1M site rankings
(Tranco 1M, Chrome CrUX 1M, Majestic, Cisco top 10k/20k, university domains) are left out on purpose: attackers
rent, register or compromise exactly such infrastructure, so a match there says nothing about a hit.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

# Directory names under pymispwarninglists/data/misp-warninglists/lists, grouped by what they are checked against.
IP_LISTS = (
    "rfc1918", "rfc5735", "rfc6598", "rfc3849", "multicast", "ipv6-linklocal", "public-dns-v4", "public-dns-v6",
    "sinkholes", "crl-ip", "umbrella-blockpage-v4", "umbrella-blockpage-v6",
)
DOMAIN_LISTS = (
    "rfc6761", "google", "microsoft", "microsoft-office365", "microsoft-win10-connection-endpoints",
    "security-provider-blogpost", "automated-malware-analysis", "alexa", "cisco_top1000", "tranco10k",
    "moz-top500", "whats-my-ip", "findip-host", "captive-portals", "public-dns-hostname", "crl-hostname",
    "url-shortener", "bank-website", "umbrella-blockpage-hostname",
)
HASH_LISTS = (
    "empty-hashes", "eicar.com", "nioc-filehash", "common-ioc-false-positive", "ti-falsepositives",
    "mozilla-CA", "mozilla-IntermediateCA",
)
# Hosts where anyone can publish content (Living Off Trusted Sites, URL shorteners, IPFS gateways): a URL with a
# path there is the attacker's content, so the host's good name must not flag it.
OPEN_CONTENT_LISTS = ("lots-project", "url-shortener", "public-ipfs-gateways")

# Flags (stable strings, used in JSON).
WARNINGLIST = "warninglist"
PUBLISHER = "publisher"
REFERENCE = "reference"
WELL_KNOWN = "well-known"
PRIVATE = "private"

# Reference pages analysts cite; the domains themselves are never infrastructure of an intrusion.
REFERENCE_HOSTS = frozenset(
    """attack.mitre.org cve.mitre.org cwe.mitre.org nvd.nist.gov cisa.gov www.cisa.gov us-cert.cisa.gov
    msrc.microsoft.com learn.microsoft.com docs.microsoft.com support.microsoft.com en.wikipedia.org
    www.virustotal.com virustotal.com bazaar.abuse.ch urlhaus.abuse.ch threatfox.abuse.ch www.exploit-db.com
    exploit-db.com www.kb.cert.org github.com/advisories""".split()
)

# Legitimate Windows, macOS and Linux programs that reports name while describing abuse (LOLBins and friends).
WELL_KNOWN_FILES = frozenset(
    """svchost.exe explorer.exe mshta.exe rundll32.exe regsvr32.exe cmd.exe powershell.exe pwsh.exe wscript.exe
    cscript.exe msiexec.exe certutil.exe bitsadmin.exe schtasks.exe at.exe wmic.exe wmiprvse.exe lsass.exe
    services.exe winlogon.exe userinit.exe csrss.exe smss.exe wininit.exe taskhost.exe taskhostw.exe
    conhost.exe dllhost.exe spoolsv.exe searchindexer.exe fodhelper.exe eventvwr.exe sdclt.exe computerdefaults.exe
    winword.exe excel.exe powerpnt.exe outlook.exe msedge.exe chrome.exe firefox.exe iexplore.exe onedrive.exe
    teams.exe notepad.exe calc.exe mspaint.exe reg.exe regedit.exe net.exe net1.exe netsh.exe nltest.exe
    whoami.exe ipconfig.exe systeminfo.exe tasklist.exe taskkill.exe sc.exe vssadmin.exe wevtutil.exe bcdedit.exe
    installutil.exe regasm.exe regsvcs.exe msbuild.exe cmstp.exe odbcconf.exe mavinject.exe forfiles.exe
    control.exe hh.exe infdefaultinstall.exe ieexec.exe presentationhost.exe xwizard.exe wuauclt.exe
    werfault.exe dism.exe ntdsutil.exe adfind.exe psexec.exe psexesvc.exe procdump.exe rclone.exe anydesk.exe
    teamviewer.exe mstsc.exe winrm.cmd wsmprovhost.exe curl.exe ssh.exe scp.exe tar.exe expand.exe extrac32.exe
    makecab.exe esentutl.exe diskshadow.exe ntoskrnl.exe kernel32.dll ntdll.dll user32.dll advapi32.dll
    shell32.dll ole32.dll wininet.dll ws2_32.dll comsvcs.dll dbghelp.dll dbgcore.dll version.dll amsi.dll
    mscoree.dll clr.dll urlmon.dll winhttp.dll crypt32.dll bcrypt.dll sechost.dll msvcrt.dll
    onedrivestandaloneupdater.exe onedrive.exe ntuser.dat hosts desktop.ini thumbs.db""".split()
)
# Networks of large service operators (Google, Microsoft, Cloudflare's resolver network, Akamai, Apple, Meta):
# named in reports as the route of a lookup, not as hosting rented by an actor.
WELL_KNOWN_ASNS = frozenset({"AS15169", "AS8075", "AS13335", "AS20940", "AS714", "AS32934", "AS36040"})

# Phrases that introduce the publisher's own pages or mailbox, or a citation.
PUBLISHER_CUE = re.compile(
    r"\b(?:our|my)\s+(?:\w+\s+){0,3}(?:blog|write-?up|report|research|analysis|article|post|paper|website|site|"
    r"advisory|page|repository|github)\b|\b(?:send|submit|forward|share|report)\b.{0,40}\b(?:to|with)\s+us\b|"
    r"\b(?:contact|reach|email|e-mail|write to)\s+us\b|\bsend\s+(?:\w+\s+){0,3}samples?\s+to\b",
    re.IGNORECASE,
)
REFERENCE_CUE = re.compile(
    r"\b(?:see(?: also)?|cf\.|sources?:|references?:?|citation|read more|more (?:details|information)|details at|"
    r"documented (?:at|in)|published (?:at|on)|described (?:at|in)|available (?:at|from)|retrieved from|"
    r"write-?up|blog post|maps to|as (?:reported|described|documented) (?:at|by|in))\b",
    re.IGNORECASE,
)
# "References", "## Sources", "Appendix C: References", "INDEX D: REFERENCES" on a line of their own.
REFERENCES_HEADING = re.compile(
    r"^[ \t#*]*(?:(?:appendix|annex|index|section)[ \t]+[\w.]{1,4}[ \t]*[:.\-\u2013][ \t]*)?"
    r"(?:references|sources|bibliography|further reading|notes|endnotes|footnotes|citations)[ \t:*]*$",
    re.IGNORECASE | re.MULTILINE,
)
# "[3] https://..." or "[3]: https://..." (Markdown reference) or "^3 https://...": a citation. A plain "3." line
# is not one: numbered lists of indicators are common.
FOOTNOTE_LINE = re.compile(r"^[ \t]*(?:\[\d{1,3}\]:?|\^\d{1,3})[ \t]+\S", re.MULTILINE)


# Optional imports of pymispwarninglists that Threadline never uses: jsonschema only validates lists, and pulls in
# rfc3987_syntax, which builds a grammar at import time (seconds); requests (with urllib3, ssl, http: 50 ms of a
# cold `threadline analyze`) only downloads lists, and Threadline passes the bundled ones.
_HIDDEN_IMPORTS = ("jsonschema", "requests")


def _import_warninglists() -> Any:
    """Import pymispwarninglists without its optional imports (:data:`_HIDDEN_IMPORTS`), hidden for the duration
    of this import only: nothing is hidden once the import is done, and a module already imported is used."""
    if "pymispwarninglists" in sys.modules:
        return sys.modules["pymispwarninglists"]
    hidden = [name for name in _HIDDEN_IMPORTS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import pymispwarninglists
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return pymispwarninglists


def _lists_dir() -> Path:
    return Path(_import_warninglists().__file__).parent / "data" / "misp-warninglists" / "lists"


@cache
def _load(names: tuple[str, ...]) -> dict[str, Any]:
    """Load chosen warninglists once (by directory name); keys are the lists' display names."""
    warning_lists = _import_warninglists().WarningLists
    raw = []
    for name in names:
        path = _lists_dir() / name / "list.json"
        if path.is_file():    # a list dropped by a newer pymispwarninglists is skipped, not fatal
            with path.open(encoding="utf-8") as handle:
                raw.append(json.load(handle))
    if not raw:
        return {}
    # Fast (exact) search: CIDR lists are matched by _Networks below, which builds in a fraction of the time
    # pymispwarninglists' bit-trie takes for the 60,000 public-resolver entries.
    return dict(warning_lists(slow_search=False, lists=raw).warninglists)


class _Networks:
    """Exact addresses plus networks grouped by prefix length: a lookup is one set probe per prefix length."""

    def __init__(self, entries: list[str]) -> None:
        self.exact: set[str] = set()
        self.by_prefix: dict[tuple[int, int], set[int]] = {}
        for entry in entries:
            if "/" not in entry:
                self.exact.add(entry.lower())
                continue
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            self.by_prefix.setdefault((net.version, net.prefixlen), set()).add(int(net.network_address))

    def contains(self, value: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if value in self.exact:
            return True
        bits = address.max_prefixlen
        number = int(address)
        for (version, prefix), nets in self.by_prefix.items():
            if version == address.version and (number >> (bits - prefix) << (bits - prefix)) in nets:
                return True
        return False


@cache
def _ip_networks() -> dict[str, _Networks]:
    return {name: _Networks(wl.list) for name, wl in _load(IP_LISTS).items()}


def ip_lists(value: str) -> list[str]:
    """Names of the chosen IP warninglists that contain an address."""
    address = ipaddress.ip_address(value)
    value = str(address)
    return [name for name, nets in _ip_networks().items() if nets.contains(value, address)]


def domain_lists(host: str, registered: str) -> list[str]:
    """Names of the chosen domain warninglists matching a host exactly or by its registered domain."""
    keys = {host, registered, host.removeprefix("www.")}
    out = []
    for name, wl in _load(DOMAIN_LISTS).items():
        if wl.type == "substring":
            if any(entry in host for entry in wl.list):
                out.append(name)
        elif wl.type in ("string", "hostname") and any(k in wl.set or "." + k in wl.set for k in keys if k):
            out.append(name)
    return out


def is_open_content_host(host: str, registered: str) -> bool:
    """Whether anyone can publish under this host (GitHub raw, cloud drives, shorteners, IPFS gateways)."""
    keys = {host, registered}
    return any(k in wl.set or "." + k in wl.set for wl in _load(OPEN_CONTENT_LISTS).values() for k in keys)


def hash_lists(value: str) -> list[str]:
    """Names of the chosen hash warninglists (empty file, EICAR, known-benign files) containing a hash."""
    upper = value.upper()
    return [name for name, wl in _load(HASH_LISTS).items() if value in wl.set or upper in wl.set]


def warm() -> None:
    """Load every chosen list now (for benchmarks that time extraction alone)."""
    for names in (DOMAIN_LISTS, HASH_LISTS, OPEN_CONTENT_LISTS, ("rfc6761",)):
        _load(names)
    _ip_networks()


def list_names(names: tuple[str, ...]) -> list[str]:
    """Display names of warninglists given by directory name."""
    return list(_load(names))
