"""The mail server's side: Dovecot, Cyrus, Exim, Postfix logs and netstat/ss snapshots."""
