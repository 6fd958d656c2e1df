"""The DNS messages of Pushdock's upstream resolver: which name gets which answer (pure,
tested on data), read from and written to the wire by dnspython.

Caddy looks up `<project>.pushdock.` through this resolver to find where a project's live
color listens (its A-record dynamic upstreams), so a switch changes an answer here instead
of Caddy's config: a config change restarts Caddy's servers, which closes idle keep-alive
connections under the clients' feet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rrset
from dns.rcode import Rcode
from dns.rdatatype import RdataType as RecordType

from pipeline.errors import DnsMessageError, UpstreamLookupFailed
from pipeline.names import ZONE, is_app_name
from pipeline.upstream import join_addresses, split_addresses

TTL = 0  # Caddy caches answers for its own refresh interval; nothing else should
_ZONE_NAME = dns.name.from_text(ZONE)
_HEADER_SIZE = 12


@dataclass(frozen=True)
class Question:
    """What the answering policy looks at."""

    name: str  # lower case, without the trailing dot, escaped as in a zone file
    qtype: int = RecordType.A
    qclass: int = dns.rdataclass.IN
    opcode: int = dns.opcode.QUERY


@dataclass(frozen=True)
class Query(Question):
    """The one question of a query datagram, and the message it came in (to reply to)."""

    message: dns.message.Message = field(kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class Decision:
    """The answer a question gets: a response code, and an A record per address when set
    (comma-separated: a project with several web replicas answers each of them)."""

    rcode: Rcode
    address: str | None = None




def project_of(name: str) -> str | None:
    """The project of `<project>.pushdock`, "" for another name in the zone, None outside."""
    try:
        parsed = dns.name.from_text(name.encode("ascii"))
    except (UnicodeError, dns.exception.DNSException):
        return None  # not a name as the wire gives it
    if not parsed.is_subdomain(_ZONE_NAME):
        return None
    labels = parsed.relativize(_ZONE_NAME).labels
    project = labels[0].decode("ascii", errors="replace").lower() if len(labels) == 1 else ""
    return project if is_app_name(project) else ""


def decide(question: Question, lookup: Callable[[str], str | None]) -> Decision:
    """`lookup` gives a project's live IPv4 address or None (or raises UpstreamLookupFailed:
    SERVFAIL, so Caddy caches nothing).

    A known project answers its address for A and no records for other types (so an AAAA
    lookup beside the A lookup is empty, not an error); an unknown one is NXDOMAIN.
    """
    if question.opcode != dns.opcode.QUERY:
        return Decision(Rcode.NOTIMP)
    project = project_of(question.name)
    if project is None or question.qclass != dns.rdataclass.IN:
        return Decision(Rcode.REFUSED)
    try:
        address = lookup(project) if project else None
        if address is not None:
            for each in split_addresses(address) or (address,):
                ipaddress.IPv4Address(each)
    except (UpstreamLookupFailed, ValueError):
        return Decision(Rcode.SERVFAIL)
    if address is None:
        return Decision(Rcode.NXDOMAIN)
    if question.qtype != RecordType.A:
        return Decision(Rcode.NOERROR)
    return Decision(Rcode.NOERROR, address)


def _message(data: bytes, *, question_only: bool = False) -> dns.message.Message:
    try:
        return dns.message.from_wire(data, question_only=question_only, ignore_trailing=True)
    except dns.exception.DNSException as exc:
        raise DnsMessageError(f"not a DNS message: {exc}") from None


def _is_response(data: bytes) -> bool:
    return int.from_bytes(data[2:4], "big") & dns.flags.QR != 0


def parse_query(data: bytes) -> Query:
    """The question of a query; only the question is read (an EDNS record, say, is not)."""
    if len(data) >= _HEADER_SIZE and _is_response(data):
        raise DnsMessageError("a response, not a query")
    message = _message(data, question_only=True)
    if len(message.question) != 1:
        raise DnsMessageError(f"{len(message.question)} questions, not 1")
    question = message.question[0]
    return Query(name=question.name.canonicalize().to_text(omit_final_dot=True),
                 qtype=question.rdtype, qclass=question.rdclass, opcode=message.opcode(),
                 message=message)


def render(query: Query, decision: Decision) -> bytes:
    """The reply to `query`: authoritative, its question echoed, its id, opcode and
    recursion-desired bit kept, and no EDNS record (the reply is small enough without)."""
    response = dns.message.make_response(query.message)
    response.flags |= dns.flags.AA
    response.set_rcode(decision.rcode)
    if decision.address is not None:
        response.answer.append(dns.rrset.from_text(
            query.message.question[0].name, TTL, dns.rdataclass.IN, RecordType.A,
            *split_addresses(decision.address)))
    return response.to_wire()


def _format_error(ident: int) -> bytes:
    response = dns.message.Message(id=ident)
    response.flags = dns.flags.QR
    response.set_rcode(Rcode.FORMERR)
    return response.to_wire()


def answer(data: bytes, lookup: Callable[[str], str | None]) -> bytes | None:
    """The reply to one datagram (see `decide`), or None when it gets none.

    A response, or anything too short to be a query, gets no answer: two servers answering
    each other's answers would never stop. A query that cannot be read is FORMERR.
    """
    if len(data) < _HEADER_SIZE or _is_response(data):
        return None
    try:
        query = parse_query(data)
    except DnsMessageError:
        return _format_error(int.from_bytes(data[:2], "big"))
    return render(query, decide(query, lookup))


def build_query(name: str, qtype: int = RecordType.A, ident: int = 0) -> bytes:
    """A query for one name (recursion desired), as a stub resolver sends it."""
    return dns.message.make_query(name, qtype, id=ident).to_wire()


def answer_address(reply_data: bytes, query_data: bytes | None = None) -> str | None:
    """The A records' addresses in a reply (sorted, comma-separated when several), or None
    when it has none.

    Raises DnsMessageError for a datagram that is not a whole DNS response, or (with
    `query_data`) not the response to that query: its id, opcode or question differ.
    """
    reply = _message(reply_data)
    if not reply.flags & dns.flags.QR:
        raise DnsMessageError("a query, not a response")
    if query_data is not None and not _message(query_data).is_response(reply):
        raise DnsMessageError("not the response to the query sent")
    addresses = [str(record.address) for rrset in reply.answer
                 if rrset.rdtype == RecordType.A and rrset.rdclass == dns.rdataclass.IN
                 for record in rrset]
    return join_addresses(addresses) if addresses else None
