"""A message as the inbox keeps it and the model is shown it (`Stored`), and how it is
read back from an inbox row. Standard library only: the hook imports this module."""

from __future__ import annotations

from dataclasses import dataclass

COLUMNS = "message_id, from_name, from_pubkey, priority, text, sent_at, encrypted"


@dataclass(frozen=True, slots=True)
class Stored:
    """A message as the model is shown it."""

    message_id: str
    from_name: str
    from_pubkey: str
    priority: str
    text: str
    sent_at: str
    encrypted: bool

    def as_json(self) -> dict[str, object]:
        return {
            "messageId": self.message_id,
            "from": self.from_name,
            "fromPubkey": self.from_pubkey,
            "priority": self.priority,
            "text": self.text,
            "sentAt": self.sent_at,
            "encrypted": self.encrypted,
        }


def stored_from_row(row: tuple[object, ...]) -> Stored:
    message_id, from_name, from_pubkey, priority, text, sent_at, encrypted = row
    return Stored(
        message_id=str(message_id),
        from_name=str(from_name),
        from_pubkey=str(from_pubkey),
        priority=str(priority),
        text=str(text),
        sent_at=str(sent_at),
        encrypted=bool(encrypted),
    )
