"""The API base URL: checked before any request, so that the key never goes where it
should not (not http(s), or plain http across a network)."""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from bulksync.errors import ConfigError

DEFAULT_BASE_URL: Final = "https://getnextstep.io/api/v1"


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """The base URL without a trailing slash.

    ``ConfigError`` if it is not http(s), or if it is plain http to a host other than
    this machine (the key would cross the network in clear) and that was not allowed.
    """
    parts = urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"The base URL {base_url!r} is not an http(s) URL. "
            f"Use --base-url or NEXTSTEP_BASE_URL, e.g. {DEFAULT_BASE_URL}."
        )
    if scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ConfigError(
            f"The base URL is plain http:// to {parts.hostname}: the API key would cross the "
            "network in clear. Use an https:// URL (--base-url or NEXTSTEP_BASE_URL), or "
            "give --allow-insecure-http if that network is trusted."
        )
    return base_url.strip().rstrip("/")


def is_loopback(host: str | None) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: a host whose traffic never leaves the machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
