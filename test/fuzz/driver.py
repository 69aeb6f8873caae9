#!/usr/bin/env python3
"""test/fuzz/driver.py: the fuzz driver of the openrouter extension.

Owns: the calls and the verdict.  Against a cluster whose openrouter.base_url
points at the fault-injecting server (server.py), for FUZZ_SECONDS it sends,
from several connections at once (a UTF-8 and a LATIN1 database, a plain role
and a superuser):

  - calls through the extension at the server: openrouter_chat,
    openrouter_chat_batch, openrouter_invoke_tools (and the follow-up turn with
    openrouter_tool_messages), openrouter_prefetch, computed columns; each with
    valid arguments, on_error => 'ignore' or 'abort', and a request number per
    request in the model name ("fuzz/N") that tells the server what to answer;
  - random arguments to EVERY SQL function of the extension (found in pg_proc
    through pg_depend, so new functions are covered without a change here):
    random jsonb (deep, huge, odd types), random text (binary, very long),
    NULLs, odd regclass, name, regprocedure and tid values.

It asserts, and reports every violation with the seed and the call:
  - no crash: no call loses its connection, every backend answers at the end,
    and the server log has no "terminated by signal" / "was terminated";
  - only typed SQLSTATEs: never class XX (internal error), neither raised
    nor kept in a returned value ({"error": {"sqlstate": "XX000", ...}});
  - on_error => 'ignore' never raises for a response's fault: with valid
    arguments nothing may raise; with random ones no class-OR SQLSTATE; and a
    value it returns is a JSON object that keeps the server's error text,
    whose "sqlstate" (what 'abort' would raise) is of class OR;
  - on_error => 'abort' raises a response's fault as a class-OR SQLSTATE (or,
    from openrouter_invoke_tools, the tool's own error);
  - no hang: statement_timeout (57014) or a backend that does not answer is a
    failure (the settings bound every call well below it);
  - the API key (sk-or-v1-FUZZSECRET...) appears in no error field, notice,
    returned value or the server log;
  - no error message, detail or hint is longer than FUZZ_MESSAGE_LIMIT bytes.

Every call is reproducible from (seed, call id): its arguments come from a
generator seeded with both, its request numbers are derived from the call id,
and the server answers request N from (seed, N, attempt).  Replay some calls:
FUZZ_SEED=S FUZZ_CALLS=id,id bash test/fuzz/run.sh.
"""

import argparse
import collections
import json
import os
import random
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgwire import Connection, ConnectionLost, QueryTimeout, quote_literal as q  # noqa: E402

MARKER = "FUZZSECRET"
STATEMENT_TIMEOUT = 30          # seconds; every call's settings keep it below about 20 s
GRACE = 15                      # seconds past statement_timeout before a call counts as hung
ATTEMPT_TIMEOUT = 3             # openrouter.timeout, seconds
MAX_RETRY_WAIT = 1              # openrouter.max_retry_wait, seconds
CALL_BUDGET = 18                # seconds a call may take in the worst case by its settings
# what openrouter_invoke_tools may raise with 'abort' besides class OR: a
# tool's own failure (fz_fail raises P0001; after fz_drop the next tool may be
# gone, 42883; the defect there would be XX000)
TOOL_OWN_SQLSTATES = {"P0001", "42883"}


# ---------------------------------------------------------------------------
# the verdict

class Report:
    def __init__(self, seed, message_limit):
        self.seed = seed
        self.message_limit = message_limit
        self.lock = threading.Lock()
        self.sqlstates = collections.Counter()
        self.sqlstates_by_phase = {"response": collections.Counter(), "arguments": collections.Counter()}
        self.calls = collections.Counter()        # statements run, by kind
        self.functions = collections.Counter()    # random-argument calls, by function
        self.violations = collections.OrderedDict()
        self.timeouts = []                        # 57014s and unanswered calls
        self.notes = []

    def count(self, kind, phase, sqlstate):
        with self.lock:
            self.calls[kind] += 1
            if sqlstate:
                self.sqlstates[sqlstate] += 1
                self.sqlstates_by_phase[phase][sqlstate] += 1

    def violation(self, what, call, err=None, extra="", group=""):
        """Records one violation; deduplicated by what + SQLSTATE + message shape."""
        sqlstate = (err or {}).get("sqlstate", "")
        message = (err or {}).get("message", "")
        shape = re.sub(r"0x[0-9a-f]+|\d+", "N", message)[:70]
        shape = re.sub(r'"[^"]*"', '"…"', shape)
        # a leak or an oversized text is one defect whatever the failure that carried it
        key = (what, group) if what.startswith(("key leak", "huge")) else (what, sqlstate, shape, group)
        with self.lock:
            v = self.violations.get(key)
            if v is None:
                v = self.violations[key] = {"what": what, "sqlstates": collections.Counter(), "count": 0,
                                            "examples": []}
            v["count"] += 1
            if sqlstate:
                v["sqlstates"][sqlstate] += 1
            ex = {"call": call.ident, "kind": call.kind, "db": call.db, "role": call.role, "tools": list(call.tools),
                  "sql": call.current_sql, "requests": list(call.requests), "extra": extra,
                  "error": {k: (e if len(e) < 600 else e[:600] + "... [%d chars]" % len(e))
                            for k, e in (err or {}).items() if not k.startswith("_raw_")
                            and k in ("sqlstate", "message", "detail", "hint", "context")}}
            v["examples"].append(ex)
            # keep the smallest reproductions: single-request calls first
            v["examples"].sort(key=lambda e: (len(e["requests"]) or 99, len(e["sql"])))
            del v["examples"][3:]


class Call:
    """One fuzz call: a few SQL statements with the same expectations."""

    def __init__(self, ident, kind, db, role):
        self.ident, self.kind, self.db, self.role = ident, kind, db, role
        self.requests = []
        self.tools = []         # names of the declared tools, in order (replaying a response needs them)
        self.current_sql = ""


# ---------------------------------------------------------------------------
# random values

def rand_text(rng, latin1, max_len=200):
    r = rng.random()
    n = rng.choice([0, 1, 5, 20, max_len, rng.randint(0, max_len)])
    if r < 0.3:
        alphabet = "abcxyz ABC_019-'\"\\$;(){}[],.:\n\t/%*?"
        return "".join(rng.choice(alphabet) for _ in range(n))
    if r < 0.5 or latin1:   # "binary": any byte but NUL (LATIN1 connections carry every byte)
        top = 0xFF if latin1 else 0x7FF
        return "".join(chr(rng.randint(1, top)) for _ in range(n))
    if r < 0.8:
        return "".join(chr(rng.choice([rng.randint(1, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])) for _ in range(n))
    return rng.choice(["é", "中文", "😀", "\u202e", "\ufeff", "\uffff", "x" * 100000, "ß" * 30000,
                       "\r\nX-Injected: 1", "a\u0301", "\U0010ffff"])


def rand_json(rng, latin1, depth=0):
    """Random JSON text (usually valid, sometimes hostile)."""
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice([
            "null", "true", "false", "0", "-1", "3.14", "1e308", "-0", "429",
            "1e999999", "9" * rng.choice([40, 1000, 200000]), "1e-999999",
            json.dumps(rand_text(rng, latin1, 50), ensure_ascii=rng.random() < 0.3 and not latin1),
            '"\\u0000"', '"\\ud800"', '"\\u4e2d"' if not latin1 else '"\\u00e9"', '""',
            '"user"', '"ignore"', '"fuzz/1"'])
    if r < 0.45:
        return "[" + ",".join(rand_json(rng, latin1, depth + 1) for _ in range(rng.randint(0, 4))) + "]"
    if r < 0.5:
        d = rng.choice([100, 5000, 100000])
        return rng.choice(["[" * d + "]" * d, '{"a":' * d + "1" + "}" * d])
    if r < 0.53:
        return rng.choice(["{", "[1,", "nul", "{'a':1}", "[1 2]", '{"a"}', "", " ", "NaN"])
    keys = ["role", "content", "messages", "model", "tools", "tool_choice", "function", "name",
            "arguments", "choices", "message", "tool_calls", "error", "code", "stream", "type",
            "auto", "required", "tool", "parallel_tool_calls", "", "a", "id", "provider"]
    items = ["%s:%s" % (json.dumps(rng.choice(keys) if rng.random() < 0.85 else rand_text(rng, latin1, 20),
                                   ensure_ascii=False),
                        rand_json(rng, latin1, depth + 1)) for _ in range(rng.randint(0, 5))]
    return "{" + ",".join(items) + "}"


class Fixtures:
    """Names the driver created in each database for one worker (suffix _wN)."""

    def __init__(self, w):
        s = "_w%d" % w
        self.suffix = s
        self.tables = ["fz_t" + s, "fz_nopk" + s, "fz_view" + s, "fz_part" + s, '"Fz Odd, Name%s"' % s,
                       "fz_seq" + s, "fz_mat" + s, "fz_chain" + s]
        self.tools = ["fz_add(numeric,numeric)", "fz_echo(text)", "fz_json(jsonb)", "fz_fail(integer)",
                      "fz_drop%s(integer)" % s, "fz_victim%s(text)" % s]


def messages_json(rng, latin1):
    content = rng.choice(["hello", "What is 2 + 2?", "café", "x" * 3000, "quote ' and \" and \\",
                          "newline\nand\ttab", "" if rng.random() < 0.1 else "prompt"] +
                         ([] if latin1 else ["中文", "😀 emoji", "\u202e rtl"]))
    msgs = []
    if rng.random() < 0.3:
        msgs.append({"role": "system", "content": "You are terse."})
    msgs.append({"role": "user", "content": content})
    if rng.random() < 0.1:
        msgs.append({"role": "assistant", "content": [{"type": "text", "text": "parts"}]})
        msgs.append({"role": "user", "content": "again"})
    return json.dumps(msgs, ensure_ascii=False)


def model_kwargs(rng):
    return rng.choice([None, '{"temperature": 0.5}', '{"max_tokens": 10, "top_p": 0.9}',
                       '{"seed": 42, "stop": ["\\n"]}', '{"models": ["a/b", "c/d"]}',
                       '{"response_format": {"type": "json_object"}}', '{"user": "fuzz"}',
                       '{"reasoning": {"effort": "low"}}'])


# ---------------------------------------------------------------------------
# a worker: one connection, one database, one role

class Worker(threading.Thread):
    def __init__(self, driver, w, db, role, encoding):
        super().__init__(daemon=True)
        self.d, self.w, self.db, self.role, self.encoding = driver, w, db, role, encoding
        self.latin1 = db == "fuzz_latin1"     # what the database can hold
        self.fx = Fixtures(w)
        self.conn = None
        self.settings = {}
        self.functions = []

    # --- connection ------------------------------------------------------

    def connect(self):
        deadline = time.monotonic() + 30
        while True:
            try:
                self.conn = Connection(self.d.host, self.d.port, self.role, self.db, self.encoding)
                break
            except (ConnectionLost, OSError, QueryTimeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.settings = {}
        base = ("SET statement_timeout = '%ds'; SET openrouter.timeout = '%ds'; "
                "SET openrouter.connect_timeout = '2s'; SET openrouter.max_retry_wait = '%ds'"
                % (STATEMENT_TIMEOUT, ATTEMPT_TIMEOUT, MAX_RETRY_WAIT))
        self.conn.query(base, 10)
        self.configure_key()

    def configure_key(self):
        # the role's stored key, and on every other connection the session's too
        res = self.conn.query("SELECT openrouter_configure_client(%s)" % q(self.d.key), 10)
        if res.error:
            self.d.report.notes.append("configuring the key failed: %s" % res.error.get("message"))
        if self.w % 2 == 1:
            self.conn.query("SET openrouter.api_key = %s" % q(self.d.key), 10)

    def apply_settings(self, wanted):
        changed = {k: v for k, v in wanted.items() if self.settings.get(k) != v}
        if changed:
            self.conn.query("; ".join("SET %s = %s" % (k, q(v)) for k, v in changed.items()), 10)
            self.settings.update(changed)

    # --- running statements --------------------------------------------------

    def run(self):
        try:
            self.connect()
            for ident in self.d.call_ids(self.w):
                self.one_call(ident)
            self.final_check()
        except Exception as e:  # a bug of the driver itself: report, do not hide
            import traceback
            self.d.report.notes.append("worker %d stopped: %s\n%s" % (self.w, e, traceback.format_exc()))
            self.d.driver_errors += 1

    def final_check(self):
        try:
            res = self.conn.query("SELECT 1", 10)
            if res.error or res.rows != [[b"1"]]:
                raise ConnectionLost(str(res.error))
        except (ConnectionLost, QueryTimeout) as e:
            call = Call("final", "final", self.db, self.role)
            self.d.report.violation("crash: the backend does not answer at the end", call, None, str(e))

    def execute(self, call, sql, expect, ignore=False, timeout=None):
        """Runs one statement and checks it.  expect: 'ignore' (nothing may
        raise), 'abort' (only class OR or a tool's own SQLSTATE), 'loose'
        (anything typed; with ignore=True no class OR).  Returns the Result or
        None when the connection had to be replaced."""
        rep = self.d.report
        call.current_sql = sql if len(sql) <= 1500 else sql[:1200] + " ... [%d chars]" % len(sql)
        phase = "arguments" if call.kind.startswith("args") else "response"
        try:
            res = self.conn.query(sql, timeout or STATEMENT_TIMEOUT + GRACE)
        except QueryTimeout:
            rep.violation("hang: no answer within statement_timeout + %d s" % GRACE, call)
            rep.timeouts.append(call.ident)
            self.conn.cancel()
            try:
                if self.conn.read_result(15).status == b"E":
                    self.conn.query("ROLLBACK", 15)
            except (QueryTimeout, ConnectionLost):
                self.conn.close()
                self.connect()
            rep.count(call.kind, phase, "hang")
            return None
        except ConnectionLost as e:
            rep.violation("crash: the connection was lost during the call", call, None, str(e))
            rep.count(call.kind, phase, "lost")
            time.sleep(1)
            self.connect()
            return None
        err = res.error
        st = err.get("sqlstate") if err else None
        rep.count(call.kind, phase, st)
        self.check_texts(call, res)
        if res.status == b"E":
            self.conn.query("ROLLBACK", 15)
        if err is None:
            return res
        if st.startswith("XX"):
            rep.violation("internal error (class XX)", call, err)
        elif st == "57014":
            rep.violation("hang: statement_timeout (57014)", call, err)
            rep.timeouts.append(call.ident)
        elif expect == "ignore":
            rep.violation("on_error => 'ignore' raised for a response's fault", call, err)
        elif expect == "abort" and not (st.startswith("OR") or (call.kind == "invoke" and st in TOOL_OWN_SQLSTATES)):
            rep.violation("on_error => 'abort' raised a response's fault as a non-OR SQLSTATE", call, err)
        # ORK01 (no key) and ORA02 (no model, no default model) are raised
        # before anything is sent, whatever on_error says: configuration, not
        # a response's fault
        elif ignore and st.startswith("OR") and st not in ("ORK01", "ORA02"):
            rep.violation("on_error => 'ignore' (random arguments) raised a class-OR SQLSTATE", call, err)
        return res

    def check_texts(self, call, res):
        rep = self.d.report
        marker = MARKER.encode()
        for e in ([res.error] if res.error else []) + res.notices:
            for field in ("message", "detail", "hint", "context"):
                raw = e.get("_raw_" + field, b"")
                if marker in raw:
                    rep.violation("key leak in the %s of an %s" % (field, "error" if e is res.error else "notice"),
                                  call, e)
                # what the server sent must be capped; a text that echoes the
                # caller's own oversized argument is PostgreSQL's usual behaviour
                if field != "context" and len(raw) > rep.message_limit and not call.kind.startswith("args"):
                    rep.violation("huge %s (over %d bytes)" % (field, rep.message_limit), call, e,
                                  "%d bytes" % len(raw))
        for row in res.rows:
            for v in row:
                # an internal error caught and kept as a value is still an internal error
                m = re.search(rb'"sqlstate": "(XX\w*)"', v) if v is not None else None
                if m:
                    at = m.start()
                    rep.violation("internal error (class XX) kept in a returned value", call,
                                  {"sqlstate": m.group(1).decode()},
                                  v[max(0, at - 160):at + 40].decode("utf-8", "replace"))
                if v is not None and marker in v:
                    at = v.find(marker)
                    before = v[max(0, at - 300):at].decode("utf-8", "replace")
                    keys = re.findall(r'"([A-Za-z_]+)": ', before)
                    where = keys[-1] if keys else "?"
                    rep.violation("key leak in a returned value (under \"%s\")" % where, call, res.error,
                                  "...%s..." % v[max(0, at - 120):at + 40].decode("utf-8", "replace"), where)

    # --- the calls -----------------------------------------------------------

    def one_call(self, ident):
        rng = random.Random("%s/call/%d" % (self.d.seed, ident))
        kinds = [("chat", 30), ("batch", 14), ("invoke", 14), ("prefetch", 5), ("computed", 5),
                 ("args", 32)]
        x = rng.uniform(0, sum(w for _, w in kinds))
        for kind, wt in kinds:
            x -= wt
            if x <= 0:
                break
        self.next_n = ident * 100
        call = Call(ident, kind, self.db, self.role)
        getattr(self, "call_" + kind)(rng, call)

    def request(self, call):
        self.next_n += 1
        call.requests.append(self.next_n)
        return "fuzz/%d" % self.next_n

    def settings_for(self, rng, requests):
        """Random settings whose worst case (every request as slow as the server
        can be) stays within CALL_BUDGET; returns how many requests fit."""
        retries = rng.choice([0, 0, 1, 2])
        conc = rng.choice([1, 4, 32, 32])
        per = (retries + 1) * ATTEMPT_TIMEOUT + retries * MAX_RETRY_WAIT + 0.5
        rounds = max(1, int(CALL_BUDGET // per))
        fit = max(1, min(requests, rounds * conc))
        self.apply_settings({
            "openrouter.max_retries": str(retries),
            "openrouter.max_concurrency": str(conc),
            "openrouter.max_response_size": rng.choice(["64MB", "64MB", "64MB", "1MB", "100kB"]),
            "openrouter.requests_per_minute": rng.choice(["0", "0", "0", "60000"]),
        })
        return fit

    def on_error(self, rng):
        return rng.choice(["ignore", "ignore", "abort"])

    def tools_expr(self, rng, call=None):
        chosen = [t for t in self.fx.tools if rng.random() < 0.6] or [self.fx.tools[0]]
        if call is not None:
            call.tools = [t.split("(")[0] for t in chosen]
        return "openrouter_tools(%s)" % ", ".join(q(t) for t in chosen)

    def chat_expr(self, rng, call, on_error, tools=None, messages=None):
        m = messages or ("%s::jsonb" % q(messages_json(rng, self.latin1)) if rng.random() < 0.7
                         else "openrouter_messages(%s, %s)" % (q(rng.choice(["hi", "café", "x" * 500])),
                                                               rng.choice(["NULL", q("system")])))
        args = [m, q(self.request(call))]
        mk = model_kwargs(rng)
        if mk:
            args.append("model_kwargs => %s" % q(mk))
        if tools:
            args.append("tools => " + tools)
            if rng.random() < 0.3:
                args.append("tool_choice => %s" % q(rng.choice(
                    ['"auto"', '"required"', '{"auto": true, "required": false, "tool": null, "parallel_tool_calls": true}'])))
        if rng.random() < 0.2:
            args.append("provider => %s" % q('{"order": ["fuzz"], "allow_fallbacks": false}'))
        if rng.random() < 0.1:
            args.append("transforms => %s" % q('["middle-out"]'))
        if rng.random() < 0.2:
            args.append("site_url => %s, site_name => %s" % (q("https://fuzz.example"), q(rng.choice(["Fuzz", "Café"]))))
        if on_error != "default":
            args.append("on_error => %s" % q(on_error))
        return "openrouter_chat(%s)" % ", ".join(args)

    def check_value(self, call, rows, what):
        """A value returned with on_error => 'ignore' is a JSON object; an error keeps the server's text."""
        for row in rows:
            for v in row:
                if v is None:
                    continue
                if not v.lstrip().startswith(b"{"):
                    self.d.report.violation("on_error => 'ignore' returned a non-object as %s" % what, call, None,
                                            v[:200].decode("utf-8", "replace"))
                    continue
                if v.startswith(b'{"error": {') and call.kind != "invoke" and len(v) < 20000000:
                    # the failure a value describes is what 'abort' raises: class OR
                    try:
                        st = json.loads(v).get("error", {}).get("sqlstate")
                    except (ValueError, RecursionError, AttributeError):
                        st = None
                    if isinstance(st, str) and not st.startswith("OR"):
                        self.d.report.violation("on_error => 'ignore' returned a failure with a non-OR sqlstate", call,
                                                {"sqlstate": st}, v[:300].decode("utf-8", "replace"))
                if b'"error"' in v[:20] and len(v) < 100000 and len(call.requests) == 1:
                    self.d.pending_error_checks.append((call.ident, call.kind, call.db, call.role,
                                                        call.current_sql, list(call.requests), v))

    def call_chat(self, rng, call):
        self.settings_for(rng, 1)
        on_error = rng.choice(["ignore", "ignore", "abort", "default"])
        tools = self.tools_expr(rng, call) if rng.random() < 0.3 else None
        sql = "SELECT %s" % self.chat_expr(rng, call, on_error, tools)
        res = self.execute(call, sql, "ignore" if on_error == "ignore" else "abort")
        if res and not res.error and on_error == "ignore":
            self.check_value(call, res.rows, "the answer of openrouter_chat")

    def call_batch(self, rng, call):
        k = self.settings_for(rng, rng.choice([1, 2, 3, 5, 8, 12]))
        on_error = self.on_error(rng)
        reqs = []
        for _ in range(k):
            r = rng.random()
            if r < 0.08:
                reqs.append("NULL")
                continue
            obj = {"messages": json.loads(messages_json(rng, self.latin1)), "model": self.request(call)}
            if r < 0.12:
                del obj["messages"]
            mk = model_kwargs(rng)
            if mk:
                obj["model_kwargs"] = json.loads(mk)
            if rng.random() < 0.15:
                obj["site_name"] = "Fuzz"
            reqs.append(q(json.dumps(obj, ensure_ascii=False)) + "::jsonb")
        sql = "SELECT r FROM openrouter_chat_batch(ARRAY[%s]::jsonb[], on_error => %s) AS r" % (
            ", ".join(reqs), q(on_error))
        res = self.execute(call, sql, on_error)
        if res and not res.error:
            if len(res.rows) != k:
                self.d.report.violation("openrouter_chat_batch returned %d rows for %d requests" % (len(res.rows), k), call)
            if on_error == "ignore":
                self.check_value(call, res.rows, "an answer of openrouter_chat_batch")

    def call_invoke(self, rng, call):
        self.settings_for(rng, 1)
        self.apply_settings({"openrouter.max_retries": "1"})
        tools = self.tools_expr(rng, call)
        on_error = self.on_error(rng)
        msgs = q(messages_json(rng, self.latin1)) + "::jsonb"
        first = self.chat_expr(rng, call, "ignore", tools, msgs)
        sql = ("SELECT openrouter_invoke_tools(%s, %s, on_error => %s)" % (tools, first, q(on_error)))
        res = self.execute(call, sql, on_error)
        if res and not res.error and on_error == "ignore":
            self.check_value(call, res.rows, "the result of openrouter_invoke_tools")
        if res and not res.error and rng.random() < 0.5:
            # the second turn: the answer and the results go back to the model
            # (the first request is sent again: the server answers its attempt 1)
            # so the server log's last attempt of it is no longer the first
            # statement's, whose value check_errors_kept then cannot judge
            with self.d.lock:
                self.d.resent.update(call.requests)
            self.next_n = call.ident * 100 + 50
            second = self.chat_expr(rng, call, "ignore", tools, "openrouter_tool_messages(%s, r.resp, r.res)" % msgs)
            sql = ("WITH c AS (SELECT %s AS resp), r AS (SELECT resp, openrouter_invoke_tools(%s, resp, on_error => 'ignore') "
                   "AS res FROM c) SELECT r.res, %s FROM r" % (first, tools, second))
            self.execute(call, sql, "loose", ignore=True)

    def call_prefetch(self, rng, call):
        k = self.settings_for(rng, rng.choice([1, 2, 4, 6]))
        on_error = self.on_error(rng)
        rows = ", ".join("(%s, %d)" % (q(rng.choice(["a", "b", "café", "long " * 100])), int(self.request(call)[5:]))
                         for _ in range(k))
        expr = "openrouter_chat(openrouter_messages(p), 'fuzz/' || n, on_error => %s)" % q(on_error)
        query = "SELECT %s FROM (VALUES %s) AS v(p, n)" % (expr, rows)
        sql = "BEGIN; SELECT openrouter_prefetch($q$%s$q$); %s; COMMIT" % (query, query)
        res = self.execute(call, sql, on_error)
        if res and not res.error and on_error == "ignore":
            # the rows of the second SELECT (BEGIN, the prefetch's count, SELECT, COMMIT)
            self.check_value(call, res.groups[2], "an answer after openrouter_prefetch")

    def call_computed(self, rng, call):
        self.settings_for(rng, 4)
        self.apply_settings({"openrouter.max_retries": rng.choice(["0", "1"]), "openrouter.max_concurrency": "32"})
        on_error = self.on_error(rng)
        t = "fz_cc_%d" % call.ident
        base = call.ident * 100
        call.requests = [base + i for i in range(1, 7)]
        steps = [
            ("loose", "CREATE TABLE %s (id int PRIMARY KEY, prompt text)" % t),
            ("loose", "INSERT INTO %s VALUES (1, 'a'), (2, 'café'), (3, NULL)" % t),
            (on_error, "SELECT openrouter_add_computed_column(%s, 'response', $e$openrouter_chat(openrouter_messages(prompt), "
                       "'fuzz/' || (%d + id))$e$, on_error => %s)" % (q(t), base, q(on_error))),
            (on_error, "INSERT INTO %s VALUES (4, 'd'), (5, 'e'), (6, 'f')" % t),
            (on_error, "UPDATE %s SET prompt = prompt || '!' WHERE id IN (1, 4)" % t),
            (on_error, "SELECT openrouter_recompute(%s, 'response', errors_only => true)" % q(t)),
            ("loose", "SELECT id, response FROM %s ORDER BY id" % t),
        ]
        for expect, sql in steps:
            res = self.execute(call, sql, expect)
            if res is None or res.error:
                break
            if on_error == "ignore" and sql.startswith("SELECT id"):
                self.check_value(call, [[r[1]] for r in res.rows], "a computed cell")
        self.execute(call, "DROP TABLE IF EXISTS %s" % t, "loose")

    # --- random arguments to every function ----------------------------------

    def call_args(self, rng, call):
        self.apply_settings({"openrouter.max_retries": "0", "openrouter.max_concurrency": "32",
                             "openrouter.max_response_size": "64MB", "openrouter.requests_per_minute": "0"})
        fn = rng.choice(self.d.functions)
        call.kind = "args:" + fn["name"]
        args = []
        named = fn["names"] and not fn["variadic"] and rng.random() < 0.3
        n_in = len(fn["types"])
        n_args = n_in
        if fn["ndefaults"] and rng.random() < 0.4:
            n_args = n_in - rng.randint(1, fn["ndefaults"])
        on_error_value = None
        for i in range(n_args):
            typ = fn["types"][i]
            val = self.rand_value(rng, typ, fn["names"][i] if fn["names"] else "", call)
            if fn["names"] and fn["names"][i] == "on_error":
                on_error_value = val
            if fn["variadic"] and i == n_in - 1 and not val.startswith("NULL"):
                val = "VARIADIC " + val
            args.append(("%s => %s" % (fn["names"][i], val)) if named else val)
        if named:
            rng.shuffle(args)
        if fn["kind"] == "p":
            sql = "CALL %s(%s)" % (fn["qualified"], ", ".join(args))
        else:
            sql = "SELECT %s(%s)" % (fn["qualified"], ", ".join(args))
        ignore = on_error_value is not None and "'ignore'" in on_error_value
        self.d.report.functions[fn["signature"]] += 1
        self.execute(call, sql, "loose", ignore=ignore)
        if fn["name"] == "openrouter_configure_client":
            self.configure_key()        # the role's key for the next calls

    def rand_value(self, rng, typ, name, call):
        if rng.random() < 0.12:
            return "NULL::%s" % typ
        L = self.latin1
        fx = self.fx
        if typ in ("jsonb", "json"):
            r = rng.random()
            if name == "messages" or (r < 0.25 and name in ("", "tools", "response")):
                text = messages_json(rng, L) if rng.random() < 0.7 else rand_json(rng, L)
            elif name == "tools" and r < 0.6:
                return self.tools_expr(rng)
            elif name == "response" and r < 0.7:
                text = json.dumps({"choices": [{"message": {"role": "assistant", "tool_calls": [
                    {"id": "c%d" % i, "type": "function", "function": {
                        "name": rng.choice(["fz_add", "fz_echo", "fz_json", "fz_fail", "fz_drop" + fx.suffix,
                                            "fz_victim" + fx.suffix, "nope", ""]),
                        "arguments": rng.choice(['{"a": 1, "b": 2}', '{"t": "x"}', '{"j": [1]}', "{}", "[",
                                                 '{"x": 1}', '{"a": "1e999999", "b": 1}', rand_json(rng, L, 3)])}}
                    for i in range(rng.randint(0, 3))]}}]}, ensure_ascii=False)
            elif name == "tool_results" and r < 0.6:
                text = rng.choice(['{"fz_add": [3]}', '{"fz_add": null}', '{"fz_add": [1, 2, 3]}', "{}", "[]"])
            elif name == "model_kwargs" and r < 0.5:
                text = rng.choice([model_kwargs(rng) or "{}", '{"stream": true}', '{"messages": []}',
                                   '{"model": "x"}', '{"stream": false}', '{"": null}'])
            elif name == "tool_choice" and r < 0.6:
                text = rng.choice(['"auto"', '"none"', '"bogus"', '{"auto": true}', '{"tool": "fz_add"}',
                                   '{"auto": true, "required": true}', '{"tool": 5}', "[]", "null"])
            else:
                text = rand_json(rng, L)
            return "%s::%s" % (q(text), typ)
        if typ == "jsonb[]":
            elems = []
            for _ in range(rng.choice([0, 1, 2, 3, 5])):
                r = rng.random()
                if r < 0.6:
                    obj = {"messages": json.loads(messages_json(rng, L)), "model": self.request(call)}
                    if rng.random() < 0.3:
                        try:
                            odd = json.loads(rand_json(rng, L, 3)) if rng.random() < 0.5 else "x"
                        except (ValueError, RecursionError):
                            odd = "not json"
                        obj[rng.choice(["tools", "model_kwargs", "on_error", "bogus", "site_url"])] = odd
                    elems.append(q(json.dumps(obj, ensure_ascii=False)) + "::jsonb")
                elif r < 0.7:
                    elems.append("NULL")
                else:
                    elems.append(q(rand_json(rng, L)) + "::jsonb")
            form = rng.random()
            if form < 0.8:
                return "ARRAY[%s]::jsonb[]" % ", ".join(elems) if elems else "'{}'::jsonb[]"
            return rng.choice(["'[5:6]={\"{}\",null}'::jsonb[]", "'{{\"{}\"},{\"[]\"}}'::jsonb[]",
                               "'{{}}'::jsonb[]", "array_fill('{}'::jsonb, ARRAY[2,2])"])
        if typ == "text":
            if name == "on_error":
                return q(rng.choice(["ignore", "ignore", "abort", "IGNORE", "", "skip", "ignore ", rand_text(rng, L, 10)]))
            if name == "model":
                return q(rng.choice([self.request(call), "", " ", "x" * 10000, "fuzz/\r\n", "../../etc",
                                     rand_text(rng, L, 30)]))
            if name == "query":
                return q(rng.choice([
                    "SELECT openrouter_chat(openrouter_messages('p'), %s, on_error => 'ignore')" % q(self.request(call)),
                    "SELECT openrouter_chat(openrouter_messages(p), 'fuzz/' || n) FROM (VALUES ('a', %d)) v(p, n)"
                    % int(self.request(call)[5:]),
                    "SELECT 1", "SELECT", "", "SELECT 1; SELECT 2", "DELETE FROM fz_t%s" % fx.suffix,
                    "COMMIT", "SELECT openrouter_prefetch('SELECT 1')", "VALUES (1)",
                    "SELECT * FROM fz_t%s" % fx.suffix, "SELECT 1/0", rand_text(rng, L, 100)]))
            if name == "expression":
                return q(rng.choice([
                    "openrouter_chat(openrouter_messages(prompt), 'fuzz/' || (%d + id), on_error => 'ignore')"
                    % (call.ident * 100 + 60),
                    "prompt || '!'", "1/0", "id", "(SELECT 1)", "random()", "", "prompt)", "x" * 1000,
                    "openrouter_chat(NULL, 'm')", "ctid::text", "nosuchcol", rand_text(rng, L, 50)]))
            if name in ("site_url", "site_name"):
                return q(rng.choice(["https://fuzz.example", "a\r\nX-Injected: 1", "café", "x" * 20000, "",
                                     rand_text(rng, L, 40)]))
            if name == "api_key":
                return q(rng.choice(["sk-or-v1-other", "", "x" * 10000, "a\r\nb", rand_text(rng, L, 40)]))
            if name == "row_filter":
                return q(rng.choice(["true", "id = 1", "false", "1/0 = 1", "", "); DROP TABLE x; --",
                                     rand_text(rng, L, 40)]))
            return q(rand_text(rng, L, rng.choice([20, 200, 5000])))
        if typ == "name":
            return q(rng.choice(["response", "prompt", "id", "n", "ctid", "xmin", "", "x" * 100, "a, b",
                                 '"a, b"', "answer", "Response", "openrouter_new_rows", "é",
                                 rand_text(rng, L, 20)])) + "::name"
        if typ == "regclass":
            if rng.random() < 0.15:
                return "%d::oid::regclass" % rng.choice([0, 1, 1259, 123456, 4294967295, 16384])
            pool = fx.tables + ["pg_class", "nosuchtable", "pg_temp.nope", "information_schema.tables"]
            if self.role != "postgres":
                pool += ["openrouter_computed_column", "openrouter_api_key"]
            return q(rng.choice(pool)) + "::regclass"
        if typ == "regprocedure[]":
            pool = fx.tools + ["lower(text)", "now()", "count(\"any\")", "generate_series(integer,integer)",
                               "array_agg(anynonarray)", "pg_backend_pid()", "int4pl(integer,integer)",
                               "openrouter_messages(text,text)", "fz_proc%s(integer)" % fx.suffix,
                               "fz_out%s(integer)" % fx.suffix]
            elems = []
            for _ in range(rng.choice([0, 1, 2, 3])):
                if rng.random() < 0.1:
                    elems.append("%d::oid::regprocedure" % rng.choice([0, 123456, 4294967295]))
                else:
                    elems.append(q(rng.choice(pool)) + "::regprocedure")
            return "ARRAY[%s]::regprocedure[]" % ", ".join(elems) if elems else "'{}'::regprocedure[]"
        if typ in ("integer", "smallint", "bigint"):
            return "%d::%s" % (rng.choice([0, 1, -1, 2, 500, 2147483647, -2147483648, rng.randint(-10, 10000)]), typ)
        if typ == "boolean":
            return rng.choice(["true", "false"])
        if typ == "tid[]":
            elems = [rng.choice(["(0,1)", "(0,0)", "(0,2)", "(4294967295,65535)", "(1,1)"]) for _ in range(rng.randint(0, 3))]
            return "ARRAY[%s]::tid[]" % ", ".join(q(e) for e in elems) if elems else "'{}'::tid[]"
        # any other type: a random literal, or NULL
        return rng.choice(["NULL::%s" % typ, "%s::%s" % (q(rand_text(rng, L, 10)), typ)])


# ---------------------------------------------------------------------------
# setup and the run

SETUP_DB = r"""
CREATE EXTENSION openrouter;
GRANT CREATE ON SCHEMA public TO fuzz_user;
"""

# the tools every worker of a database declares (created once, by fuzz_user)
TOOLS = r"""
CREATE FUNCTION fz_add(a numeric, b numeric) RETURNS numeric LANGUAGE sql AS 'SELECT a + b';
COMMENT ON FUNCTION fz_add(numeric, numeric) IS 'adds';
CREATE FUNCTION fz_echo(t text) RETURNS text LANGUAGE sql AS 'SELECT t';
COMMENT ON FUNCTION fz_echo(text) IS 'echoes';
CREATE FUNCTION fz_json(j jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT j';
CREATE FUNCTION fz_fail(x int DEFAULT 0) RETURNS int LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'fz_fail was called with %', x; END$$;
"""

# each worker's own objects (suffix _wN), created by the worker's role, so
# that no two connections change the same object
FIXTURES = r"""
CREATE TABLE fz_t{s} (id int PRIMARY KEY, prompt text, n int);
INSERT INTO fz_t{s} SELECT i, 'prompt ' || i, i FROM generate_series(1, 5) i;
CREATE TABLE fz_nopk{s} (x text);
CREATE VIEW fz_view{s} AS SELECT * FROM fz_t{s};
CREATE TABLE fz_part{s} (id int, prompt text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE "Fz Odd, Name{s}" ("a, b" int PRIMARY KEY, n int, prompt text);
INSERT INTO "Fz Odd, Name{s}" VALUES (1, 1, 'x');
CREATE SEQUENCE fz_seq{s};
CREATE MATERIALIZED VIEW fz_mat{s} AS SELECT 1 AS id;
CREATE TABLE fz_chain{s} (id int PRIMARY KEY, prompt text);
INSERT INTO fz_chain{s} VALUES (1, 'p');
CREATE PROCEDURE fz_proc{s}(x int) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION fz_out{s}(x int, OUT y int) LANGUAGE sql AS 'SELECT x';
-- a tool that drops and creates again another declared tool (issue 7, point 8)
CREATE FUNCTION fz_victim{s}(t text) RETURNS text LANGUAGE sql AS 'SELECT t';
COMMENT ON FUNCTION fz_victim{s}(text) IS 'victim';
CREATE FUNCTION fz_drop{s}(x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  DROP FUNCTION fz_victim{s}(text);
  CREATE FUNCTION fz_victim{s}(t text) RETURNS text LANGUAGE sql AS 'SELECT t';
  COMMENT ON FUNCTION fz_victim{s}(text) IS 'victim';
  RETURN x;
END $$;
COMMENT ON FUNCTION fz_drop{s}(integer) IS 'drops and creates again the victim';
"""

FUNCTIONS = r"""
SELECT p.proname, p.oid::regprocedure::text, p.prokind, p.provariadic <> 0, p.pronargdefaults,
       array_to_string(ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY i), '|'),
       array_to_string(ARRAY(SELECT coalesce(nm, '') FROM unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[coalesce(cardinality(p.proargnames), 0)]))) u(nm, md)
                             WHERE md IN ('i', 'b', 'v')), '|'),
       quote_ident(n.nspname) || '.' || quote_ident(p.proname)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'openrouter'
ORDER BY 2
"""


class Driver:
    def __init__(self, args):
        self.host, self.port = args.host, args.port
        self.seed = args.seed
        self.seconds = args.seconds
        self.key = "sk-or-v1-%s-%s-0000" % (MARKER, "%032x" % random.Random(self.seed).getrandbits(128))
        self.report = Report(self.seed, args.message_limit)
        self.nworkers = args.workers
        self.only = [int(x) for x in args.calls.split(",")] if args.calls else None
        self.deadline = None
        self.lock = threading.Lock()
        self.functions = []
        self.pending_error_checks = []
        self.resent = set()     # requests a later statement sent again
        self.driver_errors = 0

    def call_ids(self, w):
        if self.only is not None:
            for ident in self.only:
                if ident % self.nworkers == w:
                    yield ident
            return
        k = 0
        while time.monotonic() < self.deadline:
            yield w + self.nworkers * k
            k += 1

    def setup(self):
        c = Connection(self.host, self.port, "postgres", "postgres")
        for sql in ["DROP DATABASE IF EXISTS fuzz_utf8", "DROP DATABASE IF EXISTS fuzz_latin1",
                    "DROP ROLE IF EXISTS fuzz_user", "CREATE ROLE fuzz_user LOGIN",
                    "CREATE DATABASE fuzz_utf8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
                    "CREATE DATABASE fuzz_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"]:
            res = c.query(sql, 60)
            if res.error:
                raise RuntimeError("%s: %s" % (sql, res.error.get("message")))
        c.close()
        for db in ("fuzz_utf8", "fuzz_latin1"):
            c = Connection(self.host, self.port, "postgres", db)
            steps = [SETUP_DB, "SET ROLE fuzz_user; %s RESET ROLE" % TOOLS]
            for w, (wdb, role, _) in enumerate(self.workers_spec()):
                if wdb == db:
                    steps.append("SET ROLE %s; %s RESET ROLE" % (role, FIXTURES.replace("{s}", "_w%d" % w)))
            for sql in steps:
                res = c.query(sql, 60)
                if res.error:
                    raise RuntimeError("setup of %s: %s" % (db, res.error.get("message")))
            if not self.functions:
                res = c.query(FUNCTIONS, 60)
                if res.error or not res.rows:
                    raise RuntimeError("listing the extension's functions: %s" % (res.error or {}).get("message"))
                for row in res.rows:
                    name, sig, kind, variadic, ndef, types, names, qual = [v.decode() for v in row]
                    types = types.split("|") if types else []
                    names = names.split("|") if names else []
                    self.functions.append({"name": name, "signature": sig, "kind": kind,
                                           "variadic": variadic == "t", "ndefaults": int(ndef),
                                           "types": types,
                                           "names": names if len(names) == len(types) and all(names) else [],
                                           "qualified": qual})
            c.close()

    def workers_spec(self):
        spec = [("fuzz_utf8", "fuzz_user", "UTF8"), ("fuzz_latin1", "fuzz_user", "LATIN1"),
                ("fuzz_utf8", "postgres", "UTF8"), ("fuzz_latin1", "fuzz_user", "UTF8")]
        return [spec[i % len(spec)] for i in range(self.nworkers)]

    def run(self):
        self.setup()
        self.deadline = time.monotonic() + self.seconds
        workers = [Worker(self, w, db, role, enc) for w, (db, role, enc) in enumerate(self.workers_spec())]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def check_errors_kept(self, server_log):
        """A value {"error": ...} keeps the server's own error text: a 200 whose
        body is {"error": "just a string"} must not become "(no message)"."""
        descs = parse_server_log(server_log)
        for ident, kind, db, role, sql, reqs, value in self.pending_error_checks:
            if len(reqs) != 1 or reqs[0] in self.resent:
                continue
            d = descs.get(reqs[0], [])
            if d and '{"error": "just a string"}' in d[-1] and b"just a string" not in value:
                call = Call(ident, kind, db, role)
                call.current_sql, call.requests = sql, reqs
                self.report.violation("on_error => 'ignore' lost the server's error text", call, None,
                                      value[:300].decode("utf-8", "replace"))


def parse_server_log(path):
    out = collections.defaultdict(list)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"request (\d+) attempt (\d+): (.*)", line.rstrip("\n"))
                if m:
                    out[int(m.group(1))].append(m.group(3))
    except OSError:
        pass
    return out


def check_server_log(report, path):
    """The cluster's log: no crash, no key."""
    call = Call("log", "server log", "-", "-")
    crash = re.compile(r"terminated by signal|was terminated by|server process .* was terminated|PANIC:|TRAP:|"
                       r"all server processes terminated")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        report.notes.append("could not read the server log %s: %s" % (path, e))
        return
    for line in data.split(b"\n"):
        text = line.decode("utf-8", "replace")
        if crash.search(text):
            call.current_sql = text[:500]
            report.violation("crash in the server log", call, None, text[:300])
        if MARKER.encode() in line:
            at = line.find(MARKER.encode())
            call.current_sql = line[max(0, at - 200):at + 60].decode("utf-8", "replace")
            report.violation("key leak in the server log", call, None, call.current_sql)


def write_report(drv, args):
    rep = drv.report
    descs = parse_server_log(args.server_log)
    out = []
    total = sum(rep.calls.values())
    response_calls = sum(v for k, v in rep.calls.items() if not k.startswith("args"))
    states = sorted(rep.sqlstates.items(), key=lambda kv: (-kv[1], kv[0]))
    out.append("fuzz: seed %s, %d statements (%d through the server, %d with random arguments), %d functions"
               % (drv.seed, total, response_calls, total - response_calls, len(drv.functions)))
    out.append("SQLSTATEs seen (responses): " + " ".join(
        "%s×%d" % kv for kv in sorted(rep.sqlstates_by_phase["response"].items(), key=lambda kv: (-kv[1], kv[0]))))
    out.append("SQLSTATEs seen (random arguments): " + " ".join(
        "%s×%d" % kv for kv in sorted(rep.sqlstates_by_phase["arguments"].items(), key=lambda kv: (-kv[1], kv[0]))))
    out.append("calls per function with random arguments: " + ", ".join(
        "%s %d" % (f["signature"].split("(")[0], rep.functions.get(f["signature"], 0)) for f in drv.functions))
    never = [f["signature"] for f in drv.functions if not rep.functions.get(f["signature"])]
    if never and drv.only is None:
        out.append("never called with random arguments (run longer): " + ", ".join(never))
    timeouts = rep.sqlstates.get("57014", 0) + rep.sqlstates.get("hang", 0)
    out.append("57014 / unanswered calls (hangs): %d" % timeouts)
    for note in rep.notes:
        out.append("note: " + note)
    out.append("")
    if rep.violations:
        out.append("%d distinct violations:" % len(rep.violations))
    for i, v in enumerate(rep.violations.values(), 1):
        out.append("")
        seen = ", ".join("%s×%d" % kv for kv in v["sqlstates"].most_common())
        out.append("[%d] %s%s: %d time(s)" % (i, v["what"], (" (%s)" % seen) if seen else "", v["count"]))
        for ex in v["examples"][:2]:
            e = ex["error"]
            if e:
                out.append("    error: %s: %s" % (e.get("sqlstate"), e.get("message", "")[:400]))
                for f in ("detail", "hint", "context"):
                    if e.get(f):
                        out.append("    %s: %s" % (f, e[f][:300]))
            if ex["extra"]:
                out.append("    seen: %s" % ex["extra"][:400])
            out.append("    call %s (%s, database %s, role %s): %s" % (ex["call"], ex["kind"], ex["db"], ex["role"], ex["sql"][:700]))
            for n in ex["requests"][:6]:
                for a, d in enumerate(descs.get(n, ["(not received)"])):
                    out.append("      request %d attempt %d: %s" % (n, a, d[:200]))
            if len(ex["requests"]) > 6:
                out.append("      ... %d requests in all" % len(ex["requests"]))
            if ex["call"] not in ("log", "final"):
                out.append("    replay: FUZZ_SEED=%s FUZZ_CALLS=%s bash test/fuzz/run.sh; a response: "
                           "python3 test/fuzz/responses.py %s N ATTEMPT%s"
                           % (drv.seed, ex["call"], drv.seed, " --tools=" + ",".join(ex["tools"]) if ex["tools"] else ""))
    verdict_ok = not rep.violations and drv.driver_errors == 0
    summary = "fuzz: %d calls, seed %s, SQLSTATEs seen %s; %s" % (
        total, drv.seed, " ".join("%s×%d" % kv for kv in states) or "none",
        "no violations" if verdict_ok else "%d distinct violations (%d in all)" % (
            len(rep.violations), sum(v["count"] for v in rep.violations.values())) +
        (", driver errors %d" % drv.driver_errors if drv.driver_errors else ""))
    out.append("")
    out.append(summary)
    text = "\n".join(out) + "\n"
    # control characters a response carried are shown, not sent to the terminal
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), text)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(text)
    return verdict_ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--calls", default="")
    ap.add_argument("--server-log", required=True)
    ap.add_argument("--pg-log", required=True)
    ap.add_argument("--report")
    ap.add_argument("--message-limit", type=int, default=100000)
    args = ap.parse_args()
    drv = Driver(args)
    print("fuzz: seed %s, %g s, %d connections (replay: FUZZ_SEED=%s bash test/fuzz/run.sh)"
          % (drv.seed, args.seconds, args.workers, drv.seed), flush=True)
    drv.run()
    time.sleep(0.5)
    drv.check_errors_kept(args.server_log)
    check_server_log(drv.report, args.pg_log)
    ok = write_report(drv, args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
