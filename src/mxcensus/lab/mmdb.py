"""A writer of MaxMind DB files (format 2.0), the subset the lab needs: IPv4 networks,
records of maps, strings and unsigned integers, 32-bit search-tree records.

The lab writes its simulated geography as an MMDB so the enrichment reads it through the
same ``--geo-db`` path as a GeoLite2 or DB-IP file. It is written here rather than with the
``mmdb-writer`` package so ``mxcensus lab`` and ``mxcensus demo`` need nothing beyond the
runtime dependencies (that package is a test helper and pulls in netaddr); the format is
public (https://maxmind.github.io/MaxMind-DB/) and the tests read every file written here
with the ``maxminddb`` reader the enrichment uses.

Layout: the binary search tree (one node per bit of a prefix, each node two 4-byte records:
another node, "no data" = the node count, or a data pointer = node count + 16 + offset),
16 zero bytes, the data section (identical records stored once), then the metadata marker
and the metadata map.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

MARKER = b"\xab\xcd\xefMaxMind.com"

Value = str | int | Mapping[str, "Value"] | list["Value"]

_STRING, _MAP, _UINT16, _UINT32 = 2, 7, 5, 6
_UINT64, _ARRAY = 9, 11  # extended types: written as type 0 plus a byte (type - 7)


def _control(kind: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 29 + 256:
        head, extra = 29, bytes([size - 29])
    elif size < 285 + 65_536:
        head, extra = 30, (size - 285).to_bytes(2, "big")
    else:
        head, extra = 31, (size - 65_821).to_bytes(3, "big")
    if kind <= 7:
        return bytes([(kind << 5) | head]) + extra
    return bytes([head, kind - 7]) + extra


def encode(value: Value, *, wide: bool = False) -> bytes:
    """One data-section value. Integers are uint32 (uint64 when ``wide``)."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(_STRING, len(raw)) + raw
    if isinstance(value, bool):
        raise TypeError("mmdb: booleans are not written by this writer")
    if isinstance(value, int):
        if value < 0 or value >= 1 << (64 if wide else 32):
            raise ValueError(f"mmdb: {value} does not fit an unsigned integer field")
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return _control(_UINT64 if wide else _UINT32, len(raw)) + raw
    if isinstance(value, list):
        return _control(_ARRAY, len(value)) + b"".join(encode(v) for v in value)
    parts = [encode(str(k)) + encode(v) for k, v in value.items()]
    return _control(_MAP, len(parts)) + b"".join(parts)


def _uint16(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _control(_UINT16, len(raw)) + raw


def write_mmdb(
    path: Path,
    networks: Iterable[tuple[str, Mapping[str, Value]]],
    *,
    database_type: str,
    description: str,
    build_epoch: int | None = None,
) -> None:
    """Write ``networks`` (IPv4 CIDR, record) to ``path``, whole or not at all.

    Networks must not overlap. ``build_epoch`` defaults to now (give it for identical files
    from identical inputs).
    """
    tree: list[list[int | bytes | None]] = [[None, None]]
    data = bytearray()
    offsets: dict[bytes, int] = {}
    for cidr, record in networks:
        net = ipaddress.IPv4Network(cidr)
        blob = encode(record)
        if blob not in offsets:
            offsets[blob] = len(data)
            data += blob
        _insert(tree, int(net.network_address), net.prefixlen, blob, cidr)
    count = len(tree)
    body = bytearray()
    for node in tree:
        for rec in node:
            if rec is None:
                value = count
            elif isinstance(rec, bytes):
                value = count + 16 + offsets[rec]
            else:
                value = rec
            body += struct.pack(">I", value)
    small = {"binary_format_major_version": 2, "binary_format_minor_version": 0,
             "ip_version": 4, "record_size": 32}  # fmt: skip
    meta: dict[str, Value] = {
        "database_type": database_type,
        "description": {"en": description},
        "languages": ["en"],
        "node_count": count,
    }
    out = bytearray(body) + bytes(16) + data + MARKER
    out += _control(_MAP, len(small) + len(meta) + 1)
    for key, number in small.items():
        out += encode(key) + _uint16(number)
    for key, item in meta.items():
        out += encode(key) + encode(item)
    epoch = int(time.time()) if build_epoch is None else build_epoch
    out += encode("build_epoch") + encode(epoch, wide=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(bytes(out))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _insert(
    tree: list[list[int | bytes | None]], address: int, prefix: int, blob: bytes, cidr: str
) -> None:
    node = 0
    for depth in range(prefix):
        bit = (address >> (31 - depth)) & 1
        if depth == prefix - 1:
            if tree[node][bit] is not None:
                raise ValueError(f"mmdb: {cidr} overlaps a network already written")
            tree[node][bit] = blob
            return
        nxt = tree[node][bit]
        if isinstance(nxt, bytes):
            raise ValueError(f"mmdb: {cidr} lies inside a network already written")
        if nxt is None:
            tree.append([None, None])
            nxt = len(tree) - 1
            tree[node][bit] = nxt
        node = nxt
