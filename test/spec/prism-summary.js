// prism-summary.js PROBLEMS_JSONL MIN_REQUESTS: the verdict of prism-check.sh.
//
// PROBLEMS_JSONL holds, in order, marker lines {"file", "received"} written
// by prism-check.sh before each SQL file (file null: the end), where received
// is how many requests Prism had logged so far (and time, epoch ms), and one line per problem
// answer Prism built (prism-problems.js).  A problem belongs to the file of
// the marker before it.
//
// Prism's problems fall in three groups:
//   request   the request broke the spec (refused with 422, 401, or no such
//             route or media type): a failure of the extension;
//   response  the stand-in's answer broke the spec (#VIOLATIONS): counted only,
//             since the stand-in sends broken answers on purpose;
//   upstream  the stand-in's answer could not be read at all (a FetchError on a
//             reset, truncated, empty or HTML body): counted only.
// Any other Prism error means a request could not be checked: a failure.
// Exit status 0 when more than MIN_REQUESTS requests were checked and there
// was no failure, 1 otherwise.
'use strict';

const fs = require('fs');

const [file, minArg] = process.argv.slice(2);
const minRequests = Number(minArg || 50);
const PRISM = 'https://stoplight.io/prism/errors#';
const REQUEST_TYPES = new Set([
	'UNPROCESSABLE_ENTITY', 'UNAUTHORIZED', 'NOT_ACCEPTABLE', 'INVALID_CONTENT_TYPE',
	'PROXY_UNSUPPORTED_REQUEST_BODY', 'NO_PATH_MATCHED_ERROR', 'NO_METHOD_MATCHED_ERROR',
	'NO_SERVER_MATCHED_ERROR',
]);

const lines = fs.readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '');
const files = [];			// {name, requests, request: [], response: [], upstream: [], other: []}
let current = { name: '(before the first file)', request: [], response: [], upstream: [], other: [] };
let lastReceived = 0;
let lastTime = null;
let total = 0;

for (const line of lines) {
	const entry = JSON.parse(line);
	if ('file' in entry) {
		current.requests = entry.received - lastReceived;
		current.seconds = lastTime === null ? 0 : (entry.time - lastTime) / 1000;
		lastReceived = entry.received;
		lastTime = entry.time;
		total = entry.received;
		if (current.requests > 0 || current.request.length || current.other.length)
			files.push(current);
		current = { name: entry.file, request: [], response: [], upstream: [], other: [] };
		continue;
	}
	const type = String(entry.type || '');
	const short = type.startsWith(PRISM) ? type.slice(PRISM.length) : null;
	if (short === 'VIOLATIONS')
		current.response.push(entry);
	else if (short !== null && REQUEST_TYPES.has(short))
		current.request.push(entry);
	else if (short === null)
		current.upstream.push(entry);
	else
		current.other.push(entry);
}

// one line per violation: where in the request, and Prism's message
function describe(entry) {
	if (!entry.validation.length)
		return [`${entry.status} ${entry.title}${entry.detail ? ': ' + entry.detail : ''}`];
	return entry.validation.map(v =>
		`${entry.status} ${(v.location || []).join('.')}: ${v.message}${v.severity ? ' (' + v.severity + ')' : ''}`);
}

const sum = key => files.reduce((n, f) => n + f[key].length, 0);
const requestViolations = sum('request');
const responseViolations = sum('response');
const upstream = sum('upstream');
const other = sum('other');

console.log('');
console.log('file                 seconds  requests  request-violations  response-violations  upstream-failures');
for (const f of files)
	console.log(`${f.name.padEnd(20)} ${f.seconds.toFixed(1).padStart(7)}  ${String(f.requests).padStart(8)}  ` +
		`${String(f.request.length).padStart(18)}  ${String(f.response.length).padStart(19)}  ` +
		`${String(f.upstream.length).padStart(17)}`);

for (const f of files) {
	for (const e of f.request)
		for (const d of describe(e))
			console.log(`REQUEST VIOLATION in ${f.name}: ${d}`);
	for (const e of f.other)
		for (const d of describe(e))
			console.log(`PRISM ERROR (request not checked) in ${f.name}: ${e.type}: ${d}`);
}

// response violations: only the distinct messages, with their counts
const distinct = new Map();
for (const f of files)
	for (const e of f.response)
		for (const d of describe(e).map(s => s.replace(/^\d+ /, '')))
			distinct.set(d, (distinct.get(d) || 0) + 1);
for (const [d, n] of distinct)
	console.log(`response violation (stand-in, not a failure) x${n}: ${d}`);

console.log('');
console.log(`requests checked: ${total}; request violations: ${requestViolations}; ` +
	`response violations: ${responseViolations}; upstream failures: ${upstream}` +
	(other ? `; requests Prism could not check: ${other}` : ''));

let ok = true;
if (total <= minRequests) {
	console.log(`FAIL: only ${total} requests reached Prism (more than ${minRequests} expected)`);
	ok = false;
}
if (requestViolations > 0 || other > 0) {
	console.log('FAIL: the extension sent requests that do not match OpenRouter\'s OpenAPI spec');
	ok = false;
}
if (ok)
	console.log(`ok: all ${total} requests match OpenRouter's OpenAPI spec`);
process.exit(ok ? 0 : 1);
