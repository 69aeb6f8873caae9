/*
 * chat.c
 *		openrouter_chat(): one chat completions request from SQL.
 *
 * The entry point reads its arguments through the descriptor table
 * (request.h) and builds the request.  While openrouter_prefetch() collects,
 * it reports the request and returns NULL.  Otherwise it takes the answer
 * the transaction's request cache has for this very request (an earlier
 * identical call, or a prefetch), or hands the request to the transfer
 * engine as a batch of one and keeps what came back in the cache; and it
 * returns the response body as jsonb, or the failure as an ERROR or as
 * {"error": ...} per on_error (openrouter.on_error, when set, overrides it).
 */
#include "openrouter.h"

#include "fmgr.h"

#include "concurrent.h"
#include "prefetch.h"
#include "request.h"
#include "request_cache.h"

PG_FUNCTION_INFO_V1(openrouter_chat);
OR_CONCURRENT_FUNCTION(openrouter_chat);

/*
 * openrouter_chat(messages, model, model_kwargs, tools, tool_choice,
 *				   provider, transforms, site_url, site_name, on_error)
 */
Datum
openrouter_chat(PG_FUNCTION_ARGS)
{
	OrChatArgs	args;
	OrOnError	on_error;
	OrExchange	exchange = {0};
	OrFailure  *failure;
	OrClientIdentity client;
	OrRequestKey key;

	or_chat_args_from_call(fcinfo, &args);
	on_error = or_effective_on_error(OR_CHAT_TEXT(&args, OR_CHAT_ON_ERROR));

	/* like a strict function: no messages, no request */
	if (OR_CHAT_JSONB(&args, OR_CHAT_MESSAGES) == NULL)
		PG_RETURN_NULL();

	exchange.abort_on_failure = (on_error == OR_ON_ERROR_ABORT);
	failure = or_build_chat_request(&args, &exchange.request);
	if (failure == NULL)
	{
		or_client_identity_cached(fcinfo->flinfo, &client);
		or_request_key(&exchange.request, &client, &key);
	}

	if (or_prefetch_collecting())
	{
		/* openrouter_prefetch() is collecting requests: send nothing now */
		or_prefetch_collect(failure ? NULL : &exchange.request, &client, &key,
							exchange.abort_on_failure);
		PG_RETURN_NULL();
	}
	if (failure == NULL &&
		!or_cache_lookup(&key, &exchange.result, &failure))
	{
		OrExchange *batch[1] = {&exchange};

		or_send(batch, 1, 1);
		or_cache_store(&key, &exchange, false);
		failure = exchange.failure;
	}

	if (failure != NULL)
	{
		if (on_error == OR_ON_ERROR_ABORT)
			or_failure_raise(failure);
		PG_RETURN_JSONB_P(or_failure_to_jsonb(failure));
	}
	PG_RETURN_JSONB_P(exchange.result);
}
