"""Watched drop folders, one per feed: ``<root>/<feed>/`` (``<data_dir>/inbox/<feed>/``).

An agency drops a file into its feed's folder; the watcher ingests it and moves it to
``<feed>/done/`` or, when the file was rejected as a whole, to ``<feed>/failed/``, with its
receipt beside it as ``<name>.receipt.json``. A name already taken there (the same file
delivered again) gets ``~2``, ``~3``... before its extensions.

**Agencies: write to a temporary name, then rename.** Write ``tax_202610.csv.part`` (or
``.tmp``, or a dot-file) and rename it to ``tax_202610.csv`` when it is complete: a rename within
one folder is atomic, and names ending in ``.part`` / ``.tmp`` and dot-files are never read.
For writers that cannot rename, a file is taken only once its size and modification time have
stayed the same for ``settle_s`` seconds of watching; a writer that stalls longer than that
mid-file would have its half file taken, which is why the rename is the rule.

Polling, not the ``watchdog`` package: a scan of five small folders a second costs nothing,
works the same on every OS and on network shares (where inotify and friends see no remote
writes), and the settle rule needs the watcher to look at sizes over time anyway — an event
feed would only tell it *when* to look. It also keeps one dependency fewer.

Crash safety: a file leaves the feed folder only after :meth:`Ingestor.ingest` returned its
receipt, which it does only once every record is acknowledged by the broker and archived.
A crash mid-file leaves the file where it was; on restart it is ingested again, and the
archive's event-id dedupe publishes only what was not yet published (a batch in flight at the
crash may be published a second time with the same event ids, see :mod:`connectors.ingest`).
A file that fails for another reason (the broker down past the publisher's patience) stays
too, and is tried again with a growing delay.

Run one watcher per inbox root: two would ingest the same files (harmlessly, by the dedupe,
but twice the work) and race to move them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from connectors.ingest import Ingestor, Receipt
from connectors.readers import FeedFileRejected, feed_from_name
from pensionx.core.codes import Feed
from pensionx.logs import get_logger
from pensionx.metrics import METRICS

log = get_logger(__name__)

DONE = "done"
FAILED = "failed"
RECEIPT_SUFFIX = ".receipt.json"
WRONG_FOLDER = "WRONG_FOLDER"
_IGNORED_SUFFIXES = (".part", ".tmp", RECEIPT_SUFFIX)
_FIRST_RETRY_S = 5.0
_MAX_RETRY_S = 300.0
_HASH_CHUNK = 1024 * 1024


def is_ignored(name: str) -> bool:
    """Names a writer uses while a file is not complete yet, and our own receipts."""
    return name.startswith(".") or name.lower().endswith(_IGNORED_SUFFIXES)


@dataclass
class _Sighting:
    """What a file looked like when first seen so, and when: it is settled once unchanged."""

    size: int
    mtime_ns: int
    since: float
    failures: int = 0
    retry_at: float = 0.0


class Inbox:
    """The drop folders under ``root``, scanned every ``poll_s`` seconds by :meth:`run`.

    ``clock`` is the watcher's monotonic clock (a fake one in tests, so nothing sleeps).
    """

    def __init__(
        self,
        root: Path,
        ingestor: Ingestor,
        *,
        settle_s: float = 2.0,
        poll_s: float = 1.0,
        feeds: Iterable[Feed] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root)
        self.ingestor = ingestor
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.feeds = tuple(Feed) if feeds is None else tuple(feeds)
        self.clock = clock
        self._sightings: dict[Path, _Sighting] = {}

    def folder(self, feed: Feed) -> Path:
        return self.root / feed.value

    def prepare(self) -> list[Path]:
        """Create every feed's folder with its ``done/`` and ``failed/``; return the folders."""
        folders = []
        for feed in self.feeds:
            for sub in (DONE, FAILED):
                (self.folder(feed) / sub).mkdir(parents=True, exist_ok=True)
            folders.append(self.folder(feed))
        return folders

    def scan_once(self) -> list[Receipt]:
        """Look at every folder once; ingest the files that have settled, oldest first."""
        self.prepare()
        now = self.clock()
        ready: list[tuple[int, str, Feed, Path]] = []
        present: set[Path] = set()
        for feed in self.feeds:
            for path, size, mtime_ns in _files(self.folder(feed)):
                present.add(path)
                if self._settled(path, size, mtime_ns, now):
                    ready.append((mtime_ns, path.name, feed, path))
        for gone in self._sightings.keys() - present:
            del self._sightings[gone]
        receipts = []
        for _, _, feed, path in sorted(ready):
            receipt = self._take(feed, path)
            if receipt is not None:
                METRICS.count_receipt(receipt)
                receipts.append(receipt)
        return receipts

    def drain(self) -> list[Receipt]:
        """Ingest what is in the folders now (``pensionx inbox --once``): look, wait, take."""
        receipts = self.scan_once()
        time.sleep(self.settle_s)
        return receipts + self.scan_once()

    def run(self, stop_event: threading.Event) -> None:
        """Scan until ``stop_event`` is set; a file being ingested is finished first."""
        log.info("watching drop folders", root=str(self.root), settle_s=self.settle_s)
        while not stop_event.is_set():
            try:
                self.scan_once()
            except OSError as exc:
                # A folder removed or unreadable for a moment must not end the watcher.
                log.error("scanning the drop folders failed", root=str(self.root), error=repr(exc))
            stop_event.wait(self.poll_s)
        log.info("stopped watching drop folders", root=str(self.root))

    # --- one file ---------------------------------------------------------------------------

    def _settled(self, path: Path, size: int, mtime_ns: int, now: float) -> bool:
        seen = self._sightings.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (size, mtime_ns):
            self._sightings[path] = _Sighting(size, mtime_ns, now)
            return False
        return now - seen.since >= self.settle_s and now >= seen.retry_at

    def _take(self, feed: Feed, path: Path) -> Receipt | None:
        """Ingest one settled file and move it away; None when it stays for another try."""
        bound = log.bind(feed=feed.value, file=path.name)
        named = _named_feed(path.name)
        if named is not None and named is not feed:
            receipt = self._wrong_folder(feed, named, path)
        else:
            try:
                receipt = self.ingestor.ingest(path, uploader=f"inbox:{feed.value}")
            except Exception as exc:  # noqa: BLE001 - the file stays; anything is "try again"
                self._postpone(path)
                bound.error(
                    "file not ingested, it stays in the inbox",
                    error=f"{exc.__class__.__name__}: {exc}",
                    retry_in_s=self._sightings[path].retry_at - self.clock(),
                )
                return None
        if self._changed_since_sighting(path):
            # Rewritten in place while we read it: what we ingested is not what is there now.
            bound.warning("file changed while being ingested; it will be taken again")
            return None
        outcome = DONE if receipt.ok else FAILED
        try:
            moved_to = _move_with_receipt(path, self.folder(feed) / outcome, receipt)
        except OSError as exc:
            # Ingested, but it cannot be moved (permissions, a full disk): taking it again later
            # publishes nothing new, so leave it and say so rather than stop the watcher.
            self._postpone(path)
            bound.error("file ingested but not moved; it stays in the inbox", error=repr(exc))
            return None
        self._sightings.pop(path, None)
        bound.info("file taken from the inbox", outcome=outcome, moved_to=moved_to.name)
        return receipt

    def _postpone(self, path: Path) -> None:
        seen = self._sightings[path]
        seen.failures += 1
        delay = min(_FIRST_RETRY_S * 2 ** (seen.failures - 1), _MAX_RETRY_S)
        seen.retry_at = self.clock() + delay

    def _changed_since_sighting(self, path: Path) -> bool:
        seen = self._sightings.get(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            return True
        return seen is None or (seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns)

    def _wrong_folder(self, folder_feed: Feed, named: Feed, path: Path) -> Receipt:
        """The receipt of a file whose name says another feed than the folder it is in.

        Not ingested: a folder is an agency's door (its write permission is the agency's), so
        a tax file in the commerce folder is either a mistake or the wrong agency writing.
        """
        target = self.folder(named)
        reason = (
            f"file [{WRONG_FOLDER}] the file name says feed {named.value} but it was dropped "
            f"into the {folder_feed.value} folder; nothing in it was read. Drop it into "
            f"{target}/ instead (文件名表明属于 {named.value}，却放入了 {folder_feed.value} "
            "目录；未读取任何记录，请放入正确的目录)"
        )
        log.warning(
            "file in the wrong drop folder",
            folder=folder_feed.value,
            named_feed=named.value,
            file=path.name,
        )
        return Receipt(
            file_name=path.name,
            feed=folder_feed.value,
            sha256=_sha256(path),
            uploader=f"inbox:{folder_feed.value}",
            received_at=self.ingestor.clock(),
            rejected=(
                f"the file name says feed {named.value} but it was dropped into the "
                f"{folder_feed.value} folder: drop it into {target}/"
            ),
            first_reasons=[reason],
        )


def _files(folder: Path) -> list[tuple[Path, int, int]]:
    """The candidate files directly in ``folder``: path, size, mtime (ns)."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_ignored(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:  # renamed or removed between listing and looking
                continue
            found.append((Path(entry.path), st.st_size, st.st_mtime_ns))
    return found


def _named_feed(name: str) -> Feed | None:
    try:
        return feed_from_name(name)
    except FeedFileRejected:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem~N.ext`` when that (or its receipt) is taken."""
    dot = name.find(".", 1)
    stem, extensions = (name, "") if dot < 0 else (name[:dot], name[dot:])
    candidate, n = folder / name, 1
    while candidate.exists() or (folder / (candidate.name + RECEIPT_SUFFIX)).exists():
        n += 1
        candidate = folder / f"{stem}~{n}{extensions}"
    return candidate


def _move_with_receipt(path: Path, folder: Path, receipt: Receipt) -> Path:
    """Write the receipt, then move the file beside it; returns where the file went.

    Receipt first: a crash in between leaves the file in the inbox, to be taken again (and
    given a new receipt), rather than a file in ``done/`` with no receipt.
    """
    target = _free_name(folder, path.name)
    receipt_path = folder / (target.name + RECEIPT_SUFFIX)
    tmp = folder / ("." + receipt_path.name + ".tmp")
    tmp.write_text(json.dumps(receipt.to_json(), ensure_ascii=False, indent=2) + "\n", "utf-8")
    os.replace(tmp, receipt_path)
    os.replace(path, target)
    return target
