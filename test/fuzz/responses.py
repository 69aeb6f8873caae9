#!/usr/bin/env python3
"""test/fuzz/responses.py: the fault-injecting server's answers, as a pure
function of (seed, request number, attempt).

Owns: choosing and building one hostile or odd HTTP response.  Nothing here
touches the network; server.py sends what plan() returns, and this file run
as a script prints a response again, byte for byte, to replay a failure:

    python3 test/fuzz/responses.py SEED N [ATTEMPT] [--raw] [--tools=a,b]

The request number N is what the fuzz driver put into the model name
("fuzz/N"); ATTEMPT counts how often the server saw N before (0 for the first
request, 1 for the extension's first retry, ...).  The tool names the request
declared and its Authorization header are the only other inputs (echoed or
called back); replay passes stand-ins for them.

A plan is (description, actions, keep_alive): actions are ("send", bytes),
("sleep", seconds) and ("close",) / ("reset",); the description names the
case so that a report can say which response broke the extension.  Every
sleep is bounded: one response never takes more than about 4 s.
"""

import gzip
import json
import random
import re
import sys
import zlib

# ---------------------------------------------------------------------------
# small builders

REASONS = {100: "Continue", 101: "Switching Protocols", 103: "Early Hints",
           200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
           301: "Moved Permanently", 302: "Found", 303: "See Other",
           304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
           400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
           403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
           413: "Payload Too Large", 422: "Unprocessable Entity",
           429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
           524: "A Timeout Occurred", 529: "Site Overloaded"}

RETRYABLE = [408, 429, 500, 502, 503, 504, 524, 529]
PERMANENT = [400, 401, 402, 403, 404, 413, 422]


def status_line(code, reason=None):
    if isinstance(code, bytes):
        return code
    if reason is None:
        reason = REASONS.get(code, "Whatever")
    return ("HTTP/1.1 %s %s\r\n" % (code, reason)).encode()


def head(code, headers, reason=None):
    """Status line and headers; headers is a list of (name, value) with str or bytes."""
    out = [status_line(code, reason)]
    for k, v in headers:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out.append(k + b": " + v + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def response(code, body, extra=(), ctype="application/json", reason=None, length=True):
    headers = [("Content-Type", ctype)] if ctype else []
    headers += list(extra)
    if length:
        headers.append(("Content-Length", str(len(body))))
    return head(code, headers, reason) + body


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def completion(content="ok", model="fuzz", tool_calls=None, finish="stop", usage=True, extra=None):
    msg = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        msg["tool_calls"] = tool_calls
        finish = "tool_calls"
    c = {"id": "gen-fuzz", "object": "chat.completion", "created": 1796134218,
         "model": model, "provider": "Fuzz",
         "choices": [{"index": 0, "finish_reason": finish, "native_finish_reason": finish,
                      "message": msg}]}
    if usage:
        c["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                      "cost": 0.0000025}
    if extra:
        c.update(extra)
    return c


def error_obj(code, message, metadata=None):
    e = {"code": code, "message": message}
    if metadata is not None:
        e["metadata"] = metadata
    return {"error": e, "user_id": "user_fuzz"}


def deep_array(depth):
    return b"[" * depth + b"]" * depth


def deep_object(depth):
    return b'{"a":' * depth + b"1" + b"}" * depth


def splice(template, marker, raw):
    """JSON text of template with the string "<marker>" replaced by raw JSON bytes."""
    text = dumps(template)
    needle = dumps(marker)
    assert needle in text, marker
    return text.replace(needle, raw, 1)


# ---------------------------------------------------------------------------
# hostile pieces

def huge_number(rng):
    return rng.choice([
        b"1e999999", b"-1e999999", b"1E+999999", b"1e-999999", b"9" * 200000,
        b"-" + b"9" * 200000, b"0." + b"0" * 200000 + b"1", b"1" + b"0" * 1100,
        b"1e308", b"1e309", b"-0", b"123456789012345678901234567890",
        b"1e131072", b"1e-16384",
    ])


def bad_string(rng):
    """A JSON string literal (raw bytes, quotes included) that is legal JSON text
    but hard to hold, or not legal at all."""
    return rng.choice([
        b'"nul \\u0000 inside"', b'"\\u0000"', b'"lone high \\ud800"', b'"lone low \\udc00"',
        b'"\\ud800\\u0041"', b'"\\udbff\\udfff"', b'"escaped CJK \\u4e2d\\u6587"',
        b'"escaped euro \\u20ac"', b'"escaped emoji \\ud83d\\ude00"',
        '"raw CJK 中文 and emoji 😀"'.encode(), '"raw latin1 café"'.encode(),
        b'"not utf8 \xff\xfe\xfd"', b'"overlong \xc0\xaf"', b'"truncated seq \xe4\xb8"',
        b'"surrogate in utf8 \xed\xa0\x80"', b'"latin1 byte caf\xe9"',
        b'"ctrl \x01\x02\x1f raw"', b'"bad escape \\x41 \\q"', b'"\\u12"',
        b'"' + b"\\u0000" * 1000 + b'"', b'"bidi \xe2\x80\xae reversed"',
        b'"BOM \xef\xbb\xbf"', b'"U+FFFF \xef\xbf\xbf"', b'"nonchar \xf4\x8f\xbf\xbf"',
        b'"too high \xf4\x90\x80\x80"',
    ])


def any_json(rng, depth=0):
    """A random JSON value as raw bytes (sometimes invalid or hostile)."""
    r = rng.random()
    if depth > 3 or r < 0.35:
        return rng.choice([
            b"null", b"true", b"false", b"0", b"-1", b"1.5", b"429", b"200", b"99999999999",
            b'""', b'"just a string"', b'"429"', huge_number(rng), bad_string(rng),
            b"NaN", b"Infinity", b"-", b"01", b"1.", b".5", b"'single'", b"undefined",
        ])
    if r < 0.55:
        return b"[" + b",".join(any_json(rng, depth + 1) for _ in range(rng.randint(0, 4))) + b"]"
    if r < 0.62:
        return rng.choice([deep_array(rng.choice([1000, 6000, 100000])),
                           deep_object(rng.choice([1000, 100000]))])
    keys = [b'"code"', b'"message"', b'"metadata"', b'"error"', b'"choices"', b'"raw"',
            b'"headers"', b'"status"', b'""', bad_string(rng), b'"a"', b'"retry_after"']
    items = []
    for _ in range(rng.randint(0, 4)):
        items.append(rng.choice(keys) + b":" + any_json(rng, depth + 1))
    return b"{" + b",".join(items) + b"}"


def header_garbage(rng):
    """One hostile (name, value) header pair, bytes."""
    return rng.choice([
        (b"Retry-After", rng.choice([b"-5", b"0", b"1", b"99999999999999999999", b"1e309", b"garbage",
                                     b"", b"   ", b"1.5", b"NaN", b"-1e9", b"Wed, 21 Oct 2015 07:28:00 GMT",
                                     b"Fri, 31 Dec 9999 23:59:59 GMT", b"Thu, 01 Jan 1970 00:00:00 GMT",
                                     b"\xff\xfe", b"2" * 5000, b"1, 2", b"0x10"])),
        (b"X-RateLimit-Reset", rng.choice([b"-1", b"0", b"99999999999999999999999", b"garbage",
                                           b"1e999", b"18446744073709551616", b"-9223372036854775808",
                                           b"1796134218071", b"", b"\xc3\xa9", b"1.5e12"])),
        (b"X-RateLimit-Remaining", b"-1"),
        (b"X-Huge", b"x" * rng.choice([8000, 60000, 99000, 120000, 300000])),
        (b"X-Non-Ascii", "héllo wörld 中文".encode()),
        (b"X-Latin1", b"caf\xe9"),
        (b"X-Ctrl", b"a\x01b\x7fc"),
        (b"X-Empty", b""),
        ("Non-Ascii-Näme".encode(), b"1"),
        (b"Content-Type", rng.choice([b"text/html", b"application/json; charset=latin1",
                                      b"application/json; charset=utf-16", b"\xff", b""])),
        (b"Content-Encoding", rng.choice([b"gzip", b"deflate", b"br", b"identity", b"x-unknown"])),
        (b"Transfer-Encoding", rng.choice([b"chunked", b"gzip", b"identity", b"bogus"])),
        (b"Content-Length", rng.choice([b"-1", b"abc", b"99999999999999999999", b"0", b"5"])),
        (b"Location", b"http://127.0.0.1:1/elsewhere"),
        (b"Set-Cookie", b"a=" + b"b" * 4000),
        (b"Connection", rng.choice([b"close", b"keep-alive", b"upgrade"])),
        (b"Upgrade", b"h2c"),
        (b"X-Folded", b"first\r\n  folded continuation"),
    ])


# ---------------------------------------------------------------------------
# the cases; each returns (description, actions, keep_alive)

def case_ok(rng, req):
    content = rng.choice(["ok", "", None, "line\nbreak", "tab\tquote\"back\\slash",
                          "café", "中文", "😀", "x" * 1000, "\u00e9\u00e8" * 50])
    body = dumps(completion(content, model=req["model"]))
    return "valid completion", [("send", response(200, body))], True


def case_status(rng, req):
    code = rng.choice(RETRYABLE + PERMANENT + [418, 451, 499, 501, 505, 599, 600, 999,
                                               201, 202, 204, 206, 226, 299, 0, 1, 99, 1000])
    kind = rng.choice(["openrouter", "text", "empty", "json-other", "html"])
    if kind == "openrouter":
        body = dumps(error_obj(code if rng.random() < 0.7 else rng.choice([code, 400, "x", None]),
                               "fuzz status %s" % code,
                               {"provider_name": "Fuzz", "raw": "upstream said no"}))
    elif kind == "text":
        body = b"plain text failure"
    elif kind == "empty":
        body = b""
    elif kind == "json-other":
        body = any_json(rng)
    else:
        body = b"<html><body>502 Bad Gateway</body></html>"
    extra = []
    if rng.random() < 0.3:
        extra.append(header_garbage(rng))
    keep = code not in (204,) and rng.random() < 0.5
    return "status %s, %s body" % (code, kind), [("send", response(code, body, extra))], keep


def case_weird_status_line(rng, req):
    line = rng.choice([b"HTTP/1.1 200\r\n", b"HTTP/1.1 abc OK\r\n", b"HTTP/1.1 -200 OK\r\n",
                       b"HTTP/1.1 2000 OK\r\n", b"HTTP/9.9 200 OK\r\n", b"HTTP/1.0 200 OK\r\n",
                       b"ICY 200 OK\r\n", b"HTTP/1.1 200 OK\n", b"\r\n", b"HTTP/1.1  200  OK\r\n",
                       b"HTTP/2 200\r\n", b"HTTP/1.1 200 \xff\xfe\r\n"])
    body = dumps(completion("weird status line"))
    data = line + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    return "status line %r" % line, [("send", data), ("close",)], False


def case_redirect(rng, req):
    code = rng.choice([301, 302, 303, 307, 308, 300, 304, 399])
    loc = rng.choice([b"http://127.0.0.1:1/api/v1/chat/completions", b"file:///etc/passwd",
                      b"gopher://127.0.0.1/", b"/api/v1/chat/completions", b"", b"\xff\xfe",
                      b"http://169.254.169.254/latest/meta-data/", b"x" * 10000])
    body = rng.choice([b"", dumps(completion("redirect body")), b"moved"])
    return "redirect %d to %r" % (code, loc[:40]), [("send", response(code, body, [(b"Location", loc)]))], False


def case_informational(rng, req):
    code = rng.choice([100, 101, 102, 103, 199])
    interim = head(code, [(b"Link", b"</x>; rel=preload")] if code == 103 else
                   ([(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")] if code == 101 else []))
    variant = rng.choice(["then-ok", "then-error", "alone", "many"])
    if variant == "then-ok":
        data = interim + response(200, dumps(completion("after %d" % code)))
    elif variant == "then-error":
        data = interim + response(503, dumps(error_obj(503, "after interim")))
    elif variant == "many":
        data = interim * 50 + response(200, dumps(completion("after many %d" % code)))
    else:
        data = interim
    return "informational %d, %s" % (code, variant), [("send", data), ("close",)], False


def case_headers(rng, req):
    extra = [header_garbage(rng) for _ in range(rng.randint(1, 4))]
    code = rng.choice([200, 200, 429, 503, 400])
    body = dumps(completion("hostile headers")) if code == 200 else dumps(error_obj(code, "hostile headers"))
    names = [k.decode("latin1") for k, _ in extra]
    # a declared Content-Length or Transfer-Encoding among them: no length of our own
    own_length = not any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in extra)
    return ("status %d with headers %s" % (code, ",".join(names)),
            [("send", response(code, body, extra, length=own_length)), ("close",)], False)


def case_random_bytes(rng, req):
    n = rng.choice([1, 2, 16, 300, 4096, 70000])
    body = bytes(rng.randrange(256) for _ in range(n))
    code = rng.choice([200, 200, 500, 400])
    return "status %d, %d random bytes" % (code, n), [("send", response(code, body))], rng.random() < 0.5


def case_truncated_json(rng, req):
    full = dumps(completion("this will be cut", model=req["model"]))
    cut = rng.randrange(1, len(full))
    code = rng.choice([200, 200, 429, 500])
    body = full[:cut] if code == 200 else dumps(error_obj(code, "cut"))[:cut]
    return "status %d, JSON cut at byte %d" % (code, cut), [("send", response(code, body))], True


def case_deep(rng, req):
    depth = rng.choice([100000, 100000, 20000, 6000, 1000])
    nest = rng.choice([deep_array, deep_object])(depth)
    where = rng.choice(["top", "content", "usage", "error", "error-metadata", "choice-error", "extra"])
    code = 200
    if where == "top":
        body = nest
    elif where == "content":
        body = splice(completion("@X@"), "@X@", nest)
    elif where == "usage":
        body = splice(completion("ok", extra={"usage": "@X@"}), "@X@", nest)
    elif where == "error":
        code = rng.choice([200, 400, 503])
        body = b'{"error":' + nest + b"}"
    elif where == "error-metadata":
        code = rng.choice([200, 400, 429])
        body = splice(error_obj(code, "deep metadata", "@X@"), "@X@", nest)
    elif where == "choice-error":
        c = completion("partial", finish="error")
        c["choices"][0]["error"] = "@X@"
        body = splice(c, "@X@", nest)
    else:
        body = splice(completion("ok", extra={"fuzz_extra": "@X@"}), "@X@", nest)
    return ("status %d, %s nested %d deep in %s" % (code, nest[:1].decode(), depth, where),
            [("send", response(code, body))], True)


def case_huge_number(rng, req):
    num = huge_number(rng)
    where = rng.choice(["top", "cost", "created", "error-code", "content", "index", "tool-index", "status"])
    code = 200
    if where == "top":
        body = num
    elif where == "cost":
        c = completion("ok")
        c["usage"]["cost"] = "@X@"
        body = splice(c, "@X@", num)
    elif where == "created":
        body = splice(completion("ok", extra={"created": "@X@"}), "@X@", num)
    elif where == "error-code":
        code = rng.choice([200, 400, 500])
        body = splice(error_obj("@X@", "huge code"), "@X@", num)
    elif where == "content":
        body = splice(completion("@X@"), "@X@", num)
    elif where == "index":
        c = completion("ok")
        c["choices"][0]["index"] = "@X@"
        body = splice(c, "@X@", num)
    elif where == "tool-index":
        c = completion(None, tool_calls=[{"id": "c1", "index": "@X@", "type": "function",
                                          "function": {"name": pick_tool(rng, req), "arguments": "{}"}}])
        body = splice(c, "@X@", num)
    else:
        code = rng.choice([200, 429])
        body = splice(error_obj(code, "huge status", {"status": "@X@"}), "@X@", num)
    return ("status %d, number %s... (%d chars) in %s" % (code, num[:12].decode(), len(num), where),
            [("send", response(code, body))], True)


def case_bad_string(rng, req):
    s = bad_string(rng)
    where = rng.choice(["content", "error-message", "model", "key", "raw", "tool-name", "tool-args",
                        "finish", "top"])
    code = 200
    if where == "content":
        body = splice(completion("@X@"), "@X@", s)
    elif where == "error-message":
        code = rng.choice([200, 400, 429, 500])
        body = splice(error_obj(code, "@X@"), "@X@", s)
    elif where == "model":
        body = splice(completion("ok", extra={"model": "@X@"}), "@X@", s)
    elif where == "key":
        body = dumps(completion("ok"))[:-1] + b"," + s + b":1}"
    elif where == "raw":
        code = rng.choice([400, 502])
        body = splice(error_obj(code, "raw", {"raw": "@X@", "provider_name": "@Y@"}), "@X@", s)
        body = body.replace(b'"@Y@"', bad_string(rng))
    elif where == "tool-name":
        c = completion(None, tool_calls=[{"id": "c1", "type": "function",
                                          "function": {"name": "@X@", "arguments": "{}"}}])
        body = splice(c, "@X@", s)
    elif where == "tool-args":
        # a JSON-encoded string whose text is an object with the odd string inside
        inner = b'{"t":' + s + b"}"
        c = completion(None, tool_calls=[{"id": "c1", "type": "function",
                                          "function": {"name": pick_tool(rng, req), "arguments": "@X@"}}])
        body = splice(c, "@X@", json.dumps(inner.decode("latin1")).encode("latin1"))
    elif where == "finish":
        c = completion("ok")
        c["choices"][0]["finish_reason"] = "@X@"
        body = splice(c, "@X@", s)
    else:
        body = s
    return "status %d, string %r in %s" % (code, s[:30], where), [("send", response(code, body))], True


def case_error_any(rng, req):
    code = rng.choice([200, 200, 200, 400, 429, 500, 503, 402])
    form = rng.choice(["string", "number", "null", "bool", "array", "empty-object", "odd-code",
                       "odd-message", "odd-metadata", "any", "retry-in-body", "nested-error"])
    if form == "string":
        err = dumps("just a string")
    elif form == "number":
        err = rng.choice([b"429", b"0", b"-1", b"1e999999", b"3.5"])
    elif form == "null":
        err = b"null"
    elif form == "bool":
        err = rng.choice([b"true", b"false"])
    elif form == "array":
        err = rng.choice([b"[]", b'["a",1]', b'[{"code":429,"message":"in array"}]'])
    elif form == "empty-object":
        err = b"{}"
    elif form == "odd-code":
        err = b'{"code":' + rng.choice([b'"429"', b'"abc"', b"null", b"true", b"[]", b"{}", b"-429",
                                       b"0", b"1", b"99", b"100", b"200", b"302", b"600", b"999",
                                       b"99999999999999", b"429.7", b"1e3", huge_number(rng)]) + \
            b',"message":"odd code"}'
    elif form == "odd-message":
        err = b'{"code":400,"message":' + rng.choice([b"null", b"123", b"[]", b'{"a":1}', b"true",
                                                      b'""', bad_string(rng)]) + b"}"
    elif form == "odd-metadata":
        err = b'{"code":503,"message":"odd metadata","metadata":' + rng.choice([
            b"null", b"[]", b'"str"', b'{"headers":null}', b'{"headers":[]}',
            b'{"headers":{"Retry-After":"-1"}}', b'{"headers":{"Retry-After":99999999999}}',
            b'{"headers":{"X-RateLimit-Reset":"1e999"}}', b'{"headers":{"X-RateLimit-Reset":-5}}',
            b'{"headers":{"X-RateLimit-Reset":"' + b"9" * 400 + b'"}}',
            b'{"raw":null}', b'{"raw":[1,2]}', b'{"raw":{"a":{"b":1}}}', b'{"reasons":"x"}',
            b'{"reasons":[1,null,"a"]}', b'{"flagged_input":' + bad_string(rng) + b"}",
            b'{"provider_name":123}']) + b"}"
    elif form == "retry-in-body":
        err = b'{"code":429,"message":"slow down","metadata":{"headers":{"Retry-After":"' + \
            rng.choice([b"0", b"1", b"-3", b"abc", b"1e99", b"86400"]) + b'"}}}'
    elif form == "nested-error":
        err = b'{"error":{"error":{"code":500}}}'
    else:
        err = any_json(rng)
    body = b'{"error":' + err + (b',"choices":[]' if rng.random() < 0.2 else b"") + b"}"
    return "status %d, {\"error\": %s}" % (code, err[:60].decode("latin1")), [("send", response(code, body))], True


def case_top_level(rng, req):
    body = rng.choice([b"[]", b"[1,2,3]", b"[" + dumps(completion("in array")) + b"]", b'"a string"',
                       b"123", b"null", b"true", b"false", b"{}", b"  {}  ", b"\n\t" + dumps(completion("ws")),
                       b"[null]", b'{"choices":null}', b"1e999999", b'""', b"[[]]",
                       dumps(completion("ok")) + b" trailing", dumps(completion("a")) + dumps(completion("b")),
                       b"\xef\xbb\xbf" + dumps(completion("bom"))])
    code = rng.choice([200, 200, 200, 400, 500])
    return "status %d, top-level %r" % (code, body[:40]), [("send", response(code, body))], True


def pick_tool(rng, req):
    names = list(req.get("tools") or [])
    return rng.choice(names + ["fz_undeclared", "", "fz_add", "fz_echo", "fz_fail", "fz_drop"]
                      if names else ["fz_add", "fz_echo", "fz_undeclared", ""])


def odd_arguments(rng):
    """An odd "arguments" value: raw JSON bytes (usually a string of JSON text)."""
    inner = rng.choice([
        b"{}", b'{"a":1,"b":2}', b'{"a":"1","b":"x"}', b'{"t":"hello"}', b'{"j":{"x":[1,2]}}',
        b'{"a":1e999999,"b":1}', b'{"a":' + b"9" * 200000 + b',"b":1}', b'{"t":null}',
        b'{"nope":1}', b"[]", b"1", b'"str"', b"null", b"not json", b"{", b"",
        b'{"a":1,"a":2,"b":3}', b'{"j":' + deep_array(100000) + b"}", deep_object(100000),
        b'{"j":' + deep_array(3000) + b"}", b'{"t":"' + b"x" * 200000 + b'"}',
        b'{"t":"\\u0000"}', b'{"t":"\\ud800"}', b'{"t":"\\u4e2d"}', b'{"t":"caf\xc3\xa9"}',
        b'{"t":"\xff"}', b'{"x":1}',
    ])
    kind = rng.random()
    if kind < 0.8:
        return json.dumps(inner.decode("latin1")).encode("latin1")  # a JSON string holding the text
    if kind < 0.9:
        return inner if inner not in (b"", b"not json", b"{") else b"{}"  # an object instead of text
    return rng.choice([b"null", b"42", b"[]", b"true"])


def valid_arguments(rng, properties):
    """Arguments that fit a tool's JSON Schema properties, as JSON text."""
    args = {}
    for name, schema in properties.items():
        t = schema.get("type") if isinstance(schema, dict) else None
        if t == "integer":
            args[name] = rng.choice([0, 1, 42, -7])
        elif t == "number":
            args[name] = rng.choice([0, 1.5, 2, -3.25])
        elif t == "string":
            args[name] = rng.choice(["hello", "", "café", "line\nbreak"])
        elif t == "boolean":
            args[name] = rng.random() < 0.5
        else:
            args[name] = rng.choice([{"a": [1, 2]}, [1], "s", None, 3])
    return json.dumps(args)


def case_tool_calls(rng, req):
    calls = []
    valid = rng.random() < 0.5     # arguments that fit the declared parameters
    # sometimes every declared tool once, in the order declared (a tool may
    # change what the next one finds)
    in_order = list(req.get("tools") or []) if valid and rng.random() < 0.4 else []
    for i in range(len(in_order) or rng.choice([1, 1, 2, 3, 5])):
        name = in_order[i] if in_order else pick_tool(rng, req)
        props = (req.get("params") or {}).get(name)
        call = {"id": rng.choice(["call_%d" % i, "call_%d" % i, "", None, 7, "x" * 300]), "index": i,
                "type": "function", "function": {"name": name, "arguments": "@A%d@" % i}}
        if valid and props is not None:
            call["function"]["arguments"] = valid_arguments(rng, props)
        if not valid and rng.random() < 0.1:
            call["type"] = rng.choice(["other", None, 1])
        if not valid and rng.random() < 0.1:
            call["function"] = rng.choice([None, "fz_add", [], {"name": None}])
        calls.append(call)
    shape = "normal" if valid else rng.choice(["normal", "normal", "normal", "not-array", "null-items",
                                               "second-choice", "no-message", "message-string", "choices-object"])
    c = completion(None, tool_calls=calls)
    if shape == "not-array":
        c["choices"][0]["message"]["tool_calls"] = rng.choice([{"a": 1}, "calls", 3, None])
    elif shape == "null-items":
        c["choices"][0]["message"]["tool_calls"] = [None, 1, "x"] + calls
    elif shape == "second-choice":
        c["choices"].insert(0, {"index": 0, "finish_reason": "stop", "message": {"content": "no tools"}})
    elif shape == "no-message":
        del c["choices"][0]["message"]
    elif shape == "message-string":
        c["choices"][0]["message"] = "tool calls"
    elif shape == "choices-object":
        c["choices"] = c["choices"][0]
    body = dumps(c)
    for i in range(len(calls)):
        marker = dumps("@A%d@" % i)
        if marker in body:
            body = body.replace(marker, odd_arguments(rng), 1)
    return ("tool calls (%d, %s, %s arguments: %s)" % (len(calls), shape, "fitting" if valid else "odd",
                                                      ",".join(str(c["function"].get("name")) if isinstance(c["function"], dict)
                                                               else "?" for c in calls)),
            [("send", response(200, body))], True)


def case_odd_completion(rng, req):
    c = completion("odd", model=req["model"])
    variant = rng.choice([
        "choices-missing", "choices-null", "choices-empty", "choices-object", "choices-string",
        "choice-null", "choice-number", "message-null", "message-missing", "message-array",
        "content-object", "content-array", "finish-error", "finish-error-odd", "choice-error-string",
        "usage-string", "usage-negative", "usage-array", "usage-huge", "many-choices", "id-object",
        "model-null", "extra-keys", "role-odd", "choices-1000"])
    ch = c["choices"]
    if variant == "choices-missing":
        del c["choices"]
    elif variant == "choices-null":
        c["choices"] = None
    elif variant == "choices-empty":
        c["choices"] = []
    elif variant == "choices-object":
        c["choices"] = ch[0]
    elif variant == "choices-string":
        c["choices"] = "none"
    elif variant == "choice-null":
        c["choices"] = [None]
    elif variant == "choice-number":
        c["choices"] = [1, "a"]
    elif variant == "message-null":
        ch[0]["message"] = None
    elif variant == "message-missing":
        del ch[0]["message"]
    elif variant == "message-array":
        ch[0]["message"] = [1]
    elif variant == "content-object":
        ch[0]["message"]["content"] = {"text": "x"}
    elif variant == "content-array":
        ch[0]["message"]["content"] = [{"type": "text", "text": "x"}, None]
    elif variant == "finish-error":
        ch[0]["finish_reason"] = "error"
        ch[0]["error"] = {"code": rng.choice([502, "x", None]), "message": "provider died",
                          "metadata": {"raw": "r"}}
    elif variant == "finish-error-odd":
        ch[0]["finish_reason"] = "error"
        ch[0]["error"] = rng.choice([None, "a string", 5, [], {"message": None}])
    elif variant == "choice-error-string":
        ch[0]["error"] = "an error string without finish_reason"
    elif variant == "usage-string":
        c["usage"] = "lots"
    elif variant == "usage-negative":
        c["usage"] = {"prompt_tokens": -1, "completion_tokens": -99999999999, "total_tokens": None,
                      "cost": -1.5}
    elif variant == "usage-array":
        c["usage"] = [1, 2]
    elif variant == "usage-huge":
        c["usage"] = {"prompt_tokens": 10 ** 40, "cost": 1e308}
    elif variant == "many-choices":
        c["choices"] = [dict(ch[0], index=i) for i in range(50)]
        c["choices"][17]["finish_reason"] = "error"
    elif variant == "id-object":
        c["id"] = {"a": 1}
    elif variant == "model-null":
        c["model"] = None
    elif variant == "extra-keys":
        c.update({"error": None, "": 1, "sqlstate": "ORB01", "response": {"a": 1}})
    elif variant == "role-odd":
        ch[0]["message"]["role"] = rng.choice(["tool", None, 5, "system"])
    else:
        c["choices"] = [dict(ch[0], index=i) for i in range(1000)]
    return "odd completion: %s" % variant, [("send", response(200, dumps(c)))], True


def case_echo_key(rng, req):
    auth = req.get("auth") or ""
    key = auth[7:] if auth.lower().startswith("bearer ") else auth
    where = rng.choice(["content", "error-message", "error-200", "raw", "text-body", "html-body",
                        "header", "tool-args", "metadata-key", "escaped", "model", "finish-error"])
    code = 200
    if where == "content":
        body = dumps(completion("you sent: " + auth))
    elif where == "error-message":
        code = rng.choice([400, 401, 403, 429, 500])
        body = dumps(error_obj(code, "invalid key " + key))
    elif where == "error-200":
        body = dumps(error_obj(rng.choice([401, "x"]), "Authorization: " + auth))
    elif where == "raw":
        code = rng.choice([400, 502])
        body = dumps(error_obj(code, "upstream", {"raw": "headers were: Authorization: " + auth,
                                                  "provider_name": key}))
    elif where == "text-body":
        code = rng.choice([200, 500])
        body = ("Authorization: %s\n" % auth).encode()
    elif where == "html-body":
        code = 502
        body = ("<html>" + auth + "</html>").encode()
    elif where == "header":
        return ("status 429, key echoed in headers",
                [("send", response(429, dumps(error_obj(429, "rate")), [(b"Retry-After", key.encode()),
                                                                         (b"X-Echo", auth.encode())]))], True)
    elif where == "tool-args":
        body = dumps(completion(None, tool_calls=[{"id": "c1", "type": "function", "function": {
            "name": pick_tool(rng, req), "arguments": json.dumps({"t": key, "a": 1, "b": 2, "j": key})}}]))
    elif where == "metadata-key":
        code = rng.choice([200, 403])
        body = dumps(error_obj(403, "flagged", {"reasons": [key], "flagged_input": auth}))
    elif where == "escaped":
        # the key with every character \u-escaped: the parsed value holds it verbatim
        esc = "".join("\\u%04x" % ord(ch) for ch in key)
        code = rng.choice([200, 400])
        body = (b'{"error":{"code":400,"message":"' + esc.encode() + b'"}}') if code == 400 else \
            splice(completion("@X@"), "@X@", ('"' + esc + '"').encode())
    elif where == "model":
        body = dumps(completion("ok", extra={"model": key}))
    else:
        c = completion("partial " + key, finish="error")
        c["choices"][0]["error"] = {"code": 502, "message": "died with " + auth}
        body = dumps(c)
    return "status %d, key echoed in %s" % (code, where), [("send", response(code, body))], True


def case_large(rng, req):
    size = rng.choice([1, 2, 3, 5, 9]) * 1024 * 1024
    where = rng.choice(["content", "error-message", "error-200", "raw", "text", "padding", "gzip-bomb"])
    code = 200
    if where == "content":
        body = dumps(completion("x" * size))
    elif where == "error-message":
        code = rng.choice([400, 500, 429])
        body = dumps(error_obj(code, "m" * size))
    elif where == "error-200":
        body = dumps(error_obj(400, "e" * size, {"raw": "r" * 1000}))
    elif where == "raw":
        code = 502
        body = dumps(error_obj(502, "big raw", {"raw": "r" * size, "provider_name": "p" * 100000}))
    elif where == "text":
        code = rng.choice([200, 500])
        body = b"t" * size
    elif where == "padding":
        body = b" " * size + dumps(completion("after padding"))
    else:
        raw = b" " * (rng.choice([80, 200]) * 1024 * 1024) + dumps(completion("bomb"))
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        gz = comp.compress(raw) + comp.flush()
        return ("status 200, gzip bomb (%d bytes to %d)" % (len(gz), len(raw)),
                [("send", response(200, gz, [(b"Content-Encoding", b"gzip")]))], True)
    return "status %d, %d MB body (%s)" % (code, size >> 20, where), [("send", response(code, body))], True


def case_slow(rng, req):
    full = response(rng.choice([200, 200, 503]), dumps(completion("slow")))
    variant = rng.choice(["trickle", "late-headers", "stall-mid-body", "headers-then-stall"])
    acts = []
    if variant == "trickle":
        pieces = rng.choice([10, 30, 60])
        step = max(1, len(full) // pieces)
        delay = rng.choice([0.01, 0.03, 0.06])
        for i in range(0, len(full), step):
            acts += [("send", full[i:i + step]), ("sleep", delay)]
    elif variant == "late-headers":
        acts = [("sleep", rng.choice([0.5, 1.5, 3.5])), ("send", full)]
    elif variant == "stall-mid-body":
        cut = len(full) - rng.randint(1, 40)
        acts = [("send", full[:cut]), ("sleep", rng.choice([0.5, 2.0, 3.8])), ("send", full[cut:])]
    else:
        hdr = full.index(b"\r\n\r\n") + 4
        acts = [("send", full[:hdr]), ("sleep", rng.choice([1.0, 3.8])), ("close",)]
    total = sum(a[1] for a in acts if a[0] == "sleep")
    return "slow: %s (%.1f s)" % (variant, total), acts, False


def case_early_close(rng, req):
    full = response(rng.choice([200, 429, 500]), dumps(completion("cut off")))
    variant = rng.choice(["cut", "reset", "length-more", "length-less", "after-status", "mid-header",
                          "reset-after-headers"])
    if variant == "cut":
        cut = rng.randrange(1, len(full))
        return "closed after %d of %d bytes" % (cut, len(full)), [("send", full[:cut]), ("close",)], False
    if variant == "reset":
        return "connection reset before answering", [("reset",)], False
    if variant == "reset-after-headers":
        hdr = full.index(b"\r\n\r\n") + 4
        return "reset after the headers", [("send", full[:hdr + 5]), ("reset",)], False
    if variant == "length-more":
        body = dumps(completion("short"))
        data = head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body) + 1000))]) + body
        return "Content-Length 1000 bytes more than sent", [("send", data), ("close",)], False
    if variant == "length-less":
        body = dumps(completion("long"))
        data = head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body) // 2))]) + body
        return "Content-Length half of what is sent", [("send", data), ("close",)], False
    if variant == "after-status":
        return "closed after the status line", [("send", b"HTTP/1.1 200 OK\r\n"), ("close",)], False
    return "closed mid-header", [("send", b"HTTP/1.1 200 OK\r\nContent-Ty"), ("close",)], False


def case_empty(rng, req):
    variant = rng.choice(["nothing", "headers-only-close", "length-zero", "status-204", "no-length-close"])
    if variant == "nothing":
        return "empty reply (closed at once)", [("close",)], False
    if variant == "headers-only-close":
        return "headers without Content-Length, then close", [
            ("send", head(200, [("Content-Type", "application/json")])), ("close",)], False
    if variant == "length-zero":
        return "200 with Content-Length 0", [("send", response(200, b""))], True
    if variant == "status-204":
        return "204 No Content", [("send", head(204, []))], True
    body = dumps(completion("until close"))
    return "HTTP/1.0-style body until close", [
        ("send", head(200, [("Content-Type", "application/json")]) + body), ("close",)], False


def case_chunked(rng, req):
    body = dumps(completion("chunked"))
    variant = rng.choice(["valid", "bad-size", "no-terminator", "negative", "huge-size", "extension"])
    h = head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
    if variant == "valid":
        data = h + b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                            for i in range(0, len(body), 7)) + b"0\r\n\r\n"
        return "chunked, valid", [("send", data)], True
    if variant == "bad-size":
        data = h + b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    elif variant == "no-terminator":
        data = h + b"%x\r\n%s\r\n" % (len(body), body)
    elif variant == "negative":
        data = h + b"-5\r\n" + body + b"\r\n0\r\n\r\n"
    elif variant == "huge-size":
        data = h + b"ffffffffffffffffffff\r\n" + body
    else:
        data = h + b"%x;name=" % len(body) + b"v" * 5000 + b"\r\n" + body + b"\r\n0\r\n\r\n"
    return "chunked, %s" % variant, [("send", data), ("close",)], False


CASES = [  # (weight, builder)
    (8, case_ok), (9, case_status), (2, case_weird_status_line), (3, case_redirect),
    (3, case_informational), (7, case_headers), (3, case_random_bytes), (4, case_truncated_json),
    (6, case_deep), (6, case_huge_number), (8, case_bad_string), (9, case_error_any),
    (4, case_top_level), (9, case_odd_completion), (10, case_tool_calls), (6, case_echo_key),
    (2, case_large), (3, case_slow), (5, case_early_close), (3, case_empty), (3, case_chunked),
]


def case_names():
    return [b.__name__[5:] for _, b in CASES]


def plan(seed, n, attempt, req, only=None):
    """The response to request number n (its attempt-th repetition); only:
    the names of the cases allowed (case_names()), None for all."""
    rng = random.Random("%s/%s/%s" % (seed, n, attempt))
    cases = [(w, b) for w, b in CASES if only is None or b.__name__[5:] in only]
    if req.get("tools") and rng.random() < 0.5 and (only is None or "tool_calls" in only):
        builder = case_tool_calls
    elif attempt > 0 and rng.random() < 0.4 and (only is None or "ok" in only):
        builder = case_ok
    else:
        total = sum(w for w, _ in cases)
        x = rng.uniform(0, total)
        for w, builder in cases:
            x -= w
            if x <= 0:
                break
    desc, actions, keep = builder(rng, req)
    return desc, actions, keep


FIXTURE_PARAMS = {"fz_add": {"a": {"type": "number"}, "b": {"type": "number"}},
                  "fz_echo": {"t": {"type": "string"}}, "fz_json": {"j": {}},
                  "fz_fail": {"x": {"type": "integer"}}, "fz_drop": {"x": {"type": "integer"}},
                  "fz_victim": {"t": {"type": "string"}}}


def main(argv):
    """python3 responses.py SEED N [ATTEMPT] [--raw] [--tools a,b,...]: the
    response again.  --tools: the tool names the request declared, in its
    order (the driver's report shows them); without it, none."""
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) < 2:
        print(__doc__)
        return 2
    seed, n = args[0], int(args[1])
    attempt = int(args[2]) if len(args) > 2 else 0
    tools = []
    for a in argv:
        if a.startswith("--tools="):
            tools = [t for t in a[8:].split(",") if t]
    req = {"model": "fuzz/%d" % n, "auth": "Bearer sk-or-v1-FUZZSECRET-replay", "tools": tools,
           "params": {t: FIXTURE_PARAMS.get(re.sub(r"_w\d+$", "", t), {}) for t in tools}}
    desc, actions, keep = plan(seed, n, attempt, req)
    out = sys.stdout.buffer
    if "--raw" in argv:
        for a in actions:
            if a[0] == "send":
                out.write(a[1])
        return 0
    out.write(("seed %s, request %d, attempt %d: %s (keep-alive: %s)\n"
               % (seed, n, attempt, desc, keep)).encode())
    for a in actions:
        if a[0] == "send":
            data = a[1]
            shown = data if len(data) <= 600 else data[:500] + b"\n... [%d bytes in all] ..." % len(data) + data[-80:]
            out.write(b"send %d bytes:\n" % len(data) + shown + b"\n")
        else:
            out.write(("%s %s\n" % (a[0], a[1] if len(a) > 1 else "")).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
