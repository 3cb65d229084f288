"""The trace's notes: each an English sentence (the result's `notes`, what every reader of protocol 1 takes) and,
beside it, the same sentence as a message key with typed arguments (`note_messages`, a later optional addition),
which the app shows in the user's language.

The keys are the app's own (`backend.note.trace.*`, listed in src-tauri/core/src/message.rs); the arguments are
typed as the app's messages are (`text`, `count`, `bytes`, `number`). The app checks each message against its key
list and shows the English sentence for any it does not know, so a newer package's notes never fail an older app.
"""


def text(value):
    """An argument shown as it is: a name, a dtype, a kernel."""
    return {"type": "text", "value": str(value)}


def count(value):
    """A whole number of things."""
    return {"type": "count", "value": int(value)}


def size(value):
    """A size in bytes."""
    return {"type": "bytes", "value": int(value)}


def number(value, digits):
    """A measured number, shown with `digits` decimals."""
    return {"type": "number", "value": {"value": float(value), "digits": int(digits)}}


class Notes:
    """The notes of one trace, in order: `texts` for the result's `notes`, `messages` for its `note_messages`
    (the same length and order)."""

    def __init__(self):
        self.texts = []
        self.messages = []

    def add(self, key, sentence, **args):
        """One note: its key (`backend.note.trace.…`), its English sentence, its typed arguments."""
        self.texts.append(sentence)
        self.messages.append({"key": key, "args": args})

    def __iter__(self):
        return iter(self.texts)

    def __len__(self):
        return len(self.texts)
