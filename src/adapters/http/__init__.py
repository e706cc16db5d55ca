"""The Litestar adapter: `/ws`, `/hook/set-status`, `/health`, `/metrics` on one port."""
