"""The mitmproxy addon lives in maildetour.py (mitmdump -s addons/maildetour.py)."""
