"""A shard's results as Parquet parts, for shards that run apart from the store.

``mxcensus scan ... --shards N --shard I --parts URI`` (one pod of a Kubernetes Indexed
Job) keeps its results under ``URI/shard-0000I-of-0000N/`` instead of a store:

- ``plan.json``, written first: the plan's fingerprint (:meth:`ScanPlan.fingerprint`), the
  shard's plan and the scan's name. A shard directory holding another plan is refused.
- ``part-000017.parquet``: rows of the store's ``transcripts`` table and, in the file's
  key-value metadata, the checkpoint of every stream of the shard after them (``next``,
  ``pending``), the outcome counts and the fingerprint. A part appears whole or not at all
  (a temporary name, then a rename, on a local or shared filesystem; on an object store a
  PUT is already whole). A retried pod resumes from its last part's checkpoint and numbers
  on, so a target has its result in exactly one part.
- ``_COMPLETE.json``, written last: every part with its row count and sha256, the rows,
  the shard's targets (they must be equal) and its outcomes.

:func:`survey` reads such a tree back for ``mxcensus ingest`` (:mod:`mxcensus.engine.ingest`)
and checks everything that can be checked before the store is touched: one plan for all
shards, markers that match their parts byte for byte, parts that belong to their shard.

The URI is anything ``pyarrow.fs`` understands (a path, ``file://``, ``s3://``, ``gs://``,
``hdfs://`` …). pyarrow is imported when parts are used, never by a scan into the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mxcensus.engine.plan import ScanPlan, Stream
from mxcensus.errors import MxcensusError, PartsError, UsageError
from mxcensus.serialize import TranscriptRow

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from mxcensus.engine.executor import LocalExecutor
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.run import ScanResult

FORMAT = 1
PLAN_FILE = "plan.json"
MARKER = "_COMPLETE.json"
META_KEY = b"mxcensus"
PART_ROWS = 10_000
"""Rows per part at most (~10-20 MB before compression): what a retried pod probes again at
worst is what it had not written yet."""
PART_SECONDS = 30.0
"""A part at least this often while results arrive."""
COLUMNS = ("ip", "port", "protocol", "transport", "observed_at", "outcome", "source", "data")
_SHARD_DIR = re.compile(r"^shard-(\d{5,})-of-(\d{5,})$")
_PART = re.compile(r"^part-(\d{6,})\.parquet$")
_READ = 1 << 20


def shard_dir(shard: int, shards: int) -> str:
    return f"shard-{shard:05d}-of-{shards:05d}"


def part_name(number: int) -> str:
    return f"part-{number:06d}.parquet"


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("ip", pa.string()),
            ("port", pa.int32()),
            ("protocol", pa.string()),
            ("transport", pa.string()),
            ("observed_at", pa.timestamp("us", tz="UTC")),
            ("outcome", pa.string()),
            ("source", pa.string()),
            ("data", pa.string()),
        ]
    )


class Location:
    """``URI`` opened with ``pyarrow.fs``: where parts are written or read."""

    def __init__(self, uri: str, option: str = "--parts") -> None:
        import pyarrow as pa
        import pyarrow.fs as pafs

        self.uri = uri
        self.option = option
        text = uri
        if "://" not in uri and not uri.startswith("file:"):
            text = str(Path(uri).expanduser().absolute())  # pyarrow takes absolute paths only
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OSError) as exc:
            raise UsageError(
                f"{option} {uri}: not a location pyarrow.fs can use ({_line(exc)})"
            ) from None
        self.fs: pafs.FileSystem = fs
        self.root = path.rstrip("/") or "/"
        self.local = fs.type_name == "local"

    def path(self, *names: str) -> str:
        return "/".join((self.root, *names))

    def where(self, *names: str) -> str:
        """A path as the user wrote the URI (for messages)."""
        return "/".join((self.uri.rstrip("/"), *names))

    def listing(self, *names: str) -> dict[str, Any]:
        """Names in a directory -> FileInfo (empty when it does not exist)."""
        import pyarrow.fs as pafs

        try:
            infos = self.fs.get_file_info(
                pafs.FileSelector(self.path(*names), allow_not_found=True)
            )
        except OSError as exc:
            raise PartsError(f"{self.where(*names)}: cannot be listed ({_line(exc)})") from exc
        return {i.base_name: i for i in infos}

    def read(self, *names: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(*names)) as f:
                data: bytes = f.read()
            return data
        except OSError as exc:
            raise PartsError(f"{self.where(*names)}: cannot be read ({_line(exc)})") from exc

    def read_json(self, *names: str) -> dict[str, Any]:
        try:
            doc = orjson.loads(self.read(*names))
        except orjson.JSONDecodeError as exc:
            raise PartsError(f"{self.where(*names)}: not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise PartsError(f"{self.where(*names)}: not an mxcensus parts file (format {FORMAT})")
        return doc

    def put(self, data: bytes, *names: str) -> None:
        """Write a whole file, never a part of one: a temporary name and a rename on a
        filesystem; on an object store a PUT (copy and delete there is no rename)."""
        final = self.path(*names)
        try:
            if self.local:
                tmp = final + ".tmp"
                with self.fs.open_output_stream(tmp) as f:
                    f.write(data)
                self.fs.move(tmp, final)
            else:
                with self.fs.open_output_stream(final) as f:
                    f.write(data)
        except OSError as exc:
            raise PartsError(
                f"{self.option} {self.where(*names)}: cannot be written ({_line(exc)})"
            ) from exc

    def sha256(self, *names: str) -> str:
        digest = hashlib.sha256()
        try:
            with self.fs.open_input_stream(self.path(*names)) as f:
                while chunk := f.read(_READ):
                    digest.update(chunk)
        except OSError as exc:
            raise PartsError(f"{self.where(*names)}: cannot be read ({_line(exc)})") from exc
        return digest.hexdigest()


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


# -- writing (one shard, one process) ------------------------------------------------------


@dataclass
class PartInfo:
    name: str
    rows: int
    sha256: str


class PartsWriter:
    """The :class:`~mxcensus.engine.run.Sink` of one shard writing Parquet parts."""

    def __init__(self, location: Location, plan: ScanPlan, name: str | None) -> None:
        self.loc = location
        self.plan = plan
        self.name = name
        self.dir = shard_dir(plan.index, plan.shards)
        self.fingerprint = plan.fingerprint()
        self.parts: list[PartInfo] = []
        self.checkpoint: dict[str, tuple[int, tuple[int, ...]]] = {}
        self.outcomes: dict[str, int] = {}
        self.rows: list[TranscriptRow] = []
        self.last = time.monotonic()
        self.complete = False

    @classmethod
    def open(
        cls, uri: str, plan: ScanPlan, name: str | None, *, workers_given: bool
    ) -> PartsWriter:
        """The writer of ``plan``'s shard under ``uri``, picking up what an earlier run of
        the same shard wrote. Its ``plan`` has the workers of that run (a checkpoint holds
        for the streams it was made for): an explicit ``--workers`` that differs is refused.
        """
        loc = Location(uri)
        writer = cls(loc, plan, name)
        d = writer.dir
        try:
            loc.fs.create_dir(loc.path(d), recursive=True)
        except OSError as exc:
            raise PartsError(f"--parts {loc.where(d)}: cannot be created ({_line(exc)})") from exc
        found = loc.listing(d)
        if PLAN_FILE in found:
            recorded = loc.read_json(d, PLAN_FILE)
            if recorded.get("fingerprint") != writer.fingerprint:
                raise UsageError(
                    f"--parts {loc.where(d)}: holds parts of another scan plan "
                    f"({describe_difference(recorded.get('plan', {}), plan.to_params())}); give "
                    "this scan a --parts URI of its own"
                )
            workers = int(recorded["plan"]["workers"])
            if workers != plan.workers:
                if workers_given:
                    raise UsageError(
                        f"--workers {plan.workers}: {loc.where(d)} was written by {workers} "
                        f"workers, whose checkpoints hold for {workers} streams only (rerun "
                        f"with --workers {workers})"
                    )
                writer.plan = plan = ScanPlan.from_params({**plan.to_params(), "workers": workers})
            writer.name = recorded.get("name") or name
        else:
            writer._write_plan()
        writer.complete = MARKER in found
        writer._load_parts(found)
        return writer

    def _head(self) -> dict[str, Any]:
        """What plan.json and the marker both begin with: whose shard this is."""
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "name": self.name,
            "shard": self.plan.index,
            "shards": self.plan.shards,
        }

    def _write_plan(self) -> None:
        doc = {
            **self._head(),
            "plan": self.plan.to_params(),
            "created_at": datetime.now(UTC).isoformat(),
        }
        self.loc.put(_json(doc), self.dir, PLAN_FILE)

    def _load_parts(self, found: dict[str, Any]) -> None:
        """The parts an earlier run wrote: their checkpoints and counts."""
        numbered = sorted((int(m[1]), n) for n in found if (m := _PART.match(n)))
        for number, name in numbered:
            if number != len(self.parts):
                raise PartsError(
                    f"{self.loc.where(self.dir, name)}: part {len(self.parts)} is missing "
                    "before it (parts are written in order)"
                )
            meta = read_part_meta(self.loc, self.dir, name, self.fingerprint, self.plan.index)
            self.checkpoint = {k: (int(v[0]), tuple(v[1])) for k, v in meta["checkpoint"].items()}
            for k, v in meta["outcomes"].items():
                self.outcomes[k] = self.outcomes.get(k, 0) + int(v)
            self.parts.append(PartInfo(name, int(meta["rows"]), self.loc.sha256(self.dir, name)))

    # -- the Sink protocol ----------------------------------------------------------------

    def saved(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        return dict(self.checkpoint)

    def kept(self) -> dict[str, int]:
        return dict(self.outcomes)

    def write(
        self, rows: Sequence[TranscriptRow], progress: Sequence[tuple[str, int, Sequence[int]]]
    ) -> None:
        self.rows.extend(rows)
        for key, nxt, pending in progress:
            self.checkpoint[key] = (nxt, tuple(pending))
        if len(self.rows) >= PART_ROWS or (
            self.rows and time.monotonic() - self.last >= PART_SECONDS
        ):
            self.flush()

    # -- parts and the marker -------------------------------------------------------------

    def flush(self) -> None:
        """The rows received so far as the next part, with the checkpoint that counts them."""
        if not self.rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows, self.rows = self.rows, []
        self.last = time.monotonic()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row[5]] = counts.get(row[5], 0) + 1
        name = part_name(len(self.parts))
        meta = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "shard": self.plan.index,
            "part": len(self.parts),
            "rows": len(rows),
            "outcomes": counts,
            "checkpoint": {k: [n, list(p)] for k, (n, p) in self.checkpoint.items()},
        }
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(col, type=t.type) for col, t in zip(columns, _schema(), strict=True)],
            schema=_schema().with_metadata({META_KEY: orjson.dumps(meta)}),
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        self.loc.put(data, self.dir, name)
        self.parts.append(PartInfo(name, len(rows), hashlib.sha256(data).hexdigest()))
        for k, v in counts.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v

    def finish(self, targets: int) -> None:
        """Every stream is done: the last part, then the completion marker. The rows must
        be the shard's targets, one each."""
        self.flush()
        rows = sum(p.rows for p in self.parts)
        if rows != targets:
            raise PartsError(
                f"{self.loc.where(self.dir)}: {rows} results for {targets} targets; the parts "
                "are kept and the marker not written (rerun the shard)"
            )
        doc = {
            **self._head(),
            "targets": targets,
            "rows": rows,
            "outcomes": self.outcomes,
            "parts": [{"name": p.name, "rows": p.rows, "sha256": p.sha256} for p in self.parts],
            "finished_at": datetime.now(UTC).isoformat(),
        }
        self.loc.put(_json(doc), self.dir, MARKER)
        self.complete = True


def read_part_meta(
    loc: Location, directory: str, name: str, fingerprint: str, shard: int
) -> dict[str, Any]:
    """A part's own metadata, checked against the shard it lies in."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = loc.where(directory, name)
    try:
        with loc.fs.open_input_file(loc.path(directory, name)) as f:
            meta = pq.read_metadata(f)
    except (OSError, pa.ArrowException) as exc:
        raise PartsError(f"{where}: not a whole Parquet file ({_line(exc)})") from exc
    raw = (meta.metadata or {}).get(META_KEY)
    try:
        doc = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PartsError(f"{where}: not an mxcensus part (no {META_KEY.decode()} metadata)")
    if doc.get("fingerprint") != fingerprint or doc.get("shard") != shard:
        raise PartsError(
            f"{where}: a part of another scan or shard (shard {doc.get('shard')}, plan "
            f"{str(doc.get('fingerprint'))[:12]} where {shard} and {fingerprint[:12]} belong)"
        )
    if meta.num_rows != doc.get("rows") or [c.name for c in meta.schema] != list(COLUMNS):
        raise PartsError(f"{where}: its rows or columns are not those its metadata names")
    return doc


def describe_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """How two plans' parameters differ, in a few words (the first differences found)."""
    out = []
    for key, what in (
        ("seed", "seed"),
        ("shards", "shards"),
        ("ports", "ports"),
        ("probe_config", "probe settings"),
        ("probe_table", "probe registry"),
    ):
        if a.get(key) != b.get(key):
            out.append(
                f"{what} {_short(a.get(key))} vs {_short(b.get(key))}"
                if key in ("seed", "shards")
                else f"{what} differ"
            )
    if a.get("targets") != b.get("targets"):
        out.append("targets or exclusions differ")
    return ", ".join(out) or "the plans differ"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


# -- reading (ingest) ----------------------------------------------------------------------


@dataclass
class ShardParts:
    """One shard directory as found."""

    index: int
    dir: str
    plan: dict[str, Any] = field(default_factory=dict)  # its plan.json's plan
    fingerprint: str = ""
    marker: dict[str, Any] | None = None  # _COMPLETE.json, None while incomplete


@dataclass
class Survey:
    """A parts tree checked whole: the plan every shard agrees on and each shard found."""

    location: Location
    fingerprint: str
    plan: ScanPlan  # the scan of every shard (shard None), workers as shard 0's
    name: str | None
    shards: dict[int, ShardParts]

    @property
    def complete(self) -> list[ShardParts]:
        return [s for _, s in sorted(self.shards.items()) if s.marker is not None]

    @property
    def incomplete(self) -> list[int]:
        return sorted(i for i, s in self.shards.items() if s.marker is None)

    @property
    def missing(self) -> list[int]:
        return [i for i in range(self.plan.shards) if i not in self.shards]


def survey(uri: str, *, verify: bool = True) -> Survey:
    """Read and check the parts tree at ``uri`` without writing anything.

    Every shard directory must hold the same plan (its fingerprint; the first that
    differs is named); every complete shard's marker must list exactly its part files,
    each whole (sha256, when ``verify``), with its metadata, rows that add up to the
    shard's targets, and nothing else.
    """
    loc = Location(uri, option="ingest")
    entries = loc.listing()
    if not entries and not _exists(loc):
        raise UsageError(f"ingest {uri}: no such directory")
    found: dict[int, ShardParts] = {}
    counts: set[int] = set()
    for name in sorted(entries):
        m = _SHARD_DIR.match(name)
        if m is None:
            continue
        index, shards = int(m[1]), int(m[2])
        counts.add(shards)
        found[index] = ShardParts(index, name)
    if not found:
        raise UsageError(
            f"ingest {uri}: no shard directories here (shard-00000-of-0000N/, written by "
            "scan --shards N --shard I --parts URI)"
        )
    if len(counts) > 1:
        raise PartsError(f"ingest {uri}: shard directories of {sorted(counts)} shards disagree")
    (shards,) = counts
    first: ShardParts | None = None
    for shard in found.values():
        if shard.index >= shards:
            raise PartsError(f"{loc.where(shard.dir)}: shard {shard.index} of {shards}?")
        listing = loc.listing(shard.dir)
        if PLAN_FILE not in listing:
            continue  # a pod that died before it began: incomplete
        doc = loc.read_json(shard.dir, PLAN_FILE)
        shard.plan = doc.get("plan") or {}
        shard.fingerprint = str(doc.get("fingerprint"))
        if doc.get("shard") != shard.index or doc.get("shards") != shards:
            raise PartsError(f"{loc.where(shard.dir, PLAN_FILE)}: names another shard")
        if first is None:
            first = shard
        elif shard.fingerprint != first.fingerprint:
            raise PartsError(
                f"ingest {uri}: shards {first.index} and {shard.index} were run with different "
                f"plans ({describe_difference(first.plan, shard.plan)}); their results cannot "
                "make one scan"
            )
        if MARKER in listing:
            shard.marker = loc.read_json(shard.dir, MARKER)
            _check_shard(loc, shard, listing, verify)
    if first is None:
        raise PartsError(f"ingest {uri}: no shard has begun (no {PLAN_FILE} anywhere)")
    try:
        plan = ScanPlan.from_params({**first.plan, "shard": None})
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise PartsError(f"{loc.where(first.dir, PLAN_FILE)}: an incomplete plan ({exc})") from exc
    if plan.fingerprint() != first.fingerprint:
        raise PartsError(
            f"{loc.where(first.dir, PLAN_FILE)}: its plan does not match its fingerprint"
        )
    names = [s.marker.get("name") for s in found.values() if s.marker and s.marker.get("name")]
    return Survey(loc, first.fingerprint, plan, str(names[0]) if names else None, found)


def _exists(loc: Location) -> bool:
    import pyarrow.fs as pafs

    try:
        return bool(loc.fs.get_file_info(loc.root).type == pafs.FileType.Directory)
    except OSError:
        return False


def _check_shard(loc: Location, shard: ShardParts, listing: dict[str, Any], verify: bool) -> None:
    from mxcensus.engine.run import shard_total

    marker = shard.marker or {}
    where = loc.where(shard.dir, MARKER)
    if marker.get("fingerprint") != shard.fingerprint or marker.get("shard") != shard.index:
        raise PartsError(f"{where}: the marker of another scan or shard")
    parts = marker.get("parts")
    if not isinstance(parts, list):
        raise PartsError(f"{where}: lists no parts")
    listed = [str(p.get("name")) for p in parts]
    on_disk = sorted(n for n in listing if _PART.match(n))
    if sorted(listed) != on_disk:
        extra = sorted(set(on_disk) - set(listed))
        gone = sorted(set(listed) - set(on_disk))
        what = f"{extra[0]} is not in its marker" if extra else f"{gone[0]} is missing"
        raise PartsError(f"{loc.where(shard.dir)}: {what}")
    try:
        plan = ScanPlan.from_params(shard.plan)
        targets = shard_total(plan)
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise PartsError(f"{loc.where(shard.dir, PLAN_FILE)}: an incomplete plan ({exc})") from exc
    rows = 0
    for p in parts:
        name = str(p["name"])
        info = listing[name]
        meta = read_part_meta(loc, shard.dir, name, shard.fingerprint, shard.index)
        if meta["rows"] != p.get("rows"):
            raise PartsError(
                f"{loc.where(shard.dir, name)}: {meta['rows']} rows where its marker says "
                f"{p.get('rows')}"
            )
        if verify and loc.sha256(shard.dir, name) != p.get("sha256"):
            raise PartsError(
                f"{loc.where(shard.dir, name)}: its bytes are not those its marker lists "
                f"(sha256; {info.size} bytes): truncated or replaced"
            )
        rows += int(meta["rows"])
    if not rows == marker.get("rows") == marker.get("targets") == targets:
        raise PartsError(
            f"{where}: {rows} results in its parts for {targets} targets of the shard "
            f"(the marker says {marker.get('rows')} for {marker.get('targets')})"
        )


def read_rows(
    loc: Location, directory: str, name: str, batch: int = 5_000
) -> Iterator[pa.RecordBatch]:
    """A part's rows, a record batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with loc.fs.open_input_file(loc.path(directory, name)) as f:
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch, columns=list(COLUMNS))
    except (OSError, pa.ArrowException) as exc:
        raise PartsError(f"{loc.where(directory, name)}: cannot be read ({_line(exc)})") from exc


def shard_streams(plan: ScanPlan) -> tuple[Stream, ...]:
    """The streams of one pod's shard, each at its share of the Job's totals: ``--rate``,
    ``--concurrency`` and ``--per-net`` are every shard's together."""
    return plan.streams(shards_share=True)


# -- one shard of a Job: scan --shards N --shard I --parts URI ------------------------------


class PartsInterrupted(MxcensusError):
    """Ctrl-C or SIGTERM: the parts written so far stay; the same command goes on."""

    exit_code = 130


@dataclass(frozen=True, slots=True)
class PartsDone:
    plan: ScanPlan  # the shard's plan (its workers as the parts were written)
    where: str  # the shard's directory, as the user wrote the URI
    result: ScanResult  # this run's probing (nothing when the shard was complete)
    parts: int
    rows: int
    already: bool  # the shard was complete before this run


def scan_parts(
    request: ScanRequest,
    uri: str,
    *,
    executor: LocalExecutor | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> PartsDone:
    """Run shard ``request.shard`` of ``request.shards`` on this machine's workers into
    Parquet parts under ``uri``, from where an earlier run of the same shard stopped; the
    completion marker last. Run again on a complete shard, it does nothing."""
    from mxcensus.engine.executor import LocalExecutor
    from mxcensus.engine.run import ScanResult, stream_total
    from mxcensus.engine.session import Started, new_plan
    from mxcensus.model import ScanId

    request.check()
    if request.resume is not None:
        raise UsageError(
            "--parts: a shard's parts are its checkpoint: run the same command again to go on "
            "(--resume is for scans kept in a store)"
        )
    if request.shard is None:
        raise UsageError(
            "--parts: give --shards N --shard I: each process runs one shard (a pod of a "
            "Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX)"
        )
    notify = on_event or (lambda event: None)
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(LocalExecutor())
        plan = new_plan(request, executor=executor)
        writer = PartsWriter.open(
            uri, plan, request.name, workers_given=request.workers is not None
        )
        streams = shard_streams(writer.plan)
        total = sum(stream_total(s) for s in streams)
        scan = ScanId(writer.name or writer.fingerprint[:12])
        where = writer.loc.where(writer.dir)
        if writer.complete:
            executor.close()
            rows = sum(p.rows for p in writer.parts)
            nothing = ScanResult(scan, total, rows, 0, dict(writer.outcomes))
            return PartsDone(writer.plan, where, nothing, len(writer.parts), rows, True)
        notify(Started(scan, total))
        try:
            result = executor.run_streams(writer, scan, streams, notify)
        except KeyboardInterrupt:
            raise PartsInterrupted(
                f"interrupted; the parts written so far stay in {where}: run the same "
                "command again to go on"
            ) from None
        writer.finish(total)
    return PartsDone(
        writer.plan, where, result, len(writer.parts), sum(p.rows for p in writer.parts), False
    )
