"""Where webhooks may go: an address is refused when its host is this machine, link-local
(cloud metadata), multicast or unspecified, in whatever spelling; a name is checked each time it
is resolved (``control.webhook_delivery.GuardedResolver``)."""

from __future__ import annotations

import ipaddress
import re
import socket

import yarl

MAX_URL = 500

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host whose last label is a number is an IPv4 address to browsers (the URL standard) and to
# resolvers (inet_aton): 127.1, 2130706433, 0x7f000001, 0177.0.0.1 are all 127.0.0.1.
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class AddressRefused(ValueError):
    """A webhook address refused because of the IP address its host stands for: ``problem``
    is ``this_machine`` (this machine, link-local, multicast or unspecified) or
    ``unusual_number`` (an IPv4 address not written as four decimal numbers)."""

    def __init__(self, problem: str, host: str, address: IPAddress) -> None:
        message = {
            "this_machine": "Not this machine, a link-local or a multicast address",
            "unusual_number": "An IP address is written as four decimal numbers",
        }[problem]
        super().__init__(f"{message}: {host} is {address}")
        self.problem = problem
        self.host = host
        self.address = address


def host_address(host: str) -> tuple[IPAddress | None, bool]:
    """The IP address a URL's host stands for, however it is spelled (None for a name), and
    whether it is spelled the usual way."""
    try:
        return ipaddress.ip_address(host.strip("[]")), True
    except ValueError:
        pass
    if not _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
        return None, True
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host)), False
    except OSError:
        raise ValueError("Not a valid address") from None


def check_url(url: str, allowed_hosts: frozenset[str] = frozenset()) -> str:
    """A webhook address: http(s), a host that can be encoded, not this machine or a
    link-local or multicast address (the academy's LAN is fine) unless explicitly allowed —
    in whatever spelling (127.1, 2130706433, [::ffff:127.0.0.1] are this machine too); an IPv4
    address is written as four decimal numbers."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise ValueError("The address is too long")
    try:
        parsed = yarl.URL(url)
        host = parsed.host or ""
        host.encode("idna")
        for label in host.split("."):
            if not label or len(label) > 63:
                raise ValueError(host)
    except (ValueError, UnicodeError) as exc:
        raise ValueError("Not a valid address") from exc
    if parsed.scheme not in ("https", "http") or not host or parsed.user or parsed.password:
        raise ValueError("A webhook address is https://host/path (or http://)")
    if host in allowed_hosts:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError("Not this machine")
    ip, usual = host_address(host)
    if ip is None:
        return url  # a name: its addresses are checked each time it is resolved to send
    if unreachable(ip):
        raise AddressRefused("this_machine", host, ip)
    if not usual:
        raise AddressRefused("unusual_number", host, ip)
    return url


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def unreachable(ip: IPAddress) -> bool:
    """An address webhooks do not go to: this machine, link-local (cloud metadata), multicast,
    unspecified — also as the IPv4 address inside an IPv6 one (mapped, compatible, NAT64,
    6to4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_loopback or ip.is_unspecified:
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _IPV4_COMPATIBLE or ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip in CLOUD_METADATA
    )


# Instance metadata services that are not link-local (AWS's over IPv6).
CLOUD_METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254")})
