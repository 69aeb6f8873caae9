#!/usr/bin/env python3
"""test/fuzz/server.py: the fault-injecting OpenRouter server of the fuzz test.

Owns: the sockets.  Listens on 127.0.0.1 only, reads each HTTP/1.1 request
(Content-Length or chunked body, "Expect: 100-continue"), and answers
POST .../chat/completions with the bytes that responses.plan() chooses from
(seed, request number, attempt); anything else gets a 404.  The request
number is taken from the model name "fuzz/N" the driver sends; other model
names get numbers from a counter starting at 1,000,000,000 (arrival order).

    python3 test/fuzz/server.py --seed S [--port 0] [--log FILE] [--lifetime SECONDS] [--cases a,b]

Prints "fuzz server listening on PORT" when ready.  Stops by itself after
--lifetime seconds (default 300) or when its parent process goes away.  The
log has one line per request: number, attempt, what was sent; never the
request's headers (they carry the key).
"""

import argparse
import json
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import responses  # noqa: E402

MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20


class State:
    def __init__(self, seed, log):
        self.seed = seed
        self.lock = threading.Lock()
        self.attempts = {}
        self.counter = 1000000000
        self.log = log
        self.requests = 0

    def number(self, model):
        m = re.fullmatch(r"fuzz/(\d+)", model or "")
        with self.lock:
            self.requests += 1
            if m:
                n = int(m.group(1))
            else:
                self.counter += 1
                n = self.counter
            attempt = self.attempts.get(n, 0)
            self.attempts[n] = attempt + 1
        return n, attempt

    def write_log(self, line):
        if self.log:
            with self.lock:
                self.log.write(line + "\n")
                self.log.flush()


def read_request(sock, buf):
    """One request from sock; returns (method, path, headers, body, rest) or None at EOF."""
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEADER:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) < 3:
        return None
    method, path = parts[0].decode("latin1"), parts[1].decode("latin1")
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower().decode("latin1")] = v.strip().decode("latin1")
    if headers.get("expect", "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0 or len(body) > MAX_BODY:
                break
    else:
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            return None
        while len(buf) < length:
            chunk = sock.recv(min(1 << 20, length - len(buf)))
            if not chunk:
                return None
            buf += chunk
        body, buf = buf[:length], buf[length:]
    return method, path, headers, body, buf


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        state = self.server.state
        sock = self.request
        sock.settimeout(30)
        buf = b""
        try:
            while True:
                req = read_request(sock, buf)
                if req is None:
                    return
                method, path, headers, body, buf = req
                if method != "POST" or not path.endswith("/chat/completions"):
                    data = responses.response(404, b'{"error":{"code":404,"message":"fuzz: no such path"}}')
                    sock.sendall(data)
                    continue
                info = {"model": "", "tools": [], "params": {}, "auth": headers.get("authorization", "")}
                try:
                    j = json.loads(body)
                    info["model"] = j.get("model") if isinstance(j.get("model"), str) else ""
                    for t in j.get("tools") or []:
                        if isinstance(t, dict) and isinstance(t.get("function"), dict) \
                                and isinstance(t["function"].get("name"), str):
                            info["tools"].append(t["function"]["name"])
                            params = t["function"].get("parameters")
                            if isinstance(params, dict) and isinstance(params.get("properties"), dict):
                                info["params"][t["function"]["name"]] = params["properties"]
                except Exception:
                    pass
                n, attempt = state.number(info["model"])
                desc, actions, keep = responses.plan(state.seed, n, attempt, info, state.only)
                sent = 0
                state.write_log("request %d attempt %d: %s" % (n, attempt, desc))
                for a in actions:
                    if a[0] == "send":
                        sock.sendall(a[1])
                        sent += len(a[1])
                    elif a[0] == "sleep":
                        time.sleep(a[1])
                    elif a[0] == "reset":
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
                    else:
                        return
                if not keep:
                    return
        except (OSError, ValueError):
            return


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--cases", default="", help="only these response families (comma-separated): "
                    + ",".join(responses.case_names()))
    args = ap.parse_args()
    only = [c for c in args.cases.split(",") if c] or None
    if only and not set(only) <= set(responses.case_names()):
        ap.error("unknown case in --cases; known: " + ",".join(responses.case_names()))
    log = open(args.log, "a") if args.log else None
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args.seed, log)
    srv.state.only = only
    parent = os.getppid()
    deadline = time.time() + args.lifetime

    def watchdog():
        while time.time() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        srv.state.write_log("stopping (%d requests)" % srv.state.requests)
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    print("fuzz server listening on %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
