from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from mxcensus import kb
from mxcensus.assess import clear_cache
from mxcensus.model import Outcome, Step, Transcript, Transport


@pytest.fixture(autouse=True, scope="session")
def shipped_knowledge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Assess against the shipped knowledge only (no user KEV catalog of this machine)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MXCENSUS_DATA_DIR", str(tmp_path_factory.mktemp("userdata")))
        clear_cache()
        yield
    clear_cache()
    kb.reset()


MakeTranscript = Callable[..., Transcript]


@pytest.fixture
def smtp() -> MakeTranscript:
    def make(
        banner: bytes = b"220 mx.example.org ESMTP Exim 4.96 Mon, 23 Nov 2026 10:00:00 +0000\r\n",
        ehlo: bytes = (
            b"250-mx.example.org Hello\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250 HELP\r\n"
        ),
        when: datetime = datetime(2026, 9, 1, tzinfo=UTC),
        transport: Transport = Transport.PLAIN,
    ) -> Transcript:
        return Transcript(
            ip="127.0.0.1",
            port=25,
            protocol="smtp",
            transport=transport,
            observed_at=when,
            outcome=Outcome.OK,
            steps=(
                Step(name="greeting", received=banner, code=220),
                Step(name="ehlo", sent=b"EHLO scanner.example\r\n", received=ehlo, code=250),
            ),
        )

    return make
