"""test/fuzz/pgwire.py: a minimal PostgreSQL client (protocol 3.0, simple query
protocol, trust authentication, Unix socket or TCP), so that the fuzz driver
needs nothing but Debian's python3.

Owns: talking to one backend.  What the driver needs and a library would hide:
every field of every ErrorResponse and NoticeResponse (SQLSTATE, message,
detail, hint, context), raw bytes of every value, the transaction status, a
per-query time limit, and telling a lost connection (a crashed backend) from
an error.
"""

import socket
import struct
import time


class ConnectionLost(Exception):
    """The backend closed the connection (or the socket failed) mid-query."""


class QueryTimeout(Exception):
    """No ReadyForQuery within the driver's own time limit (a hang)."""


class Result:
    def __init__(self):
        self.rows = []          # list of rows, each a list of bytes or None
        self.groups = [[]]      # the rows again, one list per statement
        self.error = None       # dict of the first ErrorResponse's fields, or None
        self.notices = []       # list of dicts
        self.tags = []
        self.status = b"I"      # transaction status after the query
        self.elapsed = 0.0


FIELD_NAMES = {"S": "severity", "V": "severity_nl", "C": "sqlstate", "M": "message",
               "D": "detail", "H": "hint", "P": "position", "p": "internal_position",
               "q": "internal_query", "W": "context", "s": "schema", "t": "table",
               "c": "column", "d": "datatype", "n": "constraint", "F": "file", "L": "line",
               "R": "routine"}


def parse_fields(payload, encoding):
    out = {}
    for part in payload.split(b"\0"):
        if part:
            key = FIELD_NAMES.get(chr(part[0]), chr(part[0]))
            out[key] = part[1:].decode(encoding, "replace")
            out["_raw_" + key] = part[1:]
    return out


class Connection:
    def __init__(self, host, port, user, database, encoding="UTF8", timeout=30):
        self.encoding = "latin1" if encoding.upper() in ("LATIN1", "SQL_ASCII") else "utf-8"
        if host.startswith("/"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect("%s/.s.PGSQL.%d" % (host, port))
            self.address = ("unix", "%s/.s.PGSQL.%d" % (host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout)
            self.address = ("tcp", (host, port))
        self.buf = b""
        self.pid = self.secret = None
        params = {"user": user, "database": database, "client_encoding": encoding,
                  "application_name": "openrouter-fuzz"}
        body = struct.pack("!I", 196608) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
        self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
        while True:
            t, payload = self._read_message()
            if t == b"R":
                if struct.unpack("!I", payload[:4])[0] != 0:
                    raise ConnectionLost("only trust authentication is supported")
            elif t == b"K":
                self.pid, self.secret = struct.unpack("!II", payload)
            elif t == b"E":
                raise ConnectionLost("connection refused: %s" % parse_fields(payload, "latin1").get("message"))
            elif t == b"Z":
                return

    def _fill(self, n):
        """Reads until the buffer holds n bytes (consumes nothing)."""
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except socket.timeout:
                raise QueryTimeout()
            except OSError as e:
                raise ConnectionLost(str(e))
            if not chunk:
                raise ConnectionLost("server closed the connection")
            self.buf += chunk

    def _read_message(self):
        # a message is taken from the buffer only when it is complete, so that
        # a timeout in between leaves the stream in step
        self._fill(5)
        length = struct.unpack("!I", self.buf[1:5])[0]
        self._fill(1 + length)
        t, payload = self.buf[:1], self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return t, payload

    def query(self, sql, timeout):
        """Runs sql (one or more statements); returns a Result.  Raises
        ConnectionLost or QueryTimeout."""
        data = sql.encode(self.encoding, "replace") if isinstance(sql, str) else sql
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(b"Q" + struct.pack("!I", len(data) + 5) + data + b"\0")
        except OSError as e:
            raise ConnectionLost(str(e))
        return self.read_result(timeout)

    def read_result(self, timeout):
        """Reads the messages of one query up to ReadyForQuery (also what is
        left of a query that timed out, after a cancel)."""
        res = Result()
        start = time.monotonic()
        self.sock.settimeout(timeout)
        while True:
            t, payload = self._read_message()
            if t == b"D":
                n = struct.unpack("!H", payload[:2])[0]
                pos, row = 2, []
                for _ in range(n):
                    ln = struct.unpack("!i", payload[pos:pos + 4])[0]
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + ln])
                        pos += ln
                res.rows.append(row)
                res.groups[-1].append(row)
            elif t == b"E":
                if res.error is None:
                    res.error = parse_fields(payload, self.encoding)
            elif t == b"N":
                res.notices.append(parse_fields(payload, self.encoding))
            elif t == b"C":
                res.tags.append(payload.rstrip(b"\0").decode("latin1"))
                res.groups.append([])
            elif t == b"Z":
                res.status = payload[:1]
                res.elapsed = time.monotonic() - start
                return res
            elif t in (b"G", b"H"):   # COPY: not used; refuse politely
                self.sock.sendall(b"f" + struct.pack("!I", 4 + 5) + b"nope\0")
            # T (row description), I (empty query), S (parameter status), A: ignored

    def cancel(self):
        """Sends a CancelRequest for this connection's backend."""
        if self.pid is None:
            return
        kind, addr = self.address
        s = socket.socket(socket.AF_UNIX if kind == "unix" else socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(addr)
            s.sendall(struct.pack("!IIII", 16, 80877102, self.pid, self.secret))
        except OSError:
            pass
        finally:
            s.close()

    def close(self):
        try:
            self.sock.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        self.sock.close()


def quote_literal(text):
    """A standard-conforming SQL string literal (text must not contain NUL)."""
    return "'" + text.replace("'", "''") + "'"
