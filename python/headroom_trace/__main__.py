"""Entry point: a protocol-1 request on stdin, JSON lines on stdout (see python/README.md)."""

import json
import os
import sys
import traceback


def _emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    # The trace never touches the network: everything comes from the request.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .errors import TraceError
    from .request import parse_request

    def progress(stage, fraction, message):
        _emit({"event": "progress", "stage": stage, "fraction": round(float(fraction), 3), "message": message})

    try:
        text = sys.stdin.read()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise TraceError("bad_request", f"request: not JSON ({e.msg} at line {e.lineno})", None) from None
        req = parse_request(raw)
        from .engine import run

        result = run(req, progress)
    except TraceError as e:
        _emit(e.to_event())
        return e.exit_status
    except MemoryError:
        _emit({"event": "error", "code": "internal", "field": None, "message": "the trace ran out of host memory"})
        return 1
    except Exception as e:  # noqa: BLE001 - the protocol turns every failure into one error line
        traceback.print_exc(file=sys.stderr)
        _emit({"event": "error", "code": "internal", "field": None,
               "message": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
        return 1
    _emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
