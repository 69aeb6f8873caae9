/*
 * ai_call.c
 *		Sending the requests of an SQL function that is called row by row
 *		(openrouter_chat and the AI functions): the one path from a built
 *		request to its answer.
 *
 * While openrouter_prefetch() collects, requests are reported to it and
 * nothing is sent (the function returns NULL; computed columns work this
 * way).  Otherwise a request answered earlier in the transaction takes that
 * answer from the request cache, and the others go out together through
 * or_send() (so the usage ledger records each, and whatever send.c applies
 * applies to them), and their answers are kept in the cache.  The model of
 * a call is the argument, else a setting; neither is an error (ORA02) before
 * anything is sent.
 */
#include "openrouter.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "ai.h"
#include "prefetch.h"
#include "request_cache.h"

bool
or_call(FmgrInfo *flinfo, OrExchange **exchanges, int count, int max_in_flight)
{
	OrClientIdentity client;
	OrRequestKey *keys = palloc(sizeof(OrRequestKey) * Max(count, 1));
	bool	   *answered = palloc0(sizeof(bool) * Max(count, 1));
	OrExchange **to_send = palloc(sizeof(OrExchange *) * Max(count, 1));
	int			n_to_send = 0;
	bool		have_client = false;
	bool		collecting = or_prefetch_collecting();

	for (int i = 0; i < count; i++)
	{
		OrExchange *exchange = exchanges[i];

		if (exchange->failure != NULL)
		{
			if (collecting)
				or_prefetch_collect(NULL, NULL, NULL, exchange->abort_on_failure);
			continue;
		}
		if (!have_client)
		{
			if (flinfo != NULL)
				or_client_identity_cached(flinfo, &client);
			else
				or_client_identity(&client);
			have_client = true;
		}
		or_request_key(&exchange->request, &client, &keys[i]);
		if (collecting)
			or_prefetch_collect(&exchange->request, &client, &keys[i],
								exchange->abort_on_failure);
		else if (or_cache_lookup(&keys[i], &exchange->result, &exchange->failure))
			answered[i] = true;
		else
			to_send[n_to_send++] = exchange;
	}
	if (collecting)
		return false;

	/* an answer from the cache that is a failure: raise it as a new one would */
	for (int i = 0; i < count; i++)
		if (answered[i] && exchanges[i]->failure != NULL &&
			exchanges[i]->abort_on_failure)
			or_failure_raise(exchanges[i]->failure);

	or_send(to_send, n_to_send, max_in_flight);
	for (int i = 0; i < count; i++)
		if (!answered[i] && (exchanges[i]->result != NULL ||
							 exchanges[i]->attempts > 0))
			or_cache_store(&keys[i], exchanges[i], false);
	return true;
}

text *
or_model_or_default(text *model, const char *setting, const char *setting_name)
{
	if (model != NULL && VARSIZE_ANY_EXHDR(model) > 0)
		return model;
	if (setting != NULL && setting[0] != '\0')
		return cstring_to_text(setting);
	ereport(ERROR,
			(errcode(ERRCODE_OR_NO_MODEL),
			 errmsg("no model given, and openrouter.%s is not set", setting_name),
			 errdetail("Nothing was sent."),
			 errhint("Pass model => 'provider/name', or set a default: SET openrouter.%s = 'provider/name' (or ALTER ROLE ... SET).",
					 setting_name)));
	return NULL;				/* keep the compiler quiet */
}

void
or_set_request_body(OrHttpRequest *request, Jsonb *body)
{
	char	   *text = JsonbToCString(NULL, &body->root, VARSIZE(body));

	/* JSON goes out as UTF-8, whatever the database encoding */
	request->body = pg_server_to_any(text, strlen(text), PG_UTF8);
	request->body_len = strlen(request->body);
}

OrFailure *
or_malformed_answer(Jsonb *response, const char *endpoint, const char *why)
{
	OrFailure  *failure = or_failure_new(ERRCODE_OR_INVALID_RESPONSE, "invalid_response", false,
										 "the %s answer %s", endpoint, why);

	failure->response = response;
	failure->attempts = 1;
	return failure;
}
