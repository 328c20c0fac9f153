"""A bounded HTTP GET for the sources that read another server's page (a node_exporter's
``/metrics``, an archive's ``/statistics``): blocking (call it in a thread), with a deadline
and a size bound, every failure said in words (:class:`HttpError`), never a traceback."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pacs_tui.visible import visible


class HttpError(Exception):
    """Why a page could not be read, in words; ``status`` is the HTTP status when one came."""

    def __init__(self, words: str, status: int | None = None) -> None:
        super().__init__(words)
        self.status = status


def get_bounded(
    url: str, *, timeout: float, limit: int, headers: Mapping[str, str] | None = None
) -> bytes:
    """The body of ``GET url``, at most ``limit`` bytes (more is an error: the page is not what
    was expected), within ``timeout`` seconds for the connection and each read."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = bytes(answer.read(limit + 1))
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code} {visible(str(exc.reason), 60)}", exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(reason):
            # The classic: https:// to a port that speaks plain HTTP.
            no_tls = "cannot reach it: no TLS on that port (http://, not https://?)"
            raise HttpError(no_tls) from None
        words = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise HttpError(f"cannot reach it: {visible(str(words), 120)}") from None
    except TimeoutError:
        raise HttpError(f"no answer within {timeout:g} s") from None
    except OSError as exc:
        raise HttpError(f"cannot reach it: {visible(exc.strerror or str(exc), 120)}") from None
    if len(body) > limit:
        size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
        raise HttpError(f"its answer is over {size}: not read")
    return body


def hide_credentials(value: Any) -> Any:
    """A URL as it may be shown: ``user:password@`` replaced by ``•••@``."""
    if not isinstance(value, str) or "@" not in value:
        return value
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    netloc, slash, path = rest.partition("/")
    _, _, host = netloc.rpartition("@")
    return f"{scheme}://•••@{host}{slash}{path}"


def http_url(value: Any) -> str:
    """A config converter: an http:// or https:// URL with a host, a port in range and no
    ``user:password@`` (ValueError otherwise, which the config reader turns into words)."""
    if not isinstance(value, str) or len(value) > 2048 or any(c.isspace() for c in value):
        raise ValueError
    parts = urlsplit(value)
    _ = parts.port  # a port out of range raises ValueError here, not later
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ValueError
    return value
