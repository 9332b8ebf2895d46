"""The shared words (analysis.vocab): one definition, consistent with the contract's lists.

Deliberate change when the six copies of the mail ports became one: 2525, the common alternative submission
port, is a mail port everywhere. Before, the capture inspector named it ``smtp`` but the verdict, the
classifier's port fallback, the relay ranking, netstat snapshots and the mitmproxy converter did not count it.
"""

from __future__ import annotations

from analysis import vocab
from analysis.case import Case, MailHost
from analysis.catalog import Catalog
from analysis.classify import Classifier
from analysis.logs.netstat import is_mail_server_side, parse_row
from analysis.model import Endpoint, Flow


def test_words_agree_with_each_other() -> None:
    assert set(vocab.MAIL_PORTS.values()) == vocab.MAIL_PROTOCOLS
    assert vocab.MAIL_PROTOCOLS < set(vocab.APP_PROTOCOLS)
    assert vocab.IMPLICIT_TLS == set(vocab.TLS_FORM.values()) and vocab.IMPLICIT_TLS < vocab.MAIL_PROTOCOLS
    assert not vocab.RECEIVE_PROTOCOLS & vocab.SEND_PROTOCOLS
    assert vocab.UNSEEN - {""} < set(vocab.APP_PROTOCOLS)
    assert len(set(vocab.CATEGORIES)) == len(vocab.CATEGORIES) == 13 and vocab.CATEGORIES[-1] == "unknown"
    assert vocab.LANGS[0] == "en" and set(vocab.LANGS) == {"en", "de"}


def test_channel_by_protocol_then_by_port() -> None:
    for port, word in vocab.MAIL_PORTS.items():
        expected = "receive" if word in vocab.RECEIVE_PROTOCOLS else "send"
        assert vocab.channel(word, 443) == vocab.channel("other", port) == vocab.channel("tls", port) == expected
        assert expected in vocab.CHANNELS
    assert vocab.channel("http", 143) is None and vocab.channel("quic", 993) is None
    assert vocab.channel("other", 443) is None


def test_2525_is_a_send_port_everywhere() -> None:
    assert vocab.channel("other", 2525) == "send"
    case = Case(mail_hosts=[MailHost.parse("mail.example.org")])
    flow = Flow(1, "tcp", Endpoint("10.23.42.50", 40000), Endpoint("203.0.113.80", 2525), app_protocol="tls")
    Classifier(case, Catalog.load()).classify_flow(flow)
    # no address of the mail host is known and this one has no name: a mail port makes it the assumed host
    assert (flow.category, flow.evidence.rule) == ("mail-host", "mail-host:assumed")
    other = Flow(2, "tcp", Endpoint("10.23.42.50", 40001), Endpoint("203.0.113.80", 2525), app_protocol="other")
    Classifier(Case(), Catalog.load()).classify_flow(other)
    assert (other.category, other.evidence.rule) == ("other-mail", "fallback:port")
    row = parse_row("tcp   0  0  192.0.2.25:2525   198.51.100.7:50123   ESTABLISHED")
    assert row is not None and is_mail_server_side(row) and row.service == "smtp"
