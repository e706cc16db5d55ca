"""Peer client (library and meshpeer command line) speaking the broker protocol."""
