"""The wire protocol both ends speak: the frame types (`wire`) and the invite string
(`invite_string`). Imported by the broker's HTTP adapter and by the meshpeer client; it
imports neither of them, nor the domain or the app (docs/adr/0029-where-things-live.md)."""
