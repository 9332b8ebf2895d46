"""maildetour: did the mail app talk to the configured mail server, or to its vendor?"""

__version__ = "0.1.0"
