"""Compiled patterns and validators for indicator extraction.

Every pattern is anchored on a cheap literal or character class and uses possessive quantifiers where a token can
be long, so scanning is linear in the size of the text (no catastrophic backtracking). Patterns only find
candidates; the validators below and the context rules in :mod:`threadline.extract.iocs.extractor` decide.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re

# --- candidate patterns (run on refanged text) ------------------------------------------------------------------

# Python's regex engine only skips ahead fast for a literal prefix, so most scans are anchored on a rare literal
# ("." "@" "://" ":" "AS"; "CVE", "HK" and "bc1" in their usual spellings, found with str.find) and
# the token around it is then matched with an anchored pattern. The character before a match is checked in
# Python (a look-behind at the start would disable the fast skip).

# Any dotted token: domains, IPv4 addresses and file names share it and are told apart afterwards.
DOT = re.compile(r"\.(?=[\w\-])(?<=[\w\-]\.)", re.ASCII)
DOTTED = re.compile(r"[\w\-]++(?:\.[\w\-]++)++(?![\w\-@])", re.ASCII)
TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
NOT_BEFORE_DOTTED = frozenset("-.@%$")

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)
COLON = re.compile(r":(?=[0-9A-Fa-f:])")
IPV6 = re.compile(r"[0-9A-Fa-f:]{2,39}+(?![\w:\-]|\.\w)", re.ASCII)
HEXCOLON = frozenset("0123456789abcdefABCDEF:")

AT = re.compile(r"@(?=[A-Za-z0-9])")
EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)++", re.ASCII)

SCHEME_SEP = re.compile(r"://")
SCHEME = re.compile(r"(?:h[tx*_]{2}ps?|f[tx]ps?|sftp|wss?)$", re.IGNORECASE)
URL_BODY = re.compile(r"[^\s<>\"'`|\u201c\u201d\u2018\u2019]++")

HASH_TYPES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}

_DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2212"
# CVE, REGISTRY and BTC_BECH32 are case-insensitive and only ever .match()-ed where str.find located one of
# their literal spellings (CVE_AT etc.): faster than a case-insensitive scan or a lower-cased copy of the text.
CVE_AT = ("CVE", "cve", "Cve")
_BREAK = r"(?:[ \t]*\r?\n[ \t]*)?"      # PDF text may break a CVE ID after either hyphen
CVE = re.compile(rf"cve[{_DASH}]{_BREAK}(\d{{4}})[{_DASH}]{_BREAK}(\d{{4,7}})(?!\d)", re.IGNORECASE)

_SEG = r"[^\\\s\"'`<>|;,]+"
_SEP = r"\\\\?"
# Inner segments may hold single spaces ("Windows NT") when another segment follows; the last one may not.
REGISTRY_AT = ("HK", "hk", "Hk")
REGISTRY = re.compile(
    r"hk(?:ey_local_machine|ey_current_user|ey_classes_root|ey_users|ey_current_config|lm|cu|cr|u|cc)"
    r"(?=:?\\)", re.IGNORECASE
)
# A word after a space in a key name never starts like a command-line switch ("/f", "-Name") nor holds a colon.
_WORD = r"[^\\\s\"'`<>|;,/:\-][^\\\s\"'`<>|;,:]*"
REGISTRY_PATH = re.compile(rf":?((?:{_SEP}{_SEG}(?:[ ]{_WORD}){{0,4}}(?={_SEP}))*{_SEP}{_SEG})")
REGISTRY_TAIL = re.compile(rf"(?:[ ]{_WORD}){{1,4}}")
HIVE_LONG = {
    "HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS", "HKCC": "HKEY_CURRENT_CONFIG",
}

BTC_BECH32_AT = ("bc1", "BC1")
BTC_BECH32 = re.compile(r"bc1[02-9ac-hj-np-z]{11,71}+(?![\w])", re.IGNORECASE)

ASN = re.compile(r"AS(N)?[ \t]?(\d{1,10})(?![\w/\-]|\.\d)", re.ASCII)

# Words right before a dotted number that make it a version, a section or a figure, not an address.
NOT_AN_ADDRESS = re.compile(
    r"\b(?:version|versions|ver|v|firmware|build|builds|release|releases|rev|revision|section|sect|sec|table|"
    r"tab|fig|figure|chapter|appendix|no|nr|rule|patch|kb|step|item|paragraph|para|clause|resolution)[\s.:#]*$",
    re.IGNORECASE,
)

# Words near a short ASN ("AS174") that show it is an autonomous system and not a product ("AS400").
ASN_CUE = re.compile(r"\b(?:ASN|autonomous|BGP|announced|announces|hosting|hoster|ISP|provider|routed|prefix)",
                     re.IGNORECASE)

# --- file extensions ---------------------------------------------------------------------------------------------

FILE_EXTENSIONS = frozenset(
    """exe dll sys scr cpl ocx drv efi bat cmd ps1 psm1 psd1 vbs vbe js jse wsf wsh hta lnk url msi msp msc
    iso img vhd vhdx zip rar 7z gz tgz tar bz2 xz cab jar war apk ipa dmg pkg app deb rpm elf bin dat cfg conf ini
    log tmp txt csv json xml yaml yml doc docx docm dot dotm xls xlsx xlsm xlsb xll ppt pptx pptm ppsx rtf pdf one
    chm eml msg htm html mht mhtml svg png jpg jpeg gif bmp ico mp3 mp4 mov avi wav php php5 phtml asp aspx ashx
    asmx jsp jspx py pyc sh pl rb lua so dylib class kdbx db sqlite lock key pem crt cer pfx p12 sct inf reg ps
    torrent cs vb go rs cpp md dex odt ods odp wim gadget appx msix xsl lnk job plist desktop service
    ko nsis""".split()
)
# Extensions that are also top-level domains and common as ccTLDs: a plain name with one is a domain unless the
# name looks like a file (upper case, underscore) or the sentence says so. ("zip", "mov", "app", "one", "sh",
# "py" and "pl" are in the set of extensions too; those default to file names, see DOMAIN_FIRST.)
DOMAIN_FIRST = frozenset("""cc cat ai so rs md ps ms mp pm pl""".split())
# TLDs that are also common attribute and method names in code quoted by reports ("user.name", "job.run"): a plain
# two-label name under one needs a hyphen or a digit to count as a domain (defanged ones always count).
CODE_TLDS = frozenset("""name run call read save play new open data map id show link""".split())
# Product names written like file names.
PRODUCT_NAMES = frozenset(
    """node.js vue.js next.js nuxt.js react.js angular.js ember.js backbone.js three.js d3.js chart.js express.js
    socket.io deno.js ext.js p5.js moment.js""".split()
)


# --- validators --------------------------------------------------------------------------------------------------

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}


def base58check_ok(address: str) -> bool:
    """Bitcoin legacy (P2PKH, P2SH) address: Base58Check with a 4-byte double-SHA-256 checksum."""
    num = 0
    for char in address:
        num = num * 58 + _B58_INDEX[char]
    raw = num.to_bytes(25, "big") if num.bit_length() <= 200 else b""
    if len(raw) != 25:
        return False
    pad = len(address) - len(address.lstrip("1"))
    if raw[:pad].strip(b"\0") or (pad == 0 and raw[0] == 0):
        return False
    payload, checksum = raw[:-4], raw[-4:]
    if payload[0] not in (0x00, 0x05):
        return False
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


_BECH32_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def bech32_ok(address: str) -> bool:
    """Segwit address (BIP 173 / BIP 350): bech32 for version 0, bech32m for versions 1-16."""
    if address.lower() != address and address.upper() != address:
        return False
    addr = address.lower()
    hrp, _, data_part = addr.rpartition("1")
    if hrp != "bc" or len(data_part) < 7:
        return False
    data = [_BECH32_CHARS.index(c) for c in data_part]
    const = _polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data)
    version = data[0]
    if version > 16 or const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    # Convert the 5-bit program to bytes and check its length.
    acc, bits, program = 0, 0, []
    for value in data[1:-6]:
        acc = (acc << 5) | value
        bits += 5
        while bits >= 8:
            bits -= 8
            program.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:
        return False
    if not 2 <= len(program) <= 40:
        return False
    return not (version == 0 and len(program) not in (20, 32))


def ipv6_value(candidate: str) -> str | None:
    """RFC 5952 form of a plausible IPv6 address, or None (timestamps, MACs, C++ scopes, bare "::")."""
    if candidate.count(":") < 2 or ("::" not in candidate and candidate.count(":") != 7):
        return None
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    groups = [g for g in candidate.split(":") if g]
    if not groups or not any(c.isdigit() for c in candidate):
        return None
    if len(groups) < 3 and candidate not in ("::1",) and not any(len(g) >= 3 for g in groups):
        return None       # "a1::b2" in prose is rarely an address; "fe80::1" and "::1" are kept
    return address.compressed


def ipv4_is_special(value: str) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified: never an attacker's public address."""
    address = ipaddress.ip_address(value)
    return bool(address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified)
