"""Sources other than pcap/pcapng: mitmproxy flow files and live mitmproxy flows."""
