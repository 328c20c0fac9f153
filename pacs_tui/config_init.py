"""Write a commented starter config with tomlkit, so comments survive later edits by the program."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import tomlkit

from pacs_tui.private_paths import file_kind, make_private_dirs


def starter_document(site_name: str = "My Hospital") -> tomlkit.TOMLDocument:
    """A valid config with each registered source's commented example and every key
    explained."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("pacs-tui configuration. Check it with: pacs-tui config check"))
    doc.add(tomlkit.comment("Durations: 500ms, 30s, 5m, 1h, 2d. Unknown keys are errors."))
    doc.add(tomlkit.nl())

    site = tomlkit.table()
    site.add("name", site_name)
    site["name"].comment("shown in the header and in status --json")
    site.add("timezone", "UTC")
    site["timezone"].comment("IANA zone used to show times")
    doc.add("site", site)

    history = tomlkit.table()
    history.add(
        tomlkit.comment('path = "/var/lib/pacs-tui/history.sqlite"  # default: XDG state dir')
    )
    history.add(tomlkit.comment("A year of 1,000 targets x 4 metrics at 30 s: ~1.4 GiB (README)."))
    history.add("raw_retention", "24h")
    history.add("five_minute_retention", "35d")
    history.add("hour_retention", "400d")
    history.add("event_retention", "400d")
    history.add("message_retention", "14d")
    history["message_retention"].comment("the HL7 and audit message log")
    doc.add("history", history)

    collector = tomlkit.table()
    collector.add(tomlkit.comment("Where `pacs-tui collect` serves the UIs that attach to it."))
    collector.add(
        tomlkit.comment(
            'socket = "/run/pacs-tui/collector.sock"  # default: beside the history, named after it'
        )
    )
    collector.add(
        tomlkit.comment('group = "pacsadmins"  # its members may attach too (default: none)')
    )
    doc.add("collector", collector)

    from pacs_tui.probes import SOURCES

    for source in SOURCES:
        doc.add(tomlkit.nl())
        items = source.example()
        if not items:  # it names entries of other sections: nothing to write before they exist
            doc.add(tomlkit.comment(f"-- {source.title}: {source.entry}: see the README --"))
            continue
        doc.add(tomlkit.comment(f"-- {source.title}: {source.entry} (delete if unused) --"))
        for key, item in items:
            doc.add(key, item)
    return doc


class RefusedDestination(FileExistsError):
    """The destination is something we must not write through (a link, a device, a folder)."""


def write_starter(path: Path, *, force: bool = False) -> Path:
    """Write the starter config to ``path``, atomically: mode 0600, missing folders 0700.

    Never writes through what is at ``path``: a symbolic link or a non-regular file there is
    refused (with ``force`` too); a regular file is replaced only with ``force``, by renaming a
    new 0600 file over it, so a loose mode does not survive and a crash leaves old or new.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if stat.S_ISLNK(mode):
            raise RefusedDestination(
                f"{path} is a symbolic link; refusing to write through it (give the real path)"
            )
        if kind := file_kind(mode):
            raise RefusedDestination(f"{path} exists and is not a regular file ({kind})")
        if not force:
            raise FileExistsError(f"{path} already exists (use --force to overwrite)")
    make_private_dirs(path.parent)
    data = tomlkit.dumps(starter_document()).encode("utf-8")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)  # a link put there meanwhile is replaced, never followed
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
    return path
