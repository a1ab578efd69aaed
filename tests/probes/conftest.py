"""Fixtures of the probe tests: the real servers of ``tests/servers.py``."""

from tests.servers import dovecot as dovecot
from tests.servers import exim as exim
