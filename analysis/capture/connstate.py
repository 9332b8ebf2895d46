"""Zeek's connection state (``conn_state``) and ``history`` of a flow, from the packets the flow table saw.

The flow table keeps, per TCP connection, every packet with SYN, FIN or RST (``Control``: frame, side, flags,
sequence number, payload length) and the frame of the first pure ACK and the first packet with payload of
each side; per UDP conversation its packet counts suffice. Here those are replayed, in frame order, through
Zeek's endpoint state machine (``TCPSessionAdapter::UpdateStateMachine``: each side INACTIVE, SYN_SENT,
SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED or RESET) and its ``conn_state`` function
(``base/protocols/conn/main.zeek``), with the flow's client as Zeek's originator.

History letters (upper case: the client, the originator; lower case: the server):
``S`` a SYN without ACK, ``H`` a SYN+ACK, ``A`` a pure ACK, ``D`` a packet with payload, ``F`` a FIN, ``R`` a
RST, ``Q`` SYN with FIN or RST, ``I`` FIN with RST, ``^`` first: the client is not the first packet's sender
(Zeek's role flip). As in Zeek, A and D are written once per side; S, H, F and R again when a later packet of
that kind carries another sequence number; a packet gives one letter at most (a FIN with payload is ``F``).
UDP: ``D``/``d`` once per side (Zeek writes them for every datagram, empty or not); its state is ``S0`` (only
the client sent), ``SF`` (both), ``SHR`` (only the server) or ``OTH``.

Where this differs from Zeek: the letters Zeek derives from checksums, gaps, retransmissions and windows
(``C G T W``) and ``X`` are not written; packets are not dropped for bad checksums (as ``zeek -C``); payload
is counted as captured; a TCP packet with neither ACK nor a control flag nor payload is not replayed, nor is
any later pure ACK of a side that Zeek would still hold INACTIVE (a server that ACKs a SYN without a
SYN+ACK); Zeek's SYN/SYN+ACK reversal flip and its connection reuse on a new SYN are not modelled (a new SYN
with another sequence number starts a new flow here, as Wireshark's ``tcp.stream`` does).
"""

from __future__ import annotations

import re
from struct import Struct

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
CONTROL = SYN | FIN | RST
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
# bits of ``Conv.want``: the first pure ACK / packet with payload of side A, then of side B, still to be seen
WANT_A_ACK, WANT_A_DATA, WANT_B_ACK, WANT_B_DATA = 1, 2, 4, 8
WANT_ALL = 15
MAX_CONTROL = 1024  # SYN/FIN/RST packets kept per connection (a RST storm beyond that is not replayed)
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*", re.S)


# One TCP packet with SYN, FIN or RST as the flow table keeps it: frame, sent by side A (1) or B (0), TCP
# flags, sequence number, payload bytes; a connection's are one bytes string of these records (19 bytes each,
# where a tuple of Python ints took about 150 on a table of 110,000 conversations)
CONTROL_RECORD = Struct("<QBHII")
MAX_CONTROL_BYTES = MAX_CONTROL * CONTROL_RECORD.size


class _Side:
    __slots__ = ("state", "prev", "orig", "sent")

    def __init__(self, orig: bool) -> None:
        self.state = self.prev = INACTIVE
        self.orig = orig
        self.sent = False  # any payload (Zeek: a non-zero size)

    def set(self, state: int) -> None:
        if state != self.state:
            self.prev, self.state = self.state, state


_STATES: dict[tuple, str] = {}  # (packet kinds, history) -> conn_state: most connections look alike
MAX_STATES = 4096


def tcp_state(controls: bytes, first: list[int], client_is_a: bool) -> tuple[str, str]:
    """(conn_state, history) of a TCP connection: its ``controls`` (``CONTROL_RECORD``s) in frame order and
    ``first``, the frames of side A's first pure ACK and first packet with payload, then side B's (0: none; a
    first payload is replayed as a packet with ACK)."""
    events = list(CONTROL_RECORD.iter_unpack(controls))  # frame, from A, flags, seq, length
    for i, frame in enumerate(first):
        if frame:
            events.append((frame, i < 2, ACK, 0, i & 1))
    events.sort()  # by frame: each frame is one event
    letters = [] if client_is_a else ["^"]
    last: dict[tuple[bool, str], int] = {}  # (originator?, letter) -> its last sequence number
    kinds = []
    for _frame, from_a, flags, seq, length in events:
        is_orig = from_a == client_is_a
        letter = _letter(last, is_orig, flags, seq, length)
        if letter and (letter in "SHFRsfhr" or letter not in letters):
            letters.append(letter)
        kinds.append((is_orig, flags & (CONTROL | ACK), length > 0))
    history = "".join(letters)
    key = (tuple(kinds), history)
    state = _STATES.get(key)
    if state is None:
        state = _replay(kinds, history)
        if len(_STATES) < MAX_STATES:
            _STATES[key] = state
    return state, history


def _replay(kinds: list[tuple[bool, int, bool]], history: str) -> str:
    """conn_state after the packets ``kinds`` (originator?, flags, payload?) went through the state machine."""
    orig, resp = _Side(True), _Side(False)
    for is_orig, flags, data in kinds:
        side, peer = (orig, resp) if is_orig else (resp, orig)
        if data and not flags & RST:
            side.sent = True
        _step(side, peer, orig, is_orig, flags, data)
    return _conn_state(orig, resp, history)


def _letter(last: dict, is_orig: bool, flags: int, seq: int, length: int) -> str:
    """Zeek's ``update_history`` letter for one packet ("" for none, or for a SYN, FIN or RST that repeats the
    last one's sequence number); ``last`` keeps those numbers per side."""
    syn, fin, rst = flags & SYN, flags & FIN, flags & RST
    if bool(syn) + bool(fin) + bool(rst) > 1:
        code = "I" if fin and rst else "Q"
    elif syn or fin or rst:
        code = ("H" if flags & ACK else "S") if syn else "F" if fin else "R"
        place = (seq + length) & 0xFFFFFFFF if fin else seq  # a FIN's place is after its payload
        repeat = last.get((is_orig, code)) == place
        last[(is_orig, code)] = place
        if repeat:
            return ""
    elif length:
        code = "D"
    elif flags & ACK:
        code = "A"
    else:
        return ""
    return code if is_orig else code.lower()


def _step(side: _Side, peer: _Side, orig: _Side, is_orig: bool, flags: int, length: int | bool) -> None:
    """Zeek's endpoint state machine for one packet sent by ``side``."""
    syn, fin, rst, ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
    state = side.state
    if state == INACTIVE:
        if syn:
            if is_orig:
                side.set(SYN_ACK_SENT if ack else SYN_SENT)
            else:
                if peer.state == SYN_SENT:
                    peer.set(ESTABLISHED)
                side.set(ESTABLISHED)
        if fin:
            side.set(CLOSED)
        if rst:
            side.set(RESET)
        if side.state == INACTIVE:  # no control flag moved it
            if not is_orig and not length and orig.state == SYN_SENT:
                pass  # an ACK of the SYN before the SYN+ACK: still inactive
            elif ack and peer.state == ESTABLISHED:
                side.set(ESTABLISHED)
            else:
                side.set(PARTIAL)
    elif state in (SYN_SENT, SYN_ACK_SENT):
        if fin:
            side.set(CLOSED)
        if rst:
            side.set(RESET)
    elif state in (ESTABLISHED, PARTIAL):
        if syn and state == PARTIAL and peer.state == INACTIVE and not ack:
            side.set(SYN_SENT)
        if fin and not rst:
            side.set(CLOSED)
            if peer.state == RESET and peer.prev == CLOSED:  # the peer's FIN, then RST: a normal close
                peer.set(CLOSED)
        if rst:
            side.set(RESET)
    elif state == CLOSED:
        if rst and peer.state != CLOSED:
            side.set(RESET)


def _conn_state(orig: _Side, resp: _Side, history: str) -> str:
    """Zeek's ``Conn::conn_state`` for TCP."""
    os_, rs = orig.state, resp.state
    o_inactive = os_ in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    if rs == RESET:
        if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and not orig.sent and not resp.sent):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if os_ == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if rs == CLOSED and os_ == CLOSED:
        return "SF"
    if os_ == CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == CLOSED:
        return "SHR" if o_inactive else "S3"
    if os_ == SYN_SENT and rs == INACTIVE:
        return "S0"
    if os_ == ESTABLISHED and rs == ESTABLISHED:
        return "S1"
    return "OTH"


def udp_state(client_packets: int, server_packets: int, client_is_a: bool) -> tuple[str, str]:
    """(conn_state, history) of a UDP conversation; side A sent its first datagram."""
    if client_packets and server_packets:
        state = "SF"
    elif client_packets:
        state = "S0"
    else:
        state = "SHR" if server_packets else "OTH"
    if client_is_a:
        history = ("D" if client_packets else "") + ("d" if server_packets else "")
    else:
        history = "^" + ("d" if server_packets else "") + ("D" if client_packets else "")
    return state, history

