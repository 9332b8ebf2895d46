"""QUIC Initial decryption: RFC 9001 / RFC 9369 test vectors, CRYPTO reassembly, real captures, bad input."""

from __future__ import annotations

import json
import random

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from analysis.protocols.quic import (
    SALT_D23,
    SALT_D29,
    SALT_V1,
    V1,
    V2,
    InitialReader,
    client_hello_from_datagrams,
    client_initial_keys,
    crypto_frames,
    is_reserved,
    parse_long_header,
)
from analysis.protocols.tls import parse_handshake

DCID = bytes.fromhex("8394c8f03e515708")  # RFC 9001 A.1 / RFC 9369 A.1

# RFC 9001 Appendix A.2: the client's protected Initial packet (1200 bytes), a public spec test vector.
RFC9001_CLIENT_INITIAL = bytes.fromhex("""
    c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c
    0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c
    8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89
    eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208
    4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8500a6ef69ec4e3feb6b1d98e
    610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db
    059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed7b4ea9ec5d82e7
    961b7f25a9323851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556
    be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b95811a198f3491de3e7
    fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00
    f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632291d6a418211cc2962e20fe47feb3edf
    330f2c603a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd
    14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132eef2fa09346aee33c28eb130ff2
    8f5b766953334113211996d20011a198e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd
    c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accd
    d5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e
    fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03adea2e1fbc5aa463d08ca19896d2bf59a07
    1b851e6c239052172f296bfb5e72404790a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2
    162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f440591f355e12d439ff150aab7613499d
    bd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e
    8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723
    c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab
    760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905dd
    f3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064
    7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241e221af44860018ab0856972e194cd934
""")

# RFC 9369 Appendix A.2: the same ClientHello in a QUIC v2 Initial (1200 bytes).
RFC9369_CLIENT_INITIAL = bytes.fromhex("""
    d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071bf03dceebfa162e75d6c
    96058bdbfb127cdfcbf903388e99ad049f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d
    250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a12834e3f249a78d395e0d18f4d766004
    f1a2674802a747eaa901c3f10cda5500cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68
    18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff3312ae50b187c1433c0f028edcc4c2838b
    6a9bfc226ca4b4530e7a4ccee1bfa2a3d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd
    6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520bcfb7966fc49b393f0061d974a2706df
    8c4a9449f11d7f3d2dcbb90c6b877045636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f
    ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c1216ccce2d0193f958bb3850a833f7ae43
    2b65bc5a53975c155aa4bcb4f7b2c4e54df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4
    fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b8017c25ca9052ca1079d8b78aebd4787
    6d330a30f6a8c6d61dd1ab5589329de714d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9
    9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91abfe43960977c87471cf9ad4074d30e1
    0d6a7f03c63bd5d4317f68ff325ba3bd80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db
    848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18d703dd84045a274ae8bfa73379661388
    d6991fe39b0d93debb41700b41f90a15c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc
    7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61f6b5b984d4d3dfa033c1bb7e4f0037fe
    bf406d91c0dccf32acf423cfa1e7071010d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b
    3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e06ebfde206bfb0fcbc0edc4ebec30966
    1bdd908d532eb0c6adc38b7ca7331dce8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1
    34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1e86215c2d54e6670e07383a27bbffb5a
    ddf47d66aa85a0c6f9f32e59d85a44dd5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3
    8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89d5974ee12e5cf7d5da4d6a31123041f3
    3e61407e76cffcdcfd7e19ba58cf4b536f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19
    9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96ba18b2faa745b6fe189cf772a9f84cbfc
""")


def test_rfc9001_keys() -> None:
    keys = client_initial_keys(V1, DCID)
    assert keys.key.hex() == "1f369613dd76d5467730efcbe3b1a22d"
    assert keys.iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert keys.hp.hex() == "9f50449e04a0e810283a1e9933adedd2"
    v2 = client_initial_keys(V2, DCID)  # RFC 9369 A.1
    assert v2.key.hex() == "8b1a0bc121284290a29e0971b5cd045d"
    assert v2.iv.hex() == "91f73e2351d8fa91660e909f"
    assert v2.hp.hex() == "45b95e15235d6f45a6b19cbcb0294ba9"
    assert client_initial_keys(0x12345678, DCID) is None


@pytest.mark.parametrize("packet", [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL], ids=["v1", "v2"])
def test_rfc_client_initial_vectors(packet: bytes) -> None:
    assert len(packet) == 1200
    header = parse_long_header(packet)
    assert header.is_initial and header.dcid == DCID and header.scid == b"" and header.end == 1200
    ch = client_hello_from_datagrams([packet])
    assert ch is not None
    assert ch.sni == "example.com"
    assert ch.alpn == ["alpn"]  # the RFC's sample offers the protocol name "alpn"
    assert ch.supported_versions == [0x0304]


def _protect(version: int, key_dcid: bytes, dcid: bytes, pn: int, frames: bytes, size: int = 0,
             salt: bytes | None = None) -> bytes:
    """Build a client Initial packet the way a client does (``salt``: the version's first by default)."""
    keys = client_initial_keys(version, key_dcid, salt)
    ptype = 0b01 if version == V2 else 0b00
    payload = frames + bytes(max(0, size - len(frames)))
    first = 0xC0 | (ptype << 4) | 0x03  # 4-byte packet number
    length = 4 + len(payload) + 16
    header = (bytes([first]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + b"\x00" + b"\x00"
              + (0x4000 | length).to_bytes(2, "big") + pn.to_bytes(4, "big"))
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(keys.key).encrypt(nonce, payload, header)
    pn_offset = len(header) - 4
    sample = sealed[:16]  # the sample starts 4 bytes after the packet number's start
    mask = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor().update(sample)
    out = bytearray(header + sealed)
    out[0] ^= mask[0] & 0x0F
    for k in range(4):
        out[pn_offset + k] ^= mask[1 + k]
    return bytes(out)


def _crypto(offset: int, data: bytes) -> bytes:
    def varint(v: int) -> bytes:
        return (0x80000000 | v).to_bytes(4, "big")
    return b"\x06" + varint(offset) + varint(len(data)) + data


def _big_hello() -> bytes:
    """The RFC vector's ClientHello made large by a padding extension, as post-quantum hellos are."""
    plain = crypto_frames(_decrypt_vector())[0][1]
    body = bytearray(plain[4:])
    pad = b"\x00\x15" + (3000).to_bytes(2, "big") + bytes(3000)
    # extensions length is the 2 bytes before the extension block; the block ends at the body's end
    exts_start = _extensions_start(bytes(body))
    total = int.from_bytes(body[exts_start - 2 : exts_start], "big") + len(pad)
    body[exts_start - 2 : exts_start] = total.to_bytes(2, "big")
    body += pad
    return b"\x01" + len(body).to_bytes(3, "big") + bytes(body)


def _extensions_start(body: bytes) -> int:
    pos = 34
    pos += 1 + body[pos]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 1 + body[pos]
    return pos + 2


def _decrypt_vector() -> bytes:
    from analysis.protocols.quic import decrypt_initial

    header = parse_long_header(RFC9001_CLIENT_INITIAL)
    return decrypt_initial(RFC9001_CLIENT_INITIAL, header, client_initial_keys(V1, DCID))


@pytest.mark.parametrize("version", [V1, V2, 0xFF00001D], ids=["v1", "v2", "draft-29"])
def test_crypto_reassembled_from_several_packets_out_of_order(version: int) -> None:
    hello = _big_hello()
    assert parse_handshake(hello)[0] == "ok"
    pieces = [(0, hello[:1000]), (1000, hello[1000:2100]), (2100, hello[2100:])]
    other = bytes.fromhex("1122334455667788")
    p1 = _protect(version, DCID, DCID, 0, _crypto(*pieces[2]) + b"\x01", 1162)
    p2 = _protect(version, DCID, other, 1, _crypto(*pieces[1]))  # later packets may carry a new DCID
    p3 = _protect(version, DCID, DCID, 2, b"\x02\x00\x00\x00\x00" + _crypto(*pieces[0]))  # ACK first
    reader = InitialReader()
    assert reader.add_datagram(p1) and reader.client_hello is None
    assert reader.add_datagram(p2 + p3)  # two packets coalesced in one datagram
    assert reader.client_hello is not None
    assert reader.client_hello.sni == "example.com"


@pytest.mark.parametrize("salt", [SALT_D29, SALT_V1], ids=["draft-29-salt", "v1-salt"])
@pytest.mark.parametrize("version", [0x0A0A0A0A, 0x1A2A3A4A, 0xFAFAFAFA])
def test_reserved_versions_are_read_with_either_salt_wireshark_uses(version: int, salt: bytes) -> None:
    """0x?a?a?a?a versions: tshark 4.0 reads their Initials as draft-29, later Wireshark as v1."""
    assert is_reserved(version) and not is_reserved(V1) and not is_reserved(0x0A0A0A0B)
    hello = crypto_frames(_decrypt_vector())[0][1]
    reader = InitialReader()
    assert reader.add_datagram(_protect(version, DCID, DCID, 0, _crypto(0, hello), 1162, salt=salt))
    assert reader.client_hello is not None and reader.client_hello.sni == "example.com"
    wrong = _protect(version, DCID, DCID, 0, _crypto(0, hello), 1162, salt=SALT_D23)  # a salt no one uses
    assert client_hello_from_datagrams([wrong]) is None


def test_real_initials(shared_captures) -> None:
    rdpcap = pytest.importorskip("scapy.utils").rdpcap
    from scapy.layers.inet import UDP

    for name in ("quicietf.pcap", "quicietfooo.pcap"):
        path = shared_captures / "arkime" / name
        truth = json.loads(path.with_name(name + ".truth.json").read_text())["tls_client_hellos"][0]
        datagrams = [bytes(p[UDP].payload) for p in rdpcap(str(path)) if UDP in p]
        ch = client_hello_from_datagrams(datagrams)
        assert ch is not None
        assert ch.sni == truth["sni"] and ch.alpn == truth["alpn"]
        assert [f"0x{v:04x}" for v in ch.supported_versions] == truth["supported_versions"]


def test_frames() -> None:
    assert crypto_frames(b"\x00\x00\x01" + _crypto(5, b"abc") + b"\x00" * 10) == [(5, b"abc")]
    ack_ecn = b"\x03\x05\x00\x01\x00\x01\x00\x01\x02\x03"  # one extra range and ECN counts
    assert crypto_frames(ack_ecn + _crypto(0, b"x")) == [(0, b"x")]
    assert crypto_frames(b"\x08\x00") is None  # a STREAM frame is not allowed in an Initial
    assert crypto_frames(b"\x06\x40") is None  # truncated varint
    assert crypto_frames(b"\x06\x00\x44\x00ab") is None  # CRYPTO length beyond the packet


def test_bad_input_never_raises() -> None:
    cut = [b"", b"\xc0", RFC9001_CLIENT_INITIAL[:30], RFC9001_CLIENT_INITIAL[:600]]
    assert client_hello_from_datagrams(cut) is None
    assert parse_long_header(b"\xc0\x00\x00\x00\x01\xff" + bytes(40)) is None  # 255-byte DCID for v1
    assert parse_long_header(b"\x40" + bytes(40)) is None  # short header
    rng = random.Random(3)
    for _ in range(300):
        data = bytearray(RFC9001_CLIENT_INITIAL)
        for _k in range(rng.randint(1, 4)):
            data[rng.randrange(60)] = rng.randrange(256)
        client_hello_from_datagrams([bytes(data)])
        client_hello_from_datagrams([rng.randbytes(rng.randint(0, 1300))])


def _chlo(tags: list[tuple[bytes, bytes]]) -> bytes:
    """A gQUIC CHLO handshake message: tag, count, padding, (tag, end offset) pairs, values."""
    out, end, values = b"CHLO" + len(tags).to_bytes(2, "little") + b"\0\0", 0, b""
    for tag, value in tags:
        end += len(value)
        out += tag + end.to_bytes(4, "little")
        values += value
    return out + values


def test_gquic_chlo_sni() -> None:
    from analysis.protocols.gquic import gquic_version, parse_client_hello

    chlo = _chlo([(b"PAD\0", bytes(20)), (b"SNI\0", b"www.google.com"), (b"UAID", b"Chrome/53 Linux")])
    # public header: flags (version + 8-byte connection id), CID, version, packet number; hash; stream frame
    stream_frame = b"\xa0\x01" + len(chlo).to_bytes(2, "little") + chlo
    datagram = b"\x0d" + bytes(8) + b"Q035" + b"\x01" + bytes(12) + stream_frame
    assert gquic_version(datagram) == "Q035"
    hello = parse_client_hello(datagram)
    assert hello.version == "Q035" and hello.sni == "www.google.com" and hello.user_agent == "Chrome/53 Linux"
    long_header = b"\xc3Q046\x50" + bytes(8) + b"\x01" + b"\xff" + chlo  # Q046 uses a long header
    assert parse_client_hello(long_header).sni == "www.google.com"
    assert gquic_version(RFC9001_CLIENT_INITIAL) is None
    lying = datagram.replace(b"SNI\0\x22\x00\x00\x00", b"SNI\0\xff\xff\x00\x00")  # end offset 34 -> 65535
    assert lying != datagram
    assert parse_client_hello(lying).sni is None  # a value beyond the message is not read
    rng = random.Random(9)
    for _ in range(1000):
        data = bytearray(datagram)
        data[rng.randrange(len(data))] = rng.randrange(256)
        parse_client_hello(bytes(data))


def test_gquic_real_captures(shared_captures) -> None:
    rdpcap = pytest.importorskip("scapy.utils").rdpcap
    from scapy.layers.inet import UDP

    from analysis.protocols.gquic import parse_client_hello

    for name in ("quic24-wireshark.pcap", "quic33-wireshark.pcap", "quic34.pcap", "quic43.pcap"):
        path = shared_captures / "arkime" / name
        truth = json.loads(path.with_name(name + ".truth.json").read_text())
        found = {h.sni for p in rdpcap(str(path)) if UDP in p
                 for h in [parse_client_hello(bytes(p[UDP].payload))] if h and h.sni}
        assert found == set(truth["gquic_sni"])
