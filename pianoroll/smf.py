"""Tolerant reading of Standard MIDI Files: repairs for the faults common in MIDI from the web.

MIDI files found on the web often carry faults that a strict reader (mido, and pretty_midi on
top of it) refuses although the music is intact: a data byte above 127 in a channel message,
or a meta event whose content cannot be decoded (a key signature of mode 255, say).
:func:`repair_smf` rewrites such a file's bytes so that a strict reader accepts them: out-of-
range data bytes are clipped to 127, undecodable meta events are dropped (their delta time
moves to the next event), and everything else is copied unchanged. A file that is not MIDI at
all is left as it is, so the strict reader's refusal names the real fault.
"""

from __future__ import annotations

import collections
import struct

from mido.midifiles.meta import build_meta_message

__all__ = ["CLIPPED", "IGNORED", "repair_smf"]

#: Repair counts' keys.
CLIPPED = "data bytes clipped"
IGNORED = "meta events ignored"

#: Data bytes after the status byte of each channel message kind (the high nibble).
_DATA_BYTES = {0x8: 2, 0x9: 2, 0xA: 2, 0xB: 2, 0xC: 1, 0xD: 1, 0xE: 2}


class _Malformed(Exception):
    """The bytes do not follow the chunk and event structure; no repair applies."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A variable-length quantity at ``at``: ``(value, position after it)``."""
    value = 0
    for _ in range(4):
        if at >= len(data):
            raise _Malformed
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at
    raise _Malformed


def _encode_varint(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _repair_track(data: bytes, counts: collections.Counter[str]) -> bytes:
    """One ``MTrk`` chunk's events, repaired (see the module docstring)."""
    out = bytearray()
    at, running, carried = 0, None, 0
    while at < len(data):
        delta, at = _varint(data, at)
        if at >= len(data):
            raise _Malformed
        status = data[at]
        if status == 0xFF:
            if at + 1 >= len(data):
                raise _Malformed
            kind = data[at + 1]
            length, body = _varint(data, at + 2)
            content, end = data[body : body + length], body + length
            try:
                build_meta_message(kind, list(content))
            except Exception:  # mido raises several types on undecodable meta content
                counts[IGNORED] += 1
                carried += delta
                at = end
                continue
            event = data[at:end]
        elif status in (0xF0, 0xF7):
            length, body = _varint(data, at + 1)
            end = body + length
            event = data[at:end]
        else:
            if status >= 0x80:
                running, first = status, at + 1
            elif running is None:
                raise _Malformed
            else:
                first = at  # running status: this byte is the first data byte
            kind = running >> 4
            if kind not in _DATA_BYTES:
                raise _Malformed
            end = first + _DATA_BYTES[kind]
            body = bytearray(data[first:end])
            clipped = sum(byte > 127 for byte in body)
            if clipped:
                counts[CLIPPED] += clipped
                body = bytearray(min(byte, 127) for byte in body)
            event = data[at:first] + bytes(body)
        if end > len(data):
            raise _Malformed
        out += _encode_varint(delta + carried) + event
        carried, at = 0, end
    return bytes(out)


def repair_smf(data: bytes) -> tuple[bytes, collections.Counter[str]]:
    """Repair a Standard MIDI File's bytes for a strict reader.

    Args:
        data: the file's bytes.

    Returns:
        The repaired bytes and the repairs made, ``{CLIPPED: n, IGNORED: m}`` (empty, with the
        bytes unchanged, when nothing was repaired or the bytes are not a MIDI file).
    """
    counts: collections.Counter[str] = collections.Counter()
    if not data.startswith(b"MThd"):
        return data, counts
    out, at = bytearray(), 0
    try:
        while at + 8 <= len(data):
            name, length = data[at : at + 4], struct.unpack(">I", data[at + 4 : at + 8])[0]
            body = data[at + 8 : at + 8 + length]
            if name == b"MTrk":
                body = _repair_track(body, counts)
            out += name + struct.pack(">I", len(body)) + body
            at += 8 + length
    except _Malformed:
        return data, collections.Counter()
    if not counts:
        return data, counts
    return bytes(out), counts
