"""The upstream resolver's DNS messages, on data."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.deploy.dns import (
    Decision,
    Question,
    Rcode,
    RecordType,
    answer,
    answer_address,
    build_query,
    decide,
    parse_query,
    project_of,
)
from pipeline.errors import DnsMessageError, UpstreamLookupFailed
from pipeline.names import upstream_name

LIVE = {"shop": "10.1.2.3"}


def query(name: str, qtype: int = RecordType.A, *, ident: int = 0xBEEF, flags: int = 0x0100,
          additional: bytes = b"") -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    header = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 1 if additional else 0)
    return header + labels + b"\x00" + struct.pack("!HH", qtype, 1) + additional


def parsed(reply: bytes) -> tuple[int, int, int, list[str]]:
    """(id, flags, rcode, A addresses) of a reply with one question."""
    ident, flags, qdcount, ancount, _, _ = struct.unpack_from("!HHHHHH", reply)
    assert qdcount == 1
    offset = 12
    while reply[offset]:
        offset += reply[offset] + 1
    offset += 5
    addresses = []
    for _ in range(ancount):
        pointer, rtype, rclass, ttl, length = struct.unpack_from("!HHHIH", reply, offset)
        assert (pointer, rtype, rclass, ttl, length) == (0xC00C, 1, 1, 0, 4)
        addresses.append(".".join(str(b) for b in reply[offset + 12:offset + 16]))
        offset += 16
    assert offset == len(reply)
    return ident, flags, flags & 0xF, addresses


def test_a_known_project_is_answered_with_its_address() -> None:
    ident, flags, rcode, addresses = parsed(answer(query("shop.pushdock."), LIVE.get))
    assert (ident, rcode, addresses) == (0xBEEF, Rcode.NOERROR, ["10.1.2.3"])
    assert flags & 0x8000 and flags & 0x0400  # a response, authoritative
    assert flags & 0x0100  # recursion desired is echoed


def test_names_are_case_insensitive_and_the_question_is_echoed() -> None:
    data = query("SHOP.Pushdock")
    reply = answer(data, LIVE.get)
    assert reply[12:12 + len(data) - 12] == data[12:]
    assert parsed(reply)[3] == ["10.1.2.3"]


def test_aaaa_of_a_known_project_is_empty_not_an_error() -> None:
    assert parsed(answer(query("shop.pushdock", RecordType.AAAA), LIVE.get))[2:] == (
        Rcode.NOERROR, [])


def test_unknown_project_is_nxdomain() -> None:
    assert parsed(answer(query("cart.pushdock"), LIVE.get))[2:] == (Rcode.NXDOMAIN, [])


@pytest.mark.parametrize("name", ["example.com", "shop.other", "pushdock.example"])
def test_names_outside_the_zone_are_refused(name: str) -> None:
    assert parsed(answer(query(name), LIVE.get))[2] == Rcode.REFUSED


@pytest.mark.parametrize("name", ["pushdock", "a.shop.pushdock", "Not_A_Project.pushdock"])
def test_other_names_in_the_zone_do_not_exist(name: str) -> None:
    assert parsed(answer(query(name), LIVE.get))[2] == Rcode.NXDOMAIN


def test_lookup_failure_is_servfail() -> None:
    def failing(project: str) -> str | None:
        raise UpstreamLookupFailed("redis down")

    assert parsed(answer(query("shop.pushdock"), failing))[2] == Rcode.SERVFAIL
    assert parsed(answer(query("shop.pushdock"), {"shop": "fe80::1"}.get))[2] == Rcode.SERVFAIL


@pytest.mark.parametrize("data", [b"\x12\x34\x01", query("shop.pushdock", flags=0x8000),
                                  b"\x12\x34" + b"\x80" + b"\x00" * 9])
def test_responses_and_scraps_get_no_answer(data: bytes) -> None:
    """Answering answers would let two servers (or one, spoofed) bounce datagrams forever."""
    assert answer(data, LIVE.get) is None


def test_an_edns_record_after_the_question_is_ignored() -> None:
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    assert parsed(answer(query("shop.pushdock", additional=opt), LIVE.get))[3] == ["10.1.2.3"]


def test_other_opcodes_are_not_implemented() -> None:
    assert parsed(answer(query("shop.pushdock", flags=0x2000), LIVE.get))[2] == Rcode.NOTIMP


@pytest.mark.parametrize("data", [
    query("shop.pushdock")[:-3],  # cut in the question
    struct.pack("!HHHHHH", 7, 0, 2, 0, 0, 0),  # two questions
    struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",  # compressed
])
def test_broken_messages_get_formerr_with_their_id(data: bytes) -> None:
    with pytest.raises(DnsMessageError):
        parse_query(data)
    reply = answer(data, LIVE.get)
    assert reply is not None
    assert reply[:2] == data[:2]
    assert struct.unpack_from("!H", reply, 2)[0] & 0xF == Rcode.FORMERR


def test_names() -> None:
    assert upstream_name("shop") == "shop.pushdock."
    assert project_of("shop.pushdock") == "shop"
    assert project_of("pushdock") == ""
    assert project_of("example.com") is None


def test_a_built_query_is_answered_and_its_address_read() -> None:
    data = build_query("shop.pushdock.", ident=7)
    assert parse_query(data).name == "shop.pushdock"
    reply = answer(data, LIVE.get)
    assert reply is not None and answer_address(reply) == "10.1.2.3"
    nothing = answer(build_query("cart.pushdock."), LIVE.get)
    assert nothing is not None and answer_address(nothing) is None


@pytest.mark.parametrize(("question", "decision"), [
    (Question("shop.pushdock"), Decision(Rcode.NOERROR, "10.1.2.3")),
    (Question("shop.pushdock", RecordType.AAAA), Decision(Rcode.NOERROR)),
    (Question("shop.pushdock", RecordType.MX), Decision(Rcode.NOERROR)),
    (Question("cart.pushdock"), Decision(Rcode.NXDOMAIN)),
    (Question("pushdock"), Decision(Rcode.NXDOMAIN)),
    (Question("a.shop.pushdock"), Decision(Rcode.NXDOMAIN)),
    (Question("a\\.b.pushdock"), Decision(Rcode.NXDOMAIN)),  # one label holding a dot
    (Question("shop\\.pushdock"), Decision(Rcode.REFUSED)),  # one label, outside the zone
    (Question("example.com"), Decision(Rcode.REFUSED)),
    (Question("."), Decision(Rcode.REFUSED)),
    (Question("shop.pushdock", qclass=3), Decision(Rcode.REFUSED)),  # CHAOS
    (Question("shop.pushdock", opcode=4), Decision(Rcode.NOTIMP)),  # NOTIFY
    (Question("cart.pushdock", opcode=2), Decision(Rcode.NOTIMP)),  # STATUS
])
def test_which_question_gets_which_answer(question: Question, decision: Decision) -> None:
    assert decide(question, LIVE.get) == decision


def test_a_label_holding_a_dot_is_one_label() -> None:
    data = struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\x0dshop.pushdock\x00\x00\x01\x00\x01"
    assert parse_query(data).name == "shop\\.pushdock"
    assert parsed(answer(data, LIVE.get))[2] == Rcode.REFUSED


REPLY = answer(build_query("shop.pushdock.", ident=0x5044), LIVE.get)


@pytest.mark.parametrize("data", [
    *(REPLY[:cut] for cut in range(len(REPLY))),  # cut anywhere
    build_query("shop.pushdock."),  # a query
    REPLY[:-6] + b"\x00\x05" + REPLY[-4:],  # an A record whose data claims 5 bytes
    REPLY[:6] + b"\x00\x02" + REPLY[8:],  # two answers announced, one sent
])
def test_a_reply_that_cannot_be_read_is_an_error(data: bytes) -> None:
    with pytest.raises(DnsMessageError):
        answer_address(data)


def test_a_reply_must_answer_the_query_sent() -> None:
    sent = build_query("shop.pushdock.", ident=0x5044)
    assert answer_address(REPLY, sent) == "10.1.2.3"
    for other in (build_query("shop.pushdock.", ident=0x5045),
                  build_query("cart.pushdock.", ident=0x5044),
                  build_query("shop.pushdock.", RecordType.AAAA, ident=0x5044)):
        with pytest.raises(DnsMessageError, match="not the response"):
            answer_address(REPLY, other)


def raw_query(labels: list[bytes], qtype: int, flags: int) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return struct.pack("!HHHHHH", 0xBEEF, flags, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)


GOOD = [query("shop.pushdock"), query("shop.pushdock", RecordType.AAAA), build_query("x.pushdock."),
        query("shop.pushdock", additional=b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)),
        query("shop.pushdock", flags=0x2000), REPLY]
queries = st.builds(raw_query, st.lists(st.binary(min_size=1, max_size=63), max_size=5),
                    st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))


@st.composite
def mangled(draw: st.DrawFn, datagrams: st.SearchStrategy[bytes]) -> bytes:
    """A datagram with some bytes overwritten, cut somewhere, with bytes appended."""
    data = bytearray(draw(datagrams))
    for position, value in draw(st.lists(st.tuples(st.integers(0, max(len(data) - 1, 0)),
                                                   st.integers(0, 255)), max_size=4)):
        if data:
            data[position] = value
    return bytes(data[:draw(st.integers(0, len(data)))]) + draw(st.binary(max_size=40))


datagrams = st.one_of(st.binary(max_size=600), queries, mangled(st.sampled_from(GOOD) | queries))


@settings(max_examples=500)
@given(datagrams)
def test_any_datagram_gets_a_response_or_nothing(data: bytes) -> None:
    reply = answer(data, LIVE.get)
    if len(data) < 12 or data[2] & 0x80:
        assert reply is None  # too short for a query, or a response
        return
    assert reply is not None
    message = dns.message.from_wire(reply)
    assert message.flags & dns.flags.QR
    assert message.id == int.from_bytes(data[:2], "big")
    assert answer_address(reply) in (None, "10.1.2.3")


@settings(max_examples=500)
@given(datagrams)
def test_reading_any_datagram_as_a_reply_gives_an_address_or_an_error(data: bytes) -> None:
    try:
        address = answer_address(data)
    except DnsMessageError:
        return
    assert address is None or address.count(".") == 3


def test_a_project_with_replicas_is_answered_with_every_address() -> None:
    table = {"shop": "10.1.2.3,10.1.2.4"}
    _, _, rcode, addresses = parsed(answer(query("shop.pushdock."), table.get))
    assert rcode == Rcode.NOERROR and sorted(addresses) == ["10.1.2.3", "10.1.2.4"]
    reply = answer(query("shop.pushdock."), table.get)
    assert reply is not None and answer_address(reply) == "10.1.2.3,10.1.2.4"
    broken = {"shop": "10.1.2.3,nonsense"}
    assert decide(Question("shop.pushdock"), broken.get).rcode == Rcode.SERVFAIL
