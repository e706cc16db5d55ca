"""The broker's rules: presence, status, delivery, admission, rate limits. No I/O."""
