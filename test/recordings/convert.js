// convert.js RECORDINGS_DIR OUTDIR: turns recorded real exchanges with
// OpenRouter into fixtures of the stand-in's replay=NAME directive.
//
// It reads the VCR cassettes RECORDINGS_DIR/ruby_llm/*.yml
//   http_interactions[]: request {method, uri, body: {string}, headers},
//                        response {status: {code}, headers: {name: [values]},
//                                  body: {string}}
// (a string Ruby could not store as UTF-8 text is tagged !binary, in base64)
// and RECORDINGS_DIR/pydantic-ai/*.yaml
//   interactions[]: request {method, uri, headers, parsed_body | body},
//                   response {status: {code}, headers, parsed_body | body: {string}}.
// It keeps the POSTs to .../chat/completions that do not ask for a stream, and
// writes for each
//   OUTDIR/NAME.json  {"status", "headers", "body": the body text as recorded
//                      (a parsed body is serialised with JSON.stringify)}
// and one entry of OUTDIR/index.json:
//   {"name", "source": "<dir>/<file>#<interaction index>", "status",
//    "kind": "completion" | "error" (an {"error": ...} body) |
//            "choice_error" (a choice with finish_reason "error" or an error) |
//            "not_json" (a body that does not parse),
//    "request_body": the recorded request, parsed,
//    "error_message": error.message of an error body or of the failed choice,
//    "error_code": error.code of an error body}.
// NAME matches [A-Za-z0-9_.-]+ (the stand-in's rule).  It prints one line per
// cassette skipped or interaction left out when asked (-v), and a summary.
'use strict';

const fs = require('fs');
const path = require('path');
const yaml = require(path.join(__dirname, '..', 'spec', 'node_modules', 'js-yaml'));

const args = process.argv.slice(2);
const verbose = args[0] === '-v' ? (args.shift(), true) : false;
const [recordingsDir, outDir] = args;
if (!recordingsDir || !outDir) {
	console.error('usage: convert.js [-v] RECORDINGS_DIR OUTDIR');
	process.exit(2);
}

// Ruby's Psych writes binary strings as "!binary |- <base64>"
const binaryType = new yaml.Type('!binary', {
	kind: 'scalar',
	construct: data => Buffer.from(String(data).replace(/\s+/g, ''), 'base64'),
	resolve: data => typeof data === 'string',
});
const schema = yaml.DEFAULT_SCHEMA.extend([binaryType]);

const decoder = new TextDecoder('utf-8', { fatal: true });

// the text of a recorded body: a string, a !binary buffer (which must be
// UTF-8), {string: ...}, or only a parsed body (serialised)
function bodyText(holder) {
	if (!holder)
		return null;
	let b = holder.body;
	if (b && typeof b === 'object' && !Buffer.isBuffer(b) && 'string' in b)
		b = b.string;
	if (Buffer.isBuffer(b))
		return decoder.decode(b);		// throws on bytes that are not UTF-8
	if (typeof b === 'string' && b !== '')
		return b;
	if (holder.parsed_body !== undefined && holder.parsed_body !== null)
		return typeof holder.parsed_body === 'string' ?
			holder.parsed_body : JSON.stringify(holder.parsed_body);
	return typeof b === 'string' ? b : null;
}

function tryParse(text) {
	try {
		return { ok: true, value: JSON.parse(text) };
	} catch (e) {
		return { ok: false, error: e.message };
	}
}

function safeName(s) {
	return s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/_+/g, '_').replace(/^[._]+|[._]+$/g, '');
}

fs.mkdirSync(outDir, { recursive: true, mode: 0o755 });

const sources = [
	{ dir: 'ruby_llm', ext: /\.ya?ml$/, list: 'http_interactions' },
	{ dir: 'pydantic-ai', ext: /\.ya?ml$/, list: 'interactions' },
];
const index = [];
const used = new Set();
const counts = { cassettes: 0, interactions: 0, kept: 0, other: 0, stream: 0, unreadable: 0 };

for (const source of sources) {
	const dir = path.join(recordingsDir, source.dir);
	if (!fs.existsSync(dir))
		continue;
	for (const file of fs.readdirSync(dir).filter(f => source.ext.test(f)).sort()) {
		let doc;
		try {
			doc = yaml.load(fs.readFileSync(path.join(dir, file), 'utf8'), { schema });
		} catch (e) {
			console.log(`convert: cannot read ${source.dir}/${file}: ${e.message}`);
			counts.unreadable++;
			continue;
		}
		counts.cassettes++;
		const interactions = (doc && (doc[source.list] || doc.interactions || doc.http_interactions)) || [];
		interactions.forEach((interaction, i) => {
			counts.interactions++;
			const where = `${source.dir}/${file}#${i}`;
			const request = interaction.request || {};
			const response = interaction.response || {};
			const uri = String(request.uri || '').replace(/[?#].*$/, '');
			if (String(request.method || '').toUpperCase() !== 'POST' || !/\/chat\/completions$/.test(uri)) {
				counts.other++;
				return;
			}

			let requestText, responseText;
			try {
				requestText = bodyText(request);
				responseText = bodyText(response);
			} catch (e) {
				console.log(`convert: ${where}: a body is not UTF-8 text (${e.message}), left out`);
				counts.unreadable++;
				return;
			}
			const requestBody = requestText === null ? null : tryParse(requestText);
			if (!requestBody || !requestBody.ok || !requestBody.value || typeof requestBody.value !== 'object') {
				console.log(`convert: ${where}: the request body is not a JSON object, left out`);
				counts.unreadable++;
				return;
			}
			if (requestBody.value.stream === true) {
				counts.stream++;
				if (verbose)
					console.log(`convert: ${where}: a stream, left out`);
				return;
			}
			if (responseText === null) {
				console.log(`convert: ${where}: no response body, left out`);
				counts.unreadable++;
				return;
			}

			const status = Number((response.status && response.status.code) || 200);
			const entry = { name: null, source: where, status, kind: 'completion' };
			const parsed = tryParse(responseText);
			if (!parsed.ok) {
				entry.kind = 'not_json';
			} else if (parsed.value && typeof parsed.value === 'object' &&
					   parsed.value.error !== undefined && parsed.value.error !== null) {
				entry.kind = 'error';
				const error = parsed.value.error;
				if (error && typeof error === 'object') {
					if (typeof error.message === 'string')
						entry.error_message = error.message;
					if (error.code !== undefined)
						entry.error_code = error.code;
				}
			} else if (parsed.value && Array.isArray(parsed.value.choices) &&
					   parsed.value.choices.some(c => c && (c.finish_reason === 'error' ||
															 (c.error !== undefined && c.error !== null)))) {
				entry.kind = 'choice_error';
				const choice = parsed.value.choices.find(c => c && (c.finish_reason === 'error' ||
																	(c.error !== undefined && c.error !== null)));
				if (choice.error && typeof choice.error.message === 'string')
					entry.error_message = choice.error.message;
			} else if (status < 200 || status > 299) {
				entry.kind = 'error';		// an error status without an error object
			}

			let name = safeName(`${source.dir}.${file.replace(source.ext, '')}.${i}`);
			for (let n = 2; used.has(name); n++)
				name = safeName(`${source.dir}.${file.replace(source.ext, '')}.${i}.${n}`);
			used.add(name);
			entry.name = name;
			entry.request_body = requestBody.value;

			const fixture = { status, headers: response.headers || {}, body: responseText };
			fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(fixture), { mode: 0o644 });
			index.push(entry);
			counts.kept++;
		});
	}
}

fs.writeFileSync(path.join(outDir, 'index.json'), JSON.stringify(index, null, 1) + '\n', { mode: 0o644 });
const kinds = {};
for (const e of index)
	kinds[e.kind] = (kinds[e.kind] || 0) + 1;
console.log(`convert: ${counts.cassettes} cassettes, ${counts.interactions} interactions: ` +
	`${counts.kept} replayable (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ')}), ` +
	`${counts.stream} streamed and ${counts.other} other requests left out` +
	(counts.unreadable ? `, ${counts.unreadable} unreadable` : ''));
