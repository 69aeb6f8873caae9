#!/usr/bin/env bash
# selftest.sh - builds the OpenRouter stand-in, starts it on a free port
# (plain HTTP, then HTTPS with a throwaway certificate) and checks every
# route and directive with curl and jq.  Stops the servers on exit, even
# on failure.  Last line: "N passed, M failed"; exit status 1 on failure.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$HERE/openrouter-standin
TMP=$(mktemp -d "${TMPDIR:-/tmp}/standin-selftest.XXXXXX")
PASS=0
FAIL=0
PIDS=()
PORT=
URL=
AUTH='Authorization: Bearer sk-or-v1-standin-test'

cleanup() {
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok()  { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+ ($2)}"; }

# check NAME GOT WANT
check() {
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi
}
# check_true NAME COMMAND...
check_true() {
	local name=$1; shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
	exit $?
}

# start_server OUTVAR-PREFIX ARGS... : starts on a random free port, sets
# PORT and the server's pid in LAST_PID.
start_server() {
	local try out
	for try in 1 2 3 4 5 6 7 8; do
		PORT=$((18080 + RANDOM % 1000))
		out=$TMP/server.$PORT.out
		"$BIN" --port "$PORT" "$@" >"$out" 2>"$TMP/server.$PORT.err" &
		LAST_PID=$!
		PIDS+=("$LAST_PID")
		for _ in $(seq 50); do
			grep -q "^standin listening on $PORT\$" "$out" 2>/dev/null && return 0
			kill -0 "$LAST_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$LAST_PID" 2>/dev/null
	done
	return 1
}

body_for() {
	jq -cn --arg m "$1" --arg c "${2:-Hello}" '{model:$m,messages:[{role:"user",content:$c}]}'
}

# post MODEL [CURL ARGS...]: body in $TMP/body, headers in $TMP/hdr,
# status in CODE, curl exit status in RC.
post() {
	local model=$1; shift
	CODE=$(curl -sS -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' \
		-H "$AUTH" -H 'Content-Type: application/json' \
		--data-binary "$(body_for "$model")" "$@" "$URL" 2>"$TMP/curl.err")
	RC=$?
}
header() { grep -i "^$1:" "$TMP/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
field() { jq -r "$1" "$TMP/body" 2>/dev/null; }
content() { jq -r '.choices[0].message.content' "$TMP/body"; }
stats() { post 'standin/stats'; content; }

# ---- build ------------------------------------------------------------------
if make -s -C "$HERE" >"$TMP/make.out" 2>&1 && [ -x "$BIN" ]; then
	ok "build (-Wall -Wextra -Werror)"
else
	cat "$TMP/make.out"; bad "build"; finish
fi
check_true "refuses a non-loopback --host" \
	bash -c "! '$BIN' --port 18079 --host 0.0.0.0 >/dev/null 2>&1"

# a fixture for replay
mkdir -p "$TMP/fixtures"
cat >"$TMP/fixtures/rec1.json" <<'EOF'
{"status": 429,
 "headers": {"Content-Type": "application/json", "Retry-After": "2",
             "Content-Length": "999", "X-Custom": "yes"},
 "body": "{\"error\":{\"message\":\"Provider returned error\",\"code\":429}}  "}
EOF

if ! start_server --log "$TMP/requests.log" --fixtures "$TMP/fixtures"; then
	bad "server starts"; finish
fi
SERVER_PID=$LAST_PID
ok "server starts and prints 'standin listening on $PORT'"
BASE=http://127.0.0.1:$PORT
URL=$BASE/api/v1/chat/completions

# ---- normal answers -------------------------------------------------------
post openai/gpt-4o-mini
check "normal: HTTP 200" "$CODE" 200
check "normal: content" "$(content)" "Stand-in answer to: Hello"
check "normal: model echoed" "$(field .model)" "openai/gpt-4o-mini"
check "normal: X-Generation-Id = id" "$(header X-Generation-Id)" "$(field .id)"
check_true "normal: id format" grep -Eq '"id":"gen-[0-9]+-[A-Za-z0-9]{20}"' "$TMP/body"
check "normal: shape" "$(field '[.object,.provider,.system_fingerprint,.choices[0].finish_reason,.choices[0].native_finish_reason,.choices[0].message.role,.choices[0].message.refusal,.usage.is_byok,.usage.prompt_tokens_details.cached_tokens,.usage.completion_tokens_details.reasoning_tokens]|map(tostring)|join(",")')" \
	"chat.completion,Standin,null,stop,stop,assistant,null,false,0,0"
check "normal: usage tokens" "$(field '[.usage.prompt_tokens,.usage.completion_tokens,.usage.total_tokens]|join(",")')" "2,7,9"
check "normal: content-type" "$(header Content-Type)" "application/json"
FIRST=$(content)
post openai/gpt-4o-mini
check "normal: deterministic content" "$(content)" "$FIRST"

CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" --data-binary \
	'{"model":"x/y","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"part one"},{"type":"image_url","image_url":{"url":"http://i"}},{"type":"text","text":"part two"}]},{"role":"assistant","content":"ok"}]}' "$URL")
check "content parts joined, last user message" "$(content)" "Stand-in answer to: part one part two"

# ---- routes, auth, validation ---------------------------------------------
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" "$BASE/api/v1/embeddings/nope")
check "unknown path: 404 body" "$CODE $(jq -c . "$TMP/body")" '404 {"error":{"code":404,"message":"Not Found"}}'
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' "$BASE/api/v1/models")
check "GET /models: public, a list" "$CODE $(jq -c '[.total_count == (.data|length), (.data[] | select(.id == "openai/gpt-4o-mini") | [.pricing.prompt, .top_provider.max_completion_tokens, .architecture.input_modalities[0]])]' "$TMP/body")" '200 [true,["0.00000015",16384,"text"]]'
check "GET /models: openrouter/auto's price is -1" "$(jq -r '.data[] | select(.id == "openrouter/auto") | .pricing.completion' "$TMP/body")" "-1"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' --data-binary '{}' "$BASE/api/v1/models")
check "POST /models: 405" "$CODE" "405"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" "$BASE/api/v1/key")
check "GET /key: limit, remaining, usage" "$CODE $(jq -c '.data | [.limit, .limit_remaining, .usage_daily, .usage_weekly, .usage_monthly, .is_free_tier, .label]' "$TMP/body")" '200 [100,74.5,0.25,3.5,12.75,false,"sk-or-v1-st...est"]'
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer sk-or-v1-free-key' "$BASE/api/v1/key")
check "GET /key: a free-tier key has no limit" "$CODE $(jq -c '.data | [.limit, .is_free_tier]' "$TMP/body")" '200 [null,true]'
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' "$BASE/api/v1/key")
check "GET /key without a key: 401" "$CODE" "401"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" "$URL")
check "GET chat path: 405" "$CODE $(field .error.code)" "405 405"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' --data-binary "$(body_for x/y)" "$URL")
check "no Authorization: 401" "$CODE $(jq -c . "$TMP/body")" '401 {"error":{"message":"Missing Authentication header","code":401}}'
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer sk-invalid-1' --data-binary "$(body_for x/y)" "$URL")
check "invalid key: 401" "$CODE $(jq -c . "$TMP/body")" '401 {"error":{"message":"User not found.","code":401}}'
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" --data-binary '{"model":' "$URL")
check "non-JSON body: 400" "$CODE $(field .error.code) $(field .user_id)" "400 400 user_standin"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" --data-binary '{"model":"x/y"}' "$URL")
check "messages missing: 400" "$CODE $(field .error.code)" "400 400"
CODE=$(curl -sS -o "$TMP/body" -w '%{http_code}' -H "$AUTH" --data-binary '{"model":"x/y","messages":[]}' "$URL")
check "messages empty: 400" "$CODE $(field .error.code)" "400 400"
post 'standin/echo;frobnicate=3'
check "unknown directive: 400 naming it" "$CODE $(field '.error.message|test("frobnicate")')" "400 true"
post 'standin/latency=abc'
check "bad directive value: 400" "$CODE" "400"

# ---- echo ---------------------------------------------------------------------
post standin/echo -H 'X-Title: Self Test' -H 'HTTP-Referer: https://example.test'
ECHO=$(content)
check "echo: method/path" "$(jq -r '.method+" "+.path' <<<"$ECHO")" "POST /api/v1/chat/completions"
check "echo: authorization header as a hint, not the key" "$(jq -r '.headers.authorization' <<<"$ECHO")" "Bearer sk-or-v1-...n-test"
check "echo: lowercased custom headers" "$(jq -r '.headers["x-title"]+"|"+.headers["http-referer"]' <<<"$ECHO")" "Self Test|https://example.test"
check "echo: parsed body" "$(jq -c '.body' <<<"$ECHO")" "$(body_for standin/echo)"

# ---- status=N -------------------------------------------------------------------
for n in 400 401 402 403 404 408 429 500 502 503 529; do
	post "standin/status=$n"
	check "status=$n: HTTP code, error.code, user_id" \
		"$CODE $(field .error.code) $(field .user_id)" "$n $n user_standin"
done
post standin/status=400
check "status=400: previous_errors" "$(field '.error.metadata.previous_errors|length')" "2"
post standin/status=401
check "status=401: message" "$(field .error.message)" "User not found."
post standin/status=402
check "status=402: credits, provider_name null" "$(field '[(.error.message|test("more credits")),.error.metadata.provider_name]|map(tostring)|join(",")')" "true,null"
post standin/status=404
check "status=404: no endpoints" "$(field .error.message)" "No endpoints found for standin/status=404."
post standin/status=429
check "status=429: free tier body with metadata.headers" \
	"$(field '[(.error.message|test("free-models-per-day")),(.error.metadata.headers|keys|join("/"))]|map(tostring)|join(",")')" \
	"true,X-RateLimit-Limit/X-RateLimit-Remaining/X-RateLimit-Reset"
post standin/status=502
check "status=502: raw upstream JSON, provider_name" \
	"$(field '[.error.message,(.error.metadata.raw|fromjson|.error.message),.error.metadata.provider_name]|join(",")')" \
	"Provider returned error,upstream exploded,Standin"
post standin/status=503
check "status=503: provider error" "$(field '.error.message+","+.error.metadata.provider_name')" "Provider returned error,Standin"

# ---- retry headers --------------------------------------------------------------
post 'standin/status=429;retry_after=7'
check "retry_after: Retry-After seconds" "$(header Retry-After)" "7"
post 'standin/status=503;retry_after_date=120'
RA=$(header Retry-After)
RA_S=$(date -d "$RA" +%s 2>/dev/null || echo 0)
NOW_S=$(date +%s)
check_true "retry_after_date: HTTP date ~120 s ahead ($RA)" \
	test $((RA_S - NOW_S)) -ge 110 -a $((RA_S - NOW_S)) -le 121
check_true "retry_after_date: IMF-fixdate" \
	grep -Eq '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' <<<"$RA"

NOW_MS=$(date +%s%3N)
post 'standin/status=429;ratelimit_reset_ms=5000'
HR=$(header X-RateLimit-Reset)
check_true "ratelimit_reset_ms: header Reset ~ now+5000 ms ($HR)" \
	test $((${HR:-0} - NOW_MS)) -ge 4000 -a $((${HR:-0} - NOW_MS)) -le 7000
check "ratelimit_reset_ms: body Reset = header Reset" "$(field '.error.metadata.headers["X-RateLimit-Reset"]')" "$HR"
check "ratelimit_reset_ms: Limit/Remaining headers" "$(header X-RateLimit-Limit)/$(header X-RateLimit-Remaining)" "50/0"
post 'standin/status=429;ratelimit_reset_ms=5000;reset_in=body'
check "reset_in=body: no header, body has it" "$(header X-RateLimit-Reset)|$(field '.error.metadata.headers["X-RateLimit-Reset"]|length>0')" "|true"
post 'standin/status=429;ratelimit_reset_ms=5000;reset_in=header'
check "reset_in=header: header, not in body" "$(header X-RateLimit-Reset | grep -c .)|$(field '.error.metadata.headers')" "1|null"

# ---- times / key ------------------------------------------------------------
CODES=
for _ in 1 2 3 4; do post 'standin/status=503;times=2;key=selftest-a'; CODES="$CODES$CODE "; done
check "times=2;key=A: fails twice then succeeds" "$CODES" "503 503 200 200 "
post 'standin/status=503;times=2;key=selftest-b'
check "times: counted per key" "$CODE" "503"
post 'standin/reset;times=1;key=selftest-c'
post 'standin/reset;times=1;key=selftest-c'
check "times=1 with reset: second request answered" "$RC $CODE" "0 200"

# ---- transport failures -------------------------------------------------------
post standin/reset
check_true "reset: curl sees empty reply / reset (exit $RC)" test "$RC" -eq 52 -o "$RC" -eq 56
post standin/truncate
check "truncate: curl exit 18 (partial file)" "$RC" "18"
post standin/empty
check "empty: 200, no body, JSON content-type" \
	"$CODE $(stat -c %s "$TMP/body") $(header Content-Length) $(header Content-Type)" "200 0 0 application/json"
post standin/pad
check "pad: still valid JSON" "$(content)" "Stand-in answer to: Hello"
check_true "pad: exact keep-alive padding before the JSON" cmp -s <(head -c 22 "$TMP/body") <(printf '\n         \n\n         \n')
post standin/garbage
check_true "garbage: 200 application/json, not JSON" \
	bash -c "[ $CODE = 200 ] && [ '$(header Content-Type)' = application/json ] && ! jq . '$TMP/body' >/dev/null 2>&1"
post standin/big=5000000
check "big=5000000: content length" "$CODE $(jq '.choices[0].message.content|length' "$TMP/body")" "200 5000000"
check "big: usage.completion_tokens" "$(field .usage.completion_tokens)" "1250000"
post 'standin/big=3000000;truncate'
check "big + truncate: curl exit 18" "$RC" "18"

# ---- odd bodies, echoed credentials, long errors ---------------------------------
post standin/odd=deep
check "odd=deep: 200, arrays 100000 deep" "$CODE $(head -c 14 "$TMP/body") $(grep -o '\[' "$TMP/body" | wc -l)" '200 {"choices":[[[ 100000'
post standin/odd=exp
check "odd=exp" "$CODE $(cat "$TMP/body")" '200 {"choices":[],"usage":{"cost":1e999999}}'
post standin/odd=digits
check "odd=digits: 200,000 digits" "$CODE $(grep -o 9 "$TMP/body" | wc -l)" "200 200000"
post standin/odd=escape
check "odd=escape: an escaped U+4E2D" "$CODE $(grep -c 'u4e2d' "$TMP/body") $(content)" "200 1 中"
post standin/odd=error_string
check "odd=error_string" "$CODE $(cat "$TMP/body")" '200 {"error":"just a string"}'
post standin/odd=array
check "odd=array" "$CODE $(cat "$TMP/body")" '200 [{"choices":[]}]'
post standin/odd=trailing
check "odd=trailing" "$CODE $(cat "$TMP/body")" '200 {"choices":[]} x'
post standin/odd=other
check "odd=other: 400" "$CODE" "400"
post standin/auth_error
check "auth_error: 401 echoing the Authorization header" \
	"$CODE $(field .error.message) / $(field .error.metadata.raw)" "401 Invalid credentials in header: $(echo "$AUTH" | cut -d' ' -f2-) / $(echo "$AUTH" | cut -d' ' -f2-)"
TOKEN=$(echo "$AUTH" | cut -d' ' -f3)
post standin/echo_key=content
check "echo_key=content" "$CODE $(field '.choices[0].message.content')" "200 you sent: Bearer $TOKEN"
post standin/echo_key=model
check "echo_key=model" "$CODE $(field .model)" "200 $TOKEN"
post standin/echo_key=arguments
check "echo_key=arguments" "$CODE $(field '.choices[0].message.tool_calls[0].function.arguments' | jq -r .key)" "200 $TOKEN"
post standin/echo_key=arguments_escaped
check "echo_key=arguments_escaped" "$CODE $(field '.choices[0].message.tool_calls[0].function.arguments' | jq -r .key) $(grep -c "$TOKEN" "$TMP/body")" "200 $TOKEN 0"
post standin/echo_key=escaped
check "echo_key=escaped: the key only as \\u escapes" "$CODE $(field '.choices[0].message.content') $(grep -c "$TOKEN" "$TMP/body")" "200 $TOKEN 0"
post standin/echo_key=escaped_error
check "echo_key=escaped_error" "$CODE $(field .error.message) $(grep -c "$TOKEN" "$TMP/body")" "400 $TOKEN 0"
post standin/echo_key=other
check "echo_key=other: 400" "$CODE" "400"
post standin/error_bytes=3000000
check "error_bytes=3000000: 400, message of 3000000 bytes" "$CODE $(jq '.error.message|length' "$TMP/body")" "400 3000000"

# ---- HTTP-200 errors -------------------------------------------------------------
post standin/error200
check "error200: HTTP 200 with error body" \
	"$CODE $(jq -c . "$TMP/body")" \
	'200 {"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"upstream exploded","provider_name":"Standin"}},"user_id":"user_standin"}'
post 'standin/error200=429;pad'
check "error200=429 with pad" "$CODE $(field .error.code)" "200 429"
post standin/choice_error
check "choice_error: finish_reason, error, partial content" \
	"$CODE $(field '[.choices[0].finish_reason,.choices[0].native_finish_reason,.choices[0].message.content,(.choices[0].error.code|tostring),.choices[0].error.message,.choices[0].error.metadata.error_type]|join(",")')" \
	"200 error,error,Partial answ,502,Upstream provider disconnected,provider_unavailable"

# ---- tool_calls -----------------------------------------------------------------
b64url() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
post "standin/tool_calls=get_weather:$(b64url '{"city":"Paris"}'),noargs:$(b64url '{}')"
check "tool_calls: finish reasons, content" \
	"$(field '[.choices[0].finish_reason,.choices[0].native_finish_reason,.choices[0].message.content]|join(",")')" "tool_calls,tool_use,"
check "tool_calls: calls" "$(jq -c '.choices[0].message.tool_calls' "$TMP/body")" \
	'[{"id":"call_0_standin","index":0,"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_1_standin","index":1,"type":"function","function":{"name":"noargs","arguments":"{}"}}]'
post 'standin/tool_calls=bad'
check "tool_calls: malformed spec is a 400" "$CODE" "400"

# ---- structured output, context window, /embeddings, /rerank ----------------------
# jpost PATH JSON: like post, with a body of one's own
jpost() {
	CODE=$(curl -sS -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' \
		-H "$AUTH" -H 'Content-Type: application/json' \
		--data-binary "$2" "${URL%/chat/completions}$1" 2>"$TMP/curl.err")
	RC=$?
}
SCHEMA='{"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"},"d":{"type":"string","format":"date"},"m":{"type":"string","enum":["happy","sad"]},"t":{"type":"array","items":{"type":"string"}}},"required":["n","ok","d","m","t"],"additionalProperties":false}'
structured() {
	jq -cn --arg m "$1" --arg c "$2" --argjson s "$SCHEMA" \
		'{model:$m,messages:[{role:"user",content:$c}],response_format:{type:"json_schema",json_schema:{name:"x",strict:true,schema:$s}}}'
}
jpost /chat/completions "$(structured openai/gpt-4o-mini 'I am sad, it is broken')"
check "structured: fits the schema" "$(content | jq -c .)" '{"n":6,"ok":false,"d":"2024-01-15","m":"sad","t":["Stand-in t","Stand-in t"]}'
jpost /chat/completions "$(structured standin/misfit 'x')"
check "structured: misfit" "$(content | jq -c .)" '{"n":"misfit","ok":"misfit","d":"misfit","m":"misfit","t":"misfit"}'
jpost /chat/completions "$(structured standin/misfit_json 'x')"
check_true "structured: misfit_json is not JSON" sh -c "! jq -r '.choices[0].message.content' '$TMP/body' | jq . >/dev/null 2>&1"
jpost /chat/completions "$(body_for standin/context=2 'one two three four five six seven eight nine ten')"
check "context: too long is OpenRouter's 400" "$CODE $(field .error.message | cut -c1-50)" "400 This endpoint's maximum context length is 2 tokens"
jpost /chat/completions "$(body_for standin/context=100 'short')"
check "context: short answers" "$CODE $(content)" "200 Stand-in answer (2 tokens read)"
jpost /embeddings '{"model":"openai/text-embedding-3-small","input":["a","b"],"dimensions":3}'
check "embeddings: shape" "$CODE $(field '[.object,(.data|length),(.data[0].embedding|length),.data[1].index,.data[0].object,.usage.total_tokens]|map(tostring)|join(",")')" "200 list,2,3,1,embedding,1"
A=$(jq -c '.data[0].embedding' "$TMP/body")
jpost /embeddings '{"model":"m","input":"a","dimensions":3}'
check "embeddings: deterministic" "$(jq -c '.data[0].embedding' "$TMP/body")" "$A"
jpost /embeddings '{"model":"m","input":[]}'
check "embeddings: no input is a 400" "$CODE" "400"
jpost /rerank '{"model":"cohere/rerank-v3.5","query":"red apple","documents":["a car","red apple","apple"],"top_n":2}'
check "rerank: most relevant first" "$CODE $(jq -c '[.results[]|[.index,.relevance_score,.document.text]]' "$TMP/body")" '200 [[1,1,"red apple"],[2,0.5,"apple"]]'
jpost /rerank '{"model":"m","query":"q","documents":[]}'
check "rerank: no documents is a 400" "$CODE" "400"

# ---- replay -----------------------------------------------------------------------
post standin/replay=rec1
check "replay: status and headers (fixture Content-Length dropped)" "$CODE $(header Retry-After) $(header X-Custom) $(header Content-Length)" "429 2 yes 60"
check_true "replay: exact body" cmp -s "$TMP/body" <(printf '%s' '{"error":{"message":"Provider returned error","code":429}}  ')
post standin/replay=nope
check "replay: missing fixture is a 400" "$CODE" "400"
post 'standin/replay=../etc'
check "replay: bad name is a 400" "$CODE" "400"

# ---- stats and connection reuse ----------------------------------------------------
S0=$(stats)
S=$(curl -sS -H "$AUTH" --data-binary "$(body_for standin/stats)" "$URL" "$URL" | jq -s -c 'map(.choices[0].message.content|fromjson)')
C0=$(jq .connections <<<"$S0")
check "stats: two URLs in one curl reuse one new connection" \
	"$(jq -c 'map(.connections)' <<<"$S")" "[$((C0 + 1)),$((C0 + 1))]"
check "stats: requests counted" "$(jq -c 'map(.requests)' <<<"$S")" "[$(($(jq .requests <<<"$S0") + 1)),$(($(jq .requests <<<"$S0") + 2))]"
check "stats: keys" "$(jq -c 'keys' <<<"$S0")" '["connections","in_flight","max_in_flight","requests"]'

# ---- latency, concurrency, hang ------------------------------------------------------
post standin/stats_reset
T0=$(date +%s%N)
post 'standin/latency=500' & P1=$!
post 'standin/latency=500' & P2=$!
sleep 0.25
MID=$(stats)
wait $P1 $P2
T1=$(date +%s%N)
MS=$(((T1 - T0) / 1000000))
check_true "latency=500 honoured: ${MS} ms for two concurrent requests (>= 500; concurrency is shown by in_flight below)" test "$MS" -ge 500
check "latency: in_flight seen while both wait" "$(jq .in_flight <<<"$MID")" "2"
check "latency: max_in_flight after stats_reset" "$(jq .max_in_flight <<<"$(stats)")" "2"
post standin/stats_reset
check "stats_reset: max_in_flight restarts" "$(jq .max_in_flight <<<"$(stats)")" "0"

T0=$(date +%s%N)
post standin/hang --max-time 0.4
check "hang: client times out (exit 28)" "$RC" "28"
sleep 0.2
check "hang: disconnect noticed, thread freed" "$(jq .in_flight <<<"$(stats)")" "0"
post 'standin/latency=5000' --max-time 0.3
sleep 0.2
check "latency: disconnect noticed early" "$(jq .in_flight <<<"$(stats)")" "0"

# ---- ratelimit ---------------------------------------------------------------------
RL="standin/ratelimit=3;key=rl-$$"
codes=""
for i in 1 2 3; do post "$RL"; codes="$codes$CODE "; done
post "$RL;latency=5000" --max-time 1
codes="$codes$CODE "
check "ratelimit: a burst of R, then 429 at once (no latency)" "$codes" "200 200 200 429 "
check "ratelimit: the 429 names no wait" "$(header Retry-After)|$(field .error.code)" "|429"
post "$RL" -H 'Authorization: Bearer sk-or-v1-other-key'
check "ratelimit: another bearer token has a bucket of its own" "$CODE" "200"
sleep 0.4
post "$RL"
check "ratelimit: refilled at R per second" "$CODE" "200"
post "standin/ratelimit_stats;key=rl-$$"
check "ratelimit_stats: answers of the key's buckets" "$(content | jq -c .)" '{"allowed":5,"limited":1}'

# ---- log --------------------------------------------------------------------------
LINE=$(grep -F '"x-title":"Self Test"' "$TMP/requests.log" | head -1)
check "log: one JSON line with method, lowercased headers, parsed body" \
	"$(jq -c '[.method,.path,.headers.authorization,.body.model,(.time|type)]' <<<"$LINE")" \
	'["POST","/api/v1/chat/completions","Bearer sk-or-v1-standin-test","standin/echo","number"]'
check_true "log: every line is JSON" bash -c "jq -e . '$TMP/requests.log' >/dev/null"
check "log: raw body kept as string" "$(grep -F '"body":"{\"model\":"' "$TMP/requests.log" | head -1 | jq -r .body)" '{"model":'

# ---- SIGTERM -----------------------------------------------------------------------
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
check "SIGTERM: clean exit" "$?" "0"

# ---- HTTPS -------------------------------------------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 &&
	start_server --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"; then
	URL=https://127.0.0.1:$PORT/api/v1/chat/completions
	post openai/gpt-4o-mini --cacert "$TMP/cert.pem"
	check "https: 127.0.0.1 with --cacert" "$RC $CODE $(content)" "0 200 Stand-in answer to: Hello"
	URL=https://localhost:$PORT/api/v1/chat/completions
	post standin/echo --cacert "$TMP/cert.pem"
	check "https: localhost, echo" "$CODE $(content | jq -r .headers.authorization)" "200 Bearer sk-or-v1-...n-test"
	post standin/hang --cacert "$TMP/cert.pem" --max-time 0.4
	check "https: hang times out" "$RC" "28"
	sleep 0.2
	post standin/stats --cacert "$TMP/cert.pem"
	check "https: hang thread freed" "$(content | jq .in_flight)" "0"
	S=$(curl -sS --cacert "$TMP/cert.pem" -H "$AUTH" --data-binary "$(body_for standin/stats)" "$URL" "$URL" | jq -s -c 'map(.choices[0].message.content|fromjson.connections)|.[1]-.[0]')
	check "https: keep-alive reuses the connection" "$S" "0"
	post standin/echo
	check "https: plain curl without CA fails (exit 60)" "$RC" "60"
else
	bad "https server starts"
fi

finish
