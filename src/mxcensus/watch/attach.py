"""The Shadowserver-format CSV attachments of a run's notifications, in one pass.

The rows come from the one Shadowserver writer of ``export/shadowserver.py``
(:func:`shadow_records`, its columns per report type, ``export/safe.py``'s neutralised CSV),
through :func:`shadowserver_files` alone: a change to that writer (file naming, columns)
reaches the attachments here and nowhere else.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping

from mxcensus.model import ScanId
from mxcensus.store.db import Store
from mxcensus.watch.messages import Attachment


def shadowserver_files(
    store: Store,
    scan: ScanId,
    wanted: Mapping[tuple[str, int], set[str]],
    owners: Mapping[str, str],
    day: str,
) -> dict[str, list[Attachment]]:
    """Per ticket: one CSV per Shadowserver report type holding the ticket's services.

    ``wanted`` maps (ip, port) to the tickets that name that service; ``owners`` a ticket
    to its contact (the owner part of the file name). The scan is read once, streamed."""
    from mxcensus.export.safe import write_csv
    from mxcensus.export.shadowserver import REPORTS, columns_for, file_name, shadow_records

    rows: dict[tuple[str, str], list[tuple[object, ...]]] = defaultdict(list)
    if wanted:
        for r in shadow_records(store, scan, at_risk_only=False):
            if r.report_type not in REPORTS:
                continue  # no Shadowserver report (ManageSieve): the message body lists it
            for ticket in wanted.get((r.ip, int(r.values["port"])), ()):
                rows[(ticket, r.report_type)].append(r.row(columns_for(r.report_type)))
    out: dict[str, list[Attachment]] = defaultdict(list)
    for (ticket, rtype), found in sorted(rows.items()):
        buf = io.BytesIO()
        write_csv(buf, columns_for(rtype), found)
        name = file_name(day, rtype, owners[ticket], "watch")
        out[ticket].append(Attachment(name, "text/csv", buf.getvalue()))
    return dict(out)
