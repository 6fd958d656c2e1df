"""The DNS messages of Pushdock's upstream resolver (RFC 1035; pure, tested on data).

Caddy looks up `<project>.pushdock.` through this resolver to find where a project's live
colour listens (its A-record dynamic upstreams), so a switch changes an answer here instead
of Caddy's config: a config change restarts Caddy's servers, which closes idle keep-alive
connections under the clients' feet.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.errors import DnsMessageError, UpstreamLookupFailed
from pipeline.names import upstream_label
from pipeline.projects import is_project_name

TTL = 0  # Caddy caches answers for its own refresh interval; nothing else should
_HEADER = struct.Struct("!HHHHHH")
_QR, _AA, _RD = 0x8000, 0x0400, 0x0100
_OPCODE_MASK = 0x7800
_COMPRESSED_QUESTION_NAME = 0xC00C  # a pointer to the name at offset 12


class RecordType(enum.IntEnum):
    A = 1
    AAAA = 28


class Rcode(enum.IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


@dataclass(frozen=True)
class Query:
    ident: int
    flags: int
    name: str  # lower case, without the trailing dot
    qtype: int
    qclass: int
    question: bytes  # as received, echoed in the answer


def parse_query(data: bytes) -> Query:
    if len(data) < _HEADER.size:
        raise DnsMessageError("shorter than a DNS header")
    ident, flags, qdcount, _, _, _ = _HEADER.unpack_from(data)
    if flags & _QR:
        raise DnsMessageError("a response, not a query")
    if qdcount != 1:
        raise DnsMessageError(f"{qdcount} questions, not 1")
    labels: list[str] = []
    offset = _HEADER.size
    while True:
        if offset >= len(data):
            raise DnsMessageError("the name runs past the message")
        length = data[offset]
        offset += 1
        if length == 0:
            break
        if length > 63:  # a compression pointer or a reserved label type
            raise DnsMessageError("a compressed or extended label in the question")
        label = data[offset:offset + length]
        if len(label) != length:
            raise DnsMessageError("the name runs past the message")
        labels.append(label.decode("ascii", errors="replace").lower())
        offset += length
    if offset + 4 > len(data):
        raise DnsMessageError("the question has no type and class")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    question = data[_HEADER.size:offset + 4]
    return Query(ident=ident, flags=flags, name=".".join(labels), qtype=qtype,
                 qclass=qclass, question=question)


def project_of(name: str) -> str | None:
    """The project of `<project>.pushdock`, "" for another name in the zone, None outside."""
    project = upstream_label(name)
    if project is None:
        return None
    return project if is_project_name(project) else ""


def build_query(name: str, qtype: int = 1, ident: int = 0) -> bytes:
    """A query for one name (recursion desired), as a stub resolver sends it."""
    labels = b"".join(bytes([len(part)]) + part.encode("ascii")
                      for part in name.rstrip(".").split(".") if part)
    return (_HEADER.pack(ident, _RD, 1, 0, 0, 0) + labels + b"\x00"
            + struct.pack("!HH", qtype, 1))


def answer_address(reply_data: bytes) -> str | None:
    """The first A record's address in a reply, or None."""
    _, _, qdcount, ancount, _, _ = _HEADER.unpack_from(reply_data)
    offset = _HEADER.size
    for _ in range(qdcount):
        while reply_data[offset]:
            offset += reply_data[offset] + 1
        offset += 5
    for _ in range(ancount):
        _, rtype, _, _, length = struct.unpack_from("!HHHIH", reply_data, offset)
        offset += 12
        if rtype == RecordType.A and length == 4:
            return str(ipaddress.IPv4Address(reply_data[offset:offset + 4]))
        offset += length
    return None


def reply(query: Query, rcode: Rcode, address: str | None = None) -> bytes:
    """The answer to `query`: one A record when an address is given."""
    flags = _QR | _AA | (query.flags & (_OPCODE_MASK | _RD)) | rcode
    answers = b""
    if address is not None:
        rdata = ipaddress.IPv4Address(address).packed
        answers = struct.pack("!HHHIH", _COMPRESSED_QUESTION_NAME, RecordType.A, 1, TTL,
                              len(rdata)) + rdata
    header = _HEADER.pack(query.ident, flags, 1, 1 if answers else 0, 0, 0)
    return header + query.question + answers


def answer(data: bytes, lookup: Callable[[str], str | None]) -> bytes | None:
    """The reply to one datagram, or None when it gets none; `lookup` gives a project's live
    IPv4 address or None (or raises UpstreamLookupFailed: SERVFAIL, so Caddy caches nothing).

    A known project answers its address for A and no records for other types (so an AAAA
    lookup beside the A lookup is empty, not an error); an unknown one is NXDOMAIN. A
    response, or anything too short to be a query, gets no answer: two servers answering
    each other's answers would never stop.
    """
    if len(data) < _HEADER.size or _HEADER.unpack_from(data)[1] & _QR:
        return None
    try:
        query = parse_query(data)
    except DnsMessageError:
        ident = struct.unpack_from("!H", data)[0]
        return _HEADER.pack(ident, _QR | Rcode.FORMERR, 0, 0, 0, 0)
    if query.flags & _OPCODE_MASK:
        return reply(query, Rcode.NOTIMP)
    project = project_of(query.name)
    if project is None or query.qclass != 1:
        return reply(query, Rcode.REFUSED)
    try:
        address = lookup(project) if project else None
        if address is not None:
            ipaddress.IPv4Address(address)
    except (UpstreamLookupFailed, ValueError):
        return reply(query, Rcode.SERVFAIL)
    if address is None:
        return reply(query, Rcode.NXDOMAIN)
    if query.qtype != RecordType.A:
        return reply(query, Rcode.NOERROR)
    return reply(query, Rcode.NOERROR, address)
