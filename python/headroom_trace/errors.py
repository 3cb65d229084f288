"""The one error type of the package: every failure the protocol names maps to a TraceError."""

# Exit status per code: the user's input (2) or anything else (1).
USER_CODES = {"bad_request", "unknown_model_type", "unsupported"}


class TraceError(Exception):
    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def exit_status(self):
        return 2 if self.code in USER_CODES else 1

    def to_event(self):
        return {"event": "error", "code": self.code, "field": self.field, "message": self.message}
