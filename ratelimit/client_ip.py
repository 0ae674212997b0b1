"""Which client a request counts against: the socket peer, or what trusted proxies say the client was.

Rules (a client can never choose its own key):

- The peer is believed as is. Only when the peer is inside ``trusted`` are forwarding headers read at all.
- The chain (header entries left to right, then the peer) is walked from the right, skipping trusted proxies;
  the first untrusted address is the client. If every hop is trusted, the leftmost one is.
- The walk stops at the first entry that is not an address (malformed, ``unknown``, an obfuscated ``_name``, a
  Forwarded element without ``for=``): what lies left of it was not vouched for, so the nearest trusted hop to
  its right is answered instead.
- Only one header is read, ``header`` (``"x-forwarded-for"``, the default, or ``"forwarded"`` for RFC 7239):
  reading both would let a client inject the one its proxy does not rewrite.
- Addresses are normalised: IPv6 compressed, zone (``%eth0``) dropped, IPv4-mapped IPv6 as IPv4. A peer that
  is not an IP address at all (e.g. a unix socket) is :data:`UNKNOWN`.

:func:`ip_key` turns an address into the limiter key: IPv4 per address, IPv6 per /64, because one subscriber
or host is normally given a whole /64 and could otherwise rotate through addresses to dodge any per-IP limit.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HeaderSource = Mapping[str, str] | Callable[[str], Iterable[str]]
ForwardingHeader = Literal["x-forwarded-for", "forwarded"]

UNKNOWN = "unknown"
IPV6_KEY_PREFIX = 64


def client_ip(
    peer: str,
    headers: HeaderSource,
    trusted: Sequence[Network],
    *,
    header: ForwardingHeader = "x-forwarded-for",
) -> str:
    """The client's address, normalised, by the rules of this module.

    ``headers`` is a mapping (tornado's ``HTTPHeaders``, a dict; looked up case-insensitively, a repeated header
    being comma-joined as tornado does) or a getter returning every value of a possibly repeated header.
    """
    address = parse_address(peer)
    if address is None:
        return UNKNOWN
    if not _trusted(address, trusted):
        return str(address)
    raw = ",".join(_header_values(headers, header))
    hops = _forwarded_for(raw) if header == "forwarded" else _x_forwarded_for(raw)
    current = address
    for hop in reversed(hops):
        if hop is None:
            break
        current = hop
        if not _trusted(hop, trusted):
            break
    return str(current)


def ip_key(ip: str) -> str:
    """The limiter key for a client address: IPv4 as is, IPv6 as its /64 (``"2001:db8:1:2::/64"``).

    Anything that is not an address (including :data:`UNKNOWN`) shares the key ``"unknown"``.
    """
    address = parse_address(ip)
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_KEY_PREFIX), strict=False))
    return str(address)


@functools.lru_cache(maxsize=4096)  # pure, and on every request twice (client_ip, ip_key): a few % of a poll
def parse_address(text: str) -> Address | None:
    """A bare IP address, normalised (zone dropped, IPv4-mapped as IPv4); None if ``text`` is not one."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_node(text: str) -> Address | None:
    """A forwarding-header node: ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]``, ``[2001:db8::1]:80`` or a bare
    IPv6 address; None for anything else (``unknown``, ``_hidden``, garbage)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        rest = text[end + 1:]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return parse_address(text[1:end])  # IPv4-mapped IPv6 comes back as IPv4
    if text.count(":") == 1:  # IPv4 with a port
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        address = parse_address(host)
        return address if isinstance(address, ipaddress.IPv4Address) else None
    return parse_address(text)


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _header_values(headers: HeaderSource, name: str) -> list[str]:
    if callable(headers):
        return [str(v) for v in headers(name)]
    return [value for key, value in headers.items() if key.lower() == name]


def _x_forwarded_for(raw: str) -> list[Address | None]:
    if not raw.strip():
        return []
    return [parse_node(entry) for entry in raw.split(",")]


def _forwarded_for(raw: str) -> list[Address | None]:
    """The ``for=`` node of each RFC 7239 element, None where an element is malformed or has no address."""
    hops: list[Address | None] = []
    for element in _split_quoted(raw, ","):
        if not element.strip():
            continue  # empty list members are allowed by the list syntax
        node: Address | None = None
        for pair in _split_quoted(element, ";"):
            name, sep, value = pair.strip().partition("=")
            if not sep or not name.strip():
                node = None
                break
            if name.strip().lower() == "for":
                unquoted = _unquote(value.strip())
                node = parse_node(unquoted) if unquoted is not None else None
        hops.append(node)
    return hops


def _split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double-quoted strings (backslash escapes inside quotes)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str | None:
    """A token as is, a quoted-string without its quotes and escapes; None if a quoted-string is broken."""
    if not value.startswith('"'):
        return value
    if len(value) < 2 or not value.endswith('"'):
        return None
    out: list[str] = []
    escaped = False
    for char in value[1:-1]:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)
