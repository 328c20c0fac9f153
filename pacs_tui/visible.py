"""Show a string that did not come from our own code without letting it act on the terminal.

Peer AE titles, UIDs, implementation version names, reject texts, reasons that embed peer data,
config descriptions, site names, file names, HL7 and syslog fields: any of them may carry an
escape sequence (``ESC ] 52`` writes the clipboard of the admin's terminal, ``ESC [ 2 J`` wipes
the screen, ``CSI`` as the single byte ``0x9b`` does the same on some terminals), a newline that
forges a log line, or a bidi override that makes ``gpj.exe`` read ``exe.jpg``. :func:`visible`
turns every such character into something printable and unambiguous:

- C0 controls (U+0000 to U+001F) become their Unicode *Control Pictures*: ESC is ``␛``, NUL ``␀``,
  newline ``␊``, tab ``␉``; DEL (U+007F) is ``␡``;
- C1 controls (U+0080 to U+009F) become ``\\x9b``-style escapes (there are no pictures for them);
- invisible format characters that can spoof text (zero-width space/joiners, LRM/RLM, the bidi
  embeddings, overrides and isolates, the byte order mark, the line/paragraph separators) and
  lone surrogates (an undecodable byte of a file name read with ``surrogateescape``) become
  ``\\u202e``-style escapes.

Everything else (letters with accents, CJK, symbols, emoji) is unchanged, and so is a string
that is already visible: ``visible(visible(s)) == visible(s)``.

The result is plain text, **not markup**: the UI shows it as ``rich.text.Text`` (or a widget
with ``markup=False``), never through Rich/Textual markup, so ``"[/]"`` or ``"[bold]"`` in a
peer's string prints as it is.

:func:`host_port` is the one way an address is written (``10.0.0.5:104``, ``[::1]:104``).

Nothing here imports Textual or Rich: the engine, the probes, the config and the CLI use it too.
"""

from __future__ import annotations

#: Marks a string cut short by ``limit``.
ELLIPSIS = "…"
#: A sensible ``limit`` for free text shown in full (a reason, an event summary, a description).
TEXT_LIMIT = 500
#: A sensible ``limit`` for one value (an AE title, a UID, a version name, a host name: 253).
VALUE_LIMIT = 256


def _table() -> dict[int, str]:
    table: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20)}  # ␀ … ␟
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = f"\\x{code:02x}"
    invisible = [
        0x061C,  # ARABIC LETTER MARK (a bidi mark)
        *range(0x200B, 0x2010),  # zero-width space, ZWNJ, ZWJ, LRM, RLM
        0x2028,  # LINE SEPARATOR
        0x2029,  # PARAGRAPH SEPARATOR
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        *range(0x2060, 0x2065),  # word joiner, invisible operators
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        0xFEFF,  # zero-width no-break space / byte order mark
        *range(0xD800, 0xE000),  # lone surrogates (surrogateescape'd bytes); unprintable
    ]
    for code in invisible:
        table[code] = f"\\u{code:04x}"
    return table


#: ``str.translate`` table: every character made visible, mapped to what stands for it.
_VISIBLE: dict[int, str] = _table()


def visible(text: object, limit: int | None = None) -> str:
    """``text`` with its control and invisible format characters made visible (see the module).

    ``text`` is usually a ``str``; anything else is shown as ``str(text)``. With ``limit``, the
    result is at most ``limit`` characters: a longer one is cut, at a character boundary of the
    result (never inside a ``\\x9b`` escape), and ends with ``"…"``. Only the first ``limit``
    characters of the input are ever looked at, so a 60 kB string costs nothing more than a
    short one.
    """
    raw = text if isinstance(text, str) else str(text)
    if limit is None:
        return raw.translate(_VISIBLE)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")
    # Every character becomes at least one: the first limit + 1 of the input decide the result.
    head = raw[: limit + 1]
    shown = head.translate(_VISIBLE)
    if len(shown) <= limit:
        return shown
    room = limit - len(ELLIPSIS)
    out: list[str] = []
    used = 0
    for char in head:
        piece = _VISIBLE.get(ord(char), char)
        if used + len(piece) > room:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def visible_lines(text: object, limit: int | None = None) -> str:
    """:func:`visible` line by line: the line breaks (``\\n``) of a text of several lines (a
    traceback, a list of config errors) stay, everything else is made visible. With ``limit``,
    each line is cut to at most ``limit`` characters."""
    raw = text if isinstance(text, str) else str(text)
    return "\n".join(visible(line, limit) for line in raw.split("\n"))


def host_port(host: object, port: object = None) -> str:
    """``host:port`` as people and URLs write it: an IPv6 address in brackets (``[::1]:104``,
    ``[fe80::1%eth0]:11112``), the host alone when there is no port. Made :func:`visible`."""
    name = visible(host, VALUE_LIMIT)
    if port is None or port == "":
        return name
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"{name}:{visible(port, 16)}"
