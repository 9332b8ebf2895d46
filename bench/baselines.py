"""Baseline readers the benchmark times against maildetour, each run in its own process.

    python -m bench.baselines dpkt FILE     # dpkt loop building the 5-tuple conversation table
    python -m bench.baselines scapy FILE    # scapy RawPcapReader loop (no dissection), for memory

Each prints one JSON object: packets, bytes, and for dpkt the TCP and UDP conversation counts.
"""

from __future__ import annotations

import json
import sys


def dpkt_conversations(path: str) -> dict:
    """Wireshark-style conversation table (address/port pairs, either direction) with dpkt."""
    import dpkt

    table: dict[tuple, list[int]] = {}
    packets = total = 0
    with open(path, "rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            packets += 1
            total += len(buf)
            try:
                ip = dpkt.ethernet.Ethernet(buf).data  # 802.1Q tags are unwrapped by dpkt
            except dpkt.UnpackError:
                continue
            l4 = getattr(ip, "data", None)
            if isinstance(l4, dpkt.tcp.TCP):
                proto = 6
            elif isinstance(l4, dpkt.udp.UDP):
                proto = 17
            else:
                continue
            a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
            key = (proto, a, b) if a <= b else (proto, b, a)
            entry = table.get(key)
            if entry is None:
                table[key] = [1, len(buf)]
            else:
                entry[0] += 1
                entry[1] += len(buf)
    tcp = sum(1 for k in table if k[0] == 6)
    return {
        "packets": packets,
        "bytes": total,
        "tcp_flows": tcp,
        "udp_flows": len(table) - tcp,
        "flow_packets": sum(v[0] for v in table.values()),
    }


def scapy_raw(path: str) -> dict:
    """Walk the file with scapy's RawPcapReader: record headers and raw bytes, no dissection."""
    from scapy.utils import RawPcapReader

    packets = total = 0
    with RawPcapReader(path) as reader:
        for _data, meta in reader:
            packets += 1
            total += meta.wirelen
    return {"packets": packets, "bytes": total}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("dpkt", "scapy"):
        print("usage: python -m bench.baselines dpkt|scapy FILE", file=sys.stderr)
        return 2
    result = dpkt_conversations(args[1]) if args[0] == "dpkt" else scapy_raw(args[1])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
