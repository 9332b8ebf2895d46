"""Pure parsers over bytes: DNS, TLS ClientHello, QUIC Initial, HTTP/1.x, mail protocols."""
