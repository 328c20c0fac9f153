"""The UI's commands: ``run`` (the UI on the configured site) and ``demo`` (a simulated
hospital on loopback); Textual is imported only here, and only when they run."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pacs_tui.cli_common import EXIT_USAGE, _err, _load, log
from pacs_tui.config import default_log_dir
from pacs_tui.logs import setup_logging

if TYPE_CHECKING:
    from pacs_tui.collector_client import RemoteView
    from pacs_tui.demo.archive import DemoArchive
    from pacs_tui.demo.audit_feed import DemoAuditFeed
    from pacs_tui.demo.backups import DemoBackups
    from pacs_tui.demo.dicom_nodes import DemoDicomSite
    from pacs_tui.demo.hl7_feed import DemoHl7Feed
    from pacs_tui.engine import Engine


def _ui_log_file() -> Path:
    return default_log_dir() / "pacs-tui.log"


def cmd_run(args: argparse.Namespace) -> int:
    attach: Path | None = getattr(args, "attach", None)
    config = _load(args) if attach is None else None
    if config is None and attach is None:
        return EXIT_USAGE
    log_file = setup_logging(args.log_level, file=_ui_log_file())

    async def build() -> Engine | RemoteView:
        from pacs_tui.collector_client import NoCollector, RemoteView

        if attach is not None:  # that collector or nothing
            return await RemoteView.attach(attach)
        assert config is not None
        try:
            return await RemoteView.attach(config.socket_path)
        except NoCollector:
            # No collector runs for this site: the UI runs the engine itself. (One that holds
            # the history without its socket is stopped by the history's lock, in words.)
            from pacs_tui.engine import engine_with_history

            log.info("no collector at %s: running the engine in the UI", config.socket_path)
            return engine_with_history(config)

    return _run_app(build, demo=False, ansi=args.ansi, wall=args.wall, log_file=log_file)


def cmd_demo(args: argparse.Namespace) -> int:
    log_file = setup_logging(args.log_level, file=_ui_log_file())
    from pacs_tui.engine import engine_with_history

    sites: list[DemoDicomSite | DemoHl7Feed | DemoArchive | DemoAuditFeed | DemoBackups] = []
    with tempfile.TemporaryDirectory(prefix="pacs-tui-demo-") as tmp:
        history = args.history or Path(tmp) / "demo-history.sqlite"

        async def build() -> Engine:
            # Imported here, after the first frame: pynetdicom alone costs ~120 ms to import.
            from pacs_tui.demo.archive import DemoArchive
            from pacs_tui.demo.audit_feed import DemoAuditFeed
            from pacs_tui.demo.backups import DemoBackups
            from pacs_tui.demo.dicom_nodes import DemoDicomSite
            from pacs_tui.demo.hl7_feed import DemoHl7Feed
            from pacs_tui.demo.site import demo_config

            site = DemoDicomSite()
            sites.append(site)
            nodes = await asyncio.to_thread(site.start)
            feed = DemoHl7Feed()
            sites.append(feed)
            ports = await asyncio.to_thread(feed.start)
            log.info("demo site started: %d DICOM nodes and an HL7 feed on loopback", len(nodes))
            hl7 = (*ports, Path(tmp))
            archive = DemoArchive(Path(tmp) / "archive")
            sites.append(archive)
            folder = await asyncio.to_thread(archive.start)
            audit = DemoAuditFeed()
            sites.append(audit)
            audit_port = await asyncio.to_thread(audit.start)
            backups = DemoBackups(Path(tmp) / "backups")
            sites.append(backups)
            backup_paths = await asyncio.to_thread(backups.start)
            config = demo_config(
                nodes, history, hl7=hl7, archive=folder, audit=audit_port, backups=backup_paths
            )
            return engine_with_history(config)

        def cleanup() -> None:
            for site in sites:
                site.stop()
            shutil.rmtree(tmp, ignore_errors=True)

        try:
            return _run_app(
                build,
                demo=True,
                ansi=args.ansi,
                wall=args.wall,
                log_file=log_file,
                cleanup=cleanup,
            )
        finally:
            for site in sites:
                site.stop()


def _run_app(
    build: Callable[[], Awaitable[Engine | RemoteView]],
    *,
    demo: bool,
    ansi: bool,
    log_file: Path | None,
    wall: bool = False,
    cleanup: Callable[[], None] | None = None,
) -> int:
    from pacs_tui.app import PacsApp

    app = PacsApp(build, demo=demo, ansi=ansi, wall=wall)
    if cleanup is not None:
        app.hang_up_cleanups.append(cleanup)
    app.run()
    if app.start_error is not None:
        _err(f"pacs-tui: {app.start_what}: {app.start_error}")
        return 1
    if app.stop_error is not None:
        _err(f"pacs-tui: the history was not fully written at quit: {app.stop_error}")
        return 1
    if log_file is not None and app.return_code not in (0, None):
        _err(f"pacs-tui: the UI stopped with an error; see {log_file}")
    return app.return_code or 0
