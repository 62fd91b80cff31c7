"""What the integration tests' Python case scripts share: checks whose
failure reads in one place, the loop that runs named cases, a csync
(sync_server) connection, and the test messages of tests/data/mime.

A failed check prints one block to stdout (which the C++ test shows):

    FAIL [messages] append 'NO' [b'...']
      expected: typ == "OK" and b"APPENDUID" in data[0]   (imap_cases.py:153)
      observed: typ='NO', data=[b'[TRYCREATE] ...']

the case it belongs to (the case being run, else the case_*/cmd_* function
or script function it was called from), the check's own words, the
condition as written in the script (the expectation), and the values the
condition's plain names held (the observation; nothing is evaluated again).
A script ends with finish(): exit 1 after any failure, else "ok <checks>".
"""
import ast
import base64
import linecache
import os
import socket
import sys
import traceback

_MAX_SHOWN = 300
_state = {"case": None, "checks": 0, "failures": []}


def _short(value):
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...(%d chars)" % len(text)


def _case_of(frame):
    if _state["case"]:
        return _state["case"]
    f = frame
    while f is not None:
        name = f.f_code.co_name
        for prefix in ("case_", "cmd_"):
            if name.startswith(prefix):
                return name[len(prefix):]
        f = f.f_back
    return "%s:%s" % (os.path.basename(frame.f_code.co_filename), frame.f_code.co_name)


def _call_at(frame, names):
    """The source of the first argument of the call to one of `names` on
    the frame's current line, and the plain names in it."""
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    source = "".join(linecache.getlines(filename))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in names and node.lineno <= lineno <= getattr(node, "end_lineno", node.lineno):
            arg = node.args[0]
            seen = []
            for sub in ast.walk(arg):
                if isinstance(sub, ast.Name) and sub.id not in seen:
                    seen.append(sub.id)
            return ast.get_source_segment(source, arg), seen
    return None, []


def _observed(frame, names):
    shown = []
    for n in names:
        if n in frame.f_locals:
            shown.append("%s=%s" % (n, _short(frame.f_locals[n])))
        elif n in frame.f_globals and not callable(frame.f_globals[n]):
            shown.append("%s=%s" % (n, _short(frame.f_globals[n])))
    return ", ".join(shown)


def _fail(frame, what, expected, observed, where=None):
    where = where or "%s:%d" % (os.path.basename(frame.f_code.co_filename), frame.f_lineno)
    lines = ["FAIL [%s] %s" % (_case_of(frame), what),
             "  expected: %s   (%s)" % (expected, where),
             "  observed: %s" % observed]
    _state["failures"].append(lines[0])
    print("\n".join(lines), flush=True)


def check(cond, what, observed=None):
    """Counts a check; on failure prints case, `what`, the condition's
    source and `observed` (default: the values of the condition's names)."""
    _state["checks"] += 1
    if cond:
        return True
    frame = sys._getframe(1)
    expr, names = _call_at(frame, ("check",))
    if observed is None:
        observed = _observed(frame, names) or "(the condition was false)"
    _fail(frame, what, expr or "(condition of this check)", observed)
    return False


def equal(observed, expected, what):
    """check(observed == expected) that prints both values."""
    _state["checks"] += 1
    if observed == expected:
        return True
    _fail(sys._getframe(1), what, _short(expected), _short(observed))
    return False


def ok(resp, what):
    """An imaplib (typ, data) answer must be OK; returns data."""
    typ, data = resp
    _state["checks"] += 1
    if typ != "OK":
        _fail(sys._getframe(1), what, "OK", "%s %s" % (typ, _short(data)))
    return data


def failures():
    return list(_state["failures"])


def checks():
    return _state["checks"]


def run_cases(cases, names, *args):
    """Runs cases[name](*args) for each name; an exception ends that case
    only, and is a failure of it."""
    for name in names:
        _state["case"] = name
        try:
            cases[name](*args)
        except Exception as e:  # a crash of one case is a failure, not the end
            _state["checks"] += 1
            # The deepest line of the scripts themselves, not of a library.
            frames = traceback.extract_tb(e.__traceback__)
            here = os.path.dirname(os.path.abspath(__file__))
            ours = [f for f in frames
                    if os.path.dirname(os.path.abspath(f.filename)) == here and
                    os.path.abspath(f.filename) != os.path.abspath(__file__)]
            last = (ours or frames)[-1]
            _fail(sys._getframe(0), "raised", "no exception", _short(e),
                  "%s:%d" % (os.path.basename(last.filename), last.lineno))
        finally:
            _state["case"] = None


def finish(extra=""):
    """Exit 1 after any failed check; else prints "ok <checks><extra>"."""
    if _state["failures"]:
        sys.exit(1)
    print("ok %d%s" % (_state["checks"], extra))


class Csync:
    """A connection to a sync_server (csync), past its banner."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")
        self.banner = []
        while True:
            line = self.reader.readline().decode().rstrip("\r\n")
            self.banner.append(line)
            if line.startswith("* OK") or not line:
                break

    def command(self, text):
        """Sends `text`; the answer's lines, up to the first not untagged."""
        self.sock.sendall(text.encode() + b"\r\n")
        lines = []
        while True:
            line = self.reader.readline().decode().rstrip("\r\n")
            lines.append(line)
            if not line.startswith("*"):
                return lines

    def authenticate_plain(self, user, password):
        """AUTHENTICATE PLAIN; the answer's last line."""
        plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        return self.command("AUTHENTICATE PLAIN " + plain)[-1]

    def close(self):
        self.sock.close()


def eml_messages(paths):
    """(file name, bytes with CRLF line ends) of each file, in name order."""
    out = []
    for path in sorted(paths):
        with open(path, "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out.append((os.path.basename(path), data))
    return out
