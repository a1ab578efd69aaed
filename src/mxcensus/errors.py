"""The error roots. Library errors are translated at the edge into one of these.

MxcensusError
├── UsageError        bad input from the user: exit code 2
│   └── TargetError   a target, range, file or exclusion that cannot be used
├── RuleError         a fingerprint rule file that does not load (file, line, id)
├── KnowledgeError    a knowledge file that does not load (file, line, id)
├── StoreError        the DuckDB file cannot be opened, migrated or written
├── OutputError       an output file or stdout cannot be written (a full disk): path, what
├── ImportFormatError an import file that is not what its format says (file, line)
└── PartsError        Parquet parts of a sharded scan that cannot be written or ingested
                      (URI, shard, part)
"""

from __future__ import annotations


class MxcensusError(Exception):
    exit_code = 1


class UsageError(MxcensusError):
    exit_code = 2


class TargetError(UsageError):
    pass


class RuleError(MxcensusError):
    pass


class KnowledgeError(MxcensusError):
    pass


class StoreError(MxcensusError):
    pass


class ImportFormatError(MxcensusError):
    pass


class PartsError(MxcensusError):
    pass


class OutputError(MxcensusError):
    """A report, export or notify file (or stdout) that cannot be written: a full disk, an
    I/O error. The message names the path and what was being written; nothing is left
    half-written."""


class NotAvailableError(MxcensusError):
    """A command of the contract that this release does not implement yet."""
