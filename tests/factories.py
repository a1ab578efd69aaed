"""Records built by hand for tests that need a transcript, not a server."""

from __future__ import annotations

from datetime import UTC, datetime

from mxcensus.model import Outcome, Step, Transcript, Transport

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def smtp_transcript(
    banner: bytes = b"220 x ESMTP\r\n", *, ip: str = "127.0.0.1", port: int = 25
) -> Transcript:
    """A plain SMTP service that answered with ``banner`` and nothing else."""
    return Transcript(
        ip=ip,
        port=port,
        protocol="smtp",
        transport=Transport.PLAIN,
        observed_at=NOW,
        outcome=Outcome.OK,
        steps=(Step("greeting", received=banner, code=220),),
    )
