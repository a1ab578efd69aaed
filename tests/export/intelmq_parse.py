"""Parse CSV files with IntelMQ's own Shadowserver parser bot; print what it made of them.

Run by ``test_intelmq.py`` with the Python of IntelMQ's own virtualenv (never mxcensus's:
IntelMQ imports ``pkg_resources`` and is AGPL), as

    python intelmq_parse.py SCHEMA.json FILE.csv ...

Each file becomes the report IntelMQ's File collector would make of it (the bytes, base64,
and ``extra.file_name`` = the file's name, from which the parser detects the report type;
no ``feed.name``). The schema is installed where the parser reads it
(``$INTELMQ_ROOT_DIR/var/lib/bots/shadowserver-schema.json``), so nothing is downloaded.
The bot runs through IntelMQ's test machinery (``BotTestCase``: the bot's log captured at
DEBUG, ``Bot.start`` as in a pipeline). Its ``setUpClass`` refuses root by calling
``utils.drop_privileges``; that one function is replaced while the class is set up (it
changes the uid and gid, which parsing never reads).

Output: one JSON object per file: ``file``, ``rows`` (CSV data rows), ``events`` (each a
flat dict, ``extra`` as ``extra.KEY``, ``raw`` dropped), and the log records at WARNING and
above (``problems``) and the values IntelMQ refused into ``extra`` (``refused``).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

_RECORD = re.compile(r" - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - (.*)$")
_REFUSED = re.compile(r"Could not add key '([^']*)'")


def _log(text: str) -> tuple[list[str], list[str]]:
    """Problems (WARNING and above, each with the last line of its traceback, if any) and
    the keys whose values IntelMQ refused into ``extra`` (logged at DEBUG)."""
    records: list[list[str]] = []  # [level, message, last traceback line]
    for line in text.splitlines():
        m = _RECORD.search(line)
        if m is not None:
            records.append([m.group(1), m.group(2), ""])
        elif records and line.strip():
            records[-1][2] = line.strip()
    problems = [
        f"{level}: {message} {tail}".strip()
        for level, message, tail in records
        if level in ("WARNING", "ERROR", "CRITICAL")
    ]
    refused = [r.group(1) for _, message, _ in records if (r := _REFUSED.search(message))]
    return problems, refused


def _flat(event: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in event.items() if k not in ("extra", "raw")}
    extra = event.get("extra")
    if isinstance(extra, str):
        extra = json.loads(extra)
    out.update((f"extra.{k}", v) for k, v in (extra or {}).items())
    return out


def main(schema: Path, files: list[Path]) -> list[dict[str, Any]]:
    import intelmq.lib.test as itest
    import intelmq.lib.utils as iutils
    from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot

    class Parse(itest.BotTestCase, unittest.TestCase):  # type: ignore[misc]
        @classmethod
        def set_bot(cls) -> None:
            cls.bot_reference = ShadowserverParserBot

        def runTest(self) -> None:
            """Never run: the class is used for its machinery."""

    with mock.patch.object(iutils, "drop_privileges", lambda: True):
        Parse.setUpClass()
    results = []
    for path in files:
        data = path.read_bytes()
        case = Parse()
        case.input_message = {
            "__type": "Report",
            "raw": base64.b64encode(data).decode("ascii"),
            "extra.file_name": path.name,
            "feed.url": f"file://localhost{path}",
        }
        case.prepare_bot(parameters={"auto_update": False, "test_mode": False})
        with (
            mock.patch("intelmq.lib.utils.load_configuration", new=case.mocked_config),
            mock.patch("intelmq.lib.utils.log", case.get_mocked_logger(case.logger)),
        ):
            case.bot.start(
                error_on_pipeline=False, source_pipeline=case.pipe, destination_pipeline=case.pipe
            )
            case.bot.stop(exitcode=0)
        problems, refused = _log(case.log_stream.getvalue())
        rows = sum(1 for row in csv.reader(io.StringIO(data.decode("utf-8"))) if row) - 1
        events = [_flat(json.loads(e)) for e in case.get_output_queue()]
        result = {"file": path.name, "rows": rows, "events": events}
        results.append({**result, "problems": problems, "refused": sorted(set(refused))})
    return results


if __name__ == "__main__":
    schema, *names = (Path(a).resolve() for a in sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="intelmq-") as root:
        state = Path(root, "var", "lib", "bots")
        state.mkdir(parents=True)
        (state / "shadowserver-schema.json").write_bytes(schema.read_bytes())
        Path(root, "var", "log").mkdir(parents=True)
        os.environ["INTELMQ_ROOT_DIR"] = root  # read once, when intelmq is first imported
        import intelmq

        if not intelmq.VAR_STATE_PATH.startswith(root):
            sys.exit(f"intelmq reads its state from {intelmq.VAR_STATE_PATH}, not {root}")
        json.dump(main(schema, names), sys.stdout)
