// prism-problems.js: preloaded into Prism (node --require) by prism-check.sh.
//
// With --errors, Prism answers a request that fails validation with 422
// (401 for a missing or wrong Authorization header) and a response that fails
// validation with 500, but its log only says "Invalid request" or
// "Request/Response not valid", without the violations themselves.  Every
// such answer is built by ProblemJsonError.toProblemJson (the pinned
// @stoplight/prism-http 5.12.0), so this wraps that one function and appends
// each problem it serialises, violations included, as one JSON line to the
// file named by PRISM_PROBLEMS_LOG.
'use strict';

const fs = require('fs');

const file = process.env.PRISM_PROBLEMS_LOG;
if (file) {
	const { ProblemJsonError } = require('@stoplight/prism-http/dist/types');
	const original = ProblemJsonError.toProblemJson;

	ProblemJsonError.toProblemJson = function (error) {
		const problem = original.call(this, error);
		try {
			fs.appendFileSync(file, JSON.stringify({
				time: Date.now(),
				type: problem.type,
				title: problem.title,
				status: problem.status,
				detail: problem.detail,
				validation: problem.validation || [],
			}) + '\n');
		} catch (e) {
			// never break Prism's answer because the log could not be written
		}
		return problem;
	};
}
