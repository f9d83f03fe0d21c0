"""Read back an offline W&B run file (``wandb/offline-run-*/run-ID.wandb``) without a server.

A test helper: the tests check with it what was logged (it is no part of the library).
The file is W&B's LevelDB-style log: a 7-byte header (``:W&B``, magic, version) and 32 KiB blocks
of records (4-byte checksum, 2-byte length, 1-byte type, payload); each payload is a protobuf
``Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

_HEADER = 7
_BLOCK = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _payloads(data: bytes):
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file (missing ':W&B' header)")
    pos, pending = _HEADER, b""
    while pos + 7 <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < 7:  # block trailer padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            yield pending + chunk
            pending = b""


def read_offline_run(path: str | Path) -> dict:
    """``{"run": {...}, "config": {...}, "history": [...], "summary": {...}, "exit_code": int|None}``."""
    from wandb.proto import wandb_internal_pb2 as pb2

    out: dict = {"run": {}, "config": {}, "history": [], "summary": {}, "exit_code": None}
    for payload in _payloads(Path(path).read_bytes()):
        rec = pb2.Record()
        rec.ParseFromString(payload)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            out["run"] = {
                "id": r.run_id,
                "project": r.project,
                "group": r.run_group,
                "job_type": r.job_type,
                "name": r.display_name,
                "tags": list(r.tags),
            }
            for item in r.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "history":
            row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            out["history"].append(row)
        elif kind == "summary":
            for item in rec.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    return out
