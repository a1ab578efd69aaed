"""A tiny SMTP-ish probe for engine tests (until the real probes land): greeting, QUIT."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from mxcensus.model import Outcome, Step, Transcript, Transport
from mxcensus.probes.interface import Endpoint, ProbeConfig


class TinyProbe:
    name = "smtp"
    ports = (25, 2525)

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript:
        started = time.monotonic()
        steps: list[Step] = []
        outcome = Outcome.OK
        error = ""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.ip, endpoint.port), config.connect_timeout
            )
        except ConnectionRefusedError:
            outcome = Outcome.REFUSED
        except TimeoutError:
            outcome = Outcome.CONNECT_TIMEOUT
        except OSError as exc:
            outcome, error = Outcome.UNREACHABLE, str(exc)
        else:
            try:
                line = await asyncio.wait_for(reader.readline(), config.greeting_timeout)
                steps.append(Step("greeting", received=line))
                if not line:
                    outcome = Outcome.CLOSED
                else:
                    writer.write(b"QUIT\r\n")
                    await writer.drain()
                    bye = await asyncio.wait_for(reader.readline(), config.read_timeout)
                    steps.append(Step("quit", sent=b"QUIT\r\n", received=bye))
            except TimeoutError:
                outcome = Outcome.TIMEOUT
            except ConnectionResetError:
                outcome = Outcome.RESET
            finally:
                writer.close()
        return Transcript(
            ip=endpoint.ip,
            port=endpoint.port,
            protocol="smtp",
            transport=Transport.PLAIN,
            observed_at=datetime.now(UTC),
            outcome=outcome,
            steps=tuple(steps),
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )


PROBES = {"smtp": TinyProbe()}
TABLE = "tests.engine.tinyprobe:PROBES"


class BrokenProbe:
    """A probe with a bug: the engine must turn it into Outcome.ERROR, not lose the target."""

    name = "boom"
    ports = (25,)

    async def run(self, endpoint: Endpoint, config: ProbeConfig) -> Transcript:
        raise RuntimeError("bug in probe")


BROKEN = {"boom": BrokenProbe()}
