"""Adapters: the ports of the domain served by Postgres, HTTP/WS, metrics, files and fakes."""
