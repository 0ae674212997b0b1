"""Who a request counts against: the peer, or what trusted proxies say; never what the client says."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from focalpoint_upload.ratelimit import UNKNOWN, client_ip, ip_key
from tests.ratelimit.conftest import FAST

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
PROXY = "10.0.0.5"


def xff(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


def fwd(value: str) -> dict[str, str]:
    return {"Forwarded": value}


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("203.0.113.9", {}, "203.0.113.9"),
    ("203.0.113.9", xff("198.51.100.1"), "203.0.113.9"),  # untrusted peer: spoofed header ignored
    (PROXY, {}, PROXY),  # trusted proxy, no header: the proxy itself
    (PROXY, xff("198.51.100.1"), "198.51.100.1"),
    (PROXY, xff("6.6.6.6, 198.51.100.1"), "198.51.100.1"),  # client-supplied prefix ignored
    (PROXY, xff("6.6.6.6, 198.51.100.1, 10.1.1.1"), "198.51.100.1"),  # chain of trusted proxies skipped
    (PROXY, xff("10.2.2.2, 10.1.1.1"), "10.2.2.2"),  # all trusted: the leftmost
    (PROXY, xff("6.6.6.6, garbage"), PROXY),  # malformed: stop at the nearest trusted hop
    (PROXY, xff("6.6.6.6, unknown, 10.1.1.1"), "10.1.1.1"),
    (PROXY, xff("198.51.100.1:4711"), "198.51.100.1"),
    (PROXY, xff("[2001:db8::1]:4711"), "2001:db8::1"),
    (PROXY, xff("2001:DB8:0:0::1"), "2001:db8::1"),
    (PROXY, xff("::ffff:198.51.100.1"), "198.51.100.1"),
    (PROXY, xff(" "), PROXY),
    (PROXY, {"x-forwarded-for": "198.51.100.1"}, "198.51.100.1"),  # case-insensitive lookup
    ("::ffff:10.0.0.5", xff("198.51.100.1"), "198.51.100.1"),  # IPv4-mapped peer is the IPv4 proxy
    ("fd00::1", xff("2001:db8::7"), "2001:db8::7"),
    ("fe80::1%eth0", {}, "fe80::1"),
    ("", xff("198.51.100.1"), UNKNOWN),
    ("not-an-ip", {}, UNKNOWN),
])
def test_x_forwarded_for(peer: str, headers: dict[str, str], expected: str) -> None:
    assert client_ip(peer, headers, TRUSTED) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("for=198.51.100.1", "198.51.100.1"),
    ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
    ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
    ("for=6.6.6.6, for=198.51.100.1", "198.51.100.1"),
    ("for=6.6.6.6, for=198.51.100.1;proto=https, for=10.1.1.1", "198.51.100.1"),
    ('for="_gazonk"', PROXY),  # obfuscated: not an address
    ("for=unknown", PROXY),
    ("proto=https", PROXY),  # no for=
    ('for="198.51.100.1', PROXY),  # broken quoted-string
    ("for", PROXY),
    ('for=6.6.6.6, for="[2001:db8::1]";by="a,b", for=10.1.1.1', "2001:db8::1"),  # comma inside quotes
    ("", PROXY),
])
def test_forwarded(value: str, expected: str) -> None:
    assert client_ip(PROXY, fwd(value), TRUSTED, header="forwarded") == expected


def test_only_the_configured_header_is_read() -> None:
    headers = {"X-Forwarded-For": "198.51.100.1", "Forwarded": "for=6.6.6.6"}
    assert client_ip(PROXY, headers, TRUSTED) == "198.51.100.1"
    assert client_ip(PROXY, headers, TRUSTED, header="forwarded") == "6.6.6.6"


def test_repeated_headers_through_a_getter() -> None:
    lines = {"x-forwarded-for": ["6.6.6.6", "198.51.100.1, 10.1.1.1"]}
    assert client_ip(PROXY, lambda name: lines.get(name, []), TRUSTED) == "198.51.100.1"


def test_tornado_headers() -> None:
    import tornado.httputil

    headers = tornado.httputil.HTTPHeaders()
    headers.add("X-Forwarded-For", "6.6.6.6")
    headers.add("X-Forwarded-For", "198.51.100.1")
    assert client_ip(PROXY, headers, TRUSTED) == "198.51.100.1"


def norm(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
untrusted = addresses.filter(lambda a: not any(norm(a).version == n.version and norm(a) in n for n in TRUSTED))
junk = st.text(alphabet=st.characters(codec="latin-1"), max_size=60)


@FAST
@given(peer=untrusted, value=junk, header=st.sampled_from(["x-forwarded-for", "forwarded"]))
def test_an_untrusted_peer_is_the_client_whatever_it_sends(peer: str, value: str, header: str) -> None:
    result = client_ip(peer, {header: value}, TRUSTED, header=header)  # type: ignore[arg-type]
    assert result == str(norm(peer))


@FAST
@given(prefix=junk.filter(lambda s: '"' not in s), real=untrusted)
def test_a_client_cannot_pick_its_key_behind_a_proxy(prefix: str, real: str) -> None:
    """Whatever the client puts in front, the address the trusted proxy appended is the one used."""
    result = client_ip(PROXY, xff(f"{prefix}, {real}"), TRUSTED)
    assert result == str(norm(real))
    node = f'"[{real}]"' if ":" in real else real
    result = client_ip(PROXY, fwd(f"{prefix}, for={node}"), TRUSTED, header="forwarded")
    assert result == str(norm(real))


@pytest.mark.parametrize(("ip", "key"), [
    ("198.51.100.1", "198.51.100.1"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.1", "198.51.100.1"),
    ("unknown", "unknown"),
    ("", "unknown"),
])
def test_ip_key(ip: str, key: str) -> None:
    assert ip_key(ip) == key
