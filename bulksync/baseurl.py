"""The API base URL: checked before any request, so that the key never goes where it
should not (not http(s), a user name that would replace it, or plain http across a
network), and the identity of the API host it names."""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from bulksync.apikey import kind_of
from bulksync.errors import ConfigError

DEFAULT_BASE_URL: Final = "https://getnextstep.io/api/v1"

_FIX: Final = f"Fix --base-url or NEXTSTEP_BASE_URL, e.g. {DEFAULT_BASE_URL}."


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """The base URL without a trailing slash.

    ``ConfigError`` if it is not an http(s) URL httpx can send to (a port that is not a
    number, an unclosed ``[``, a control character or space pasted into it, no host), if
    it names a user (httpx would send Basic auth in place of the key), or if it is plain
    http to a host other than this machine (the key would cross the network in clear)
    and that was not allowed.
    """
    text = base_url.strip()
    url = _parse(text)
    if url.scheme not in ("http", "https") or not text.lower().startswith(url.scheme + "://"):
        raise ConfigError(f"The base URL {_shown(text)!r} is not an http(s) URL. {_FIX}")
    if not url.raw_host:
        raise ConfigError(f"The base URL {_shown(text)!r} has no host name. {_FIX}")
    if "@" in urlsplit(text).netloc:
        raise ConfigError(
            "The base URL has a user name (before an @): httpx would log in with it "
            "(HTTP Basic) in place of the API key. Leave it out, as in --base-url "
            f"{_shown(text)}, and give the key with --api-key or NEXTSTEP_API_KEY."
        )
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigError(
            f"The base URL is plain http:// to {url.host}: the API key would cross the "
            "network in clear. Use an https:// URL (--base-url or NEXTSTEP_BASE_URL), or "
            "give --allow-insecure-http if that network is trusted."
        )
    return text.rstrip("/")


def api_host(base_url: str) -> str:
    """The API host that ``base_url`` names, one way however it is spelled.

    The host name lowercased (IDNA-encoded, without a final dot; an IP address in its
    short form, IPv6 in brackets), then ``:port`` unless it is the scheme's default, with
    no user name: ``http://LOCALHOST:08765/api/v1`` is ``localhost:8765``. The locks and
    the "exported from another host" check compare hosts by this text.
    """
    url = httpx.URL(base_url.strip())
    host = url.raw_host.decode("ascii").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        host = f"[{address.compressed}]" if address.version == 6 else address.compressed
    return host if url.port is None else f"{host}:{url.port}"


def same_host(exported_from: str, host: str) -> bool:
    """Whether the host an export recorded (as an older bulksync may have spelled it) is
    ``host`` (as ``api_host`` spells it)."""
    if exported_from == host:
        return True
    # An older export kept the host as typed, and not its scheme: either default port.
    try:
        return host in (api_host(f"http://{exported_from}"), api_host(f"https://{exported_from}"))
    except (httpx.InvalidURL, UnicodeError):
        return False


def _parse(text: str) -> httpx.URL:
    """``text`` as httpx reads it, or ``ConfigError`` saying what is wrong with it."""
    for position, char in enumerate(text, 1):
        if char.isprintable() and not char.isspace():
            continue
        raise ConfigError(
            f"The base URL {_shown(text)!r} has {kind_of(char)} at character {position}; "
            f"a URL has none (was it pasted with it?). {_FIX}"
        )
    try:
        port = urlsplit(text).port
    except ValueError as exc:
        problem = (
            "an IPv6 address with a [ but no closing ] (write it as http://[::1]:8765)"
            if "IPv6" in str(exc)
            else "a port that is not a number from 1 to 65535"
        )
        raise ConfigError(f"The base URL {_shown(text)!r} has {problem}. {_FIX}") from None
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise ConfigError(
            f"The base URL {_shown(text)!r} is not a URL httpx can send to ({exc}). {_FIX}"
        ) from None
    if port == 0:
        raise ConfigError(f"The base URL {_shown(text)!r} has port 0, not 1 to 65535. {_FIX}")
    return url


def _shown(text: str) -> str:
    """``text`` without the user name and password it may carry, to show in a message."""
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or "@" not in parts.netloc:
        return text
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


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
