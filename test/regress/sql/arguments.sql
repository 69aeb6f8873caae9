-- Argument checking: bad input is a clear error and nothing is sent.
\set hi '[{"role": "user", "content": "hi"}]'
SET openrouter.max_retries = 0;
SELECT (standin_stats()->>'requests')::int AS requests_before \gset

-- NULL messages: NULL, like a strict function
SELECT openrouter_chat(NULL, 'openai/gpt-4o-mini') IS NULL AS is_null;

-- messages must be a non-empty array of objects with a known role
SELECT openrouter_chat('{"role": "user", "content": "hi"}', 'openai/gpt-4o-mini');
SELECT openrouter_chat('"hi"', 'openai/gpt-4o-mini');
SELECT openrouter_chat('[]', 'openai/gpt-4o-mini');
SELECT openrouter_chat('[{"role": "user", "content": "hi"}, 42]', 'openai/gpt-4o-mini');
SELECT openrouter_chat('[{"content": "hi"}]', 'openai/gpt-4o-mini');
SELECT openrouter_chat('[{"role": "robot", "content": "hi"}]', 'openai/gpt-4o-mini');

-- model
SELECT openrouter_chat(:'hi', NULL);
SELECT openrouter_chat(:'hi', '');

-- model_kwargs: an object, without keys that have an argument of their own
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '[1]');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"model": "other"}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"messages": []}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"tools": []}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"tool_choice": "auto"}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"provider": {}}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"transforms": []}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"stream": true}');
SELECT openrouter_chat(:'hi', 'm', model_kwargs => '{"parallel_tool_calls": true}',
                       tool_choice => '{"auto": true, "parallel_tool_calls": false}');

-- tools, tool_choice, provider, transforms
SELECT openrouter_chat(:'hi', 'm', tools => '{"type": "function"}');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '"sometimes"');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '["auto"]');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '{"auto": true, "required": true}');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '{"auto": false, "required": false, "tool": null}');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '{"auto": true, "maybe": 1}');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '{"auto": "yes"}');
SELECT openrouter_chat(:'hi', 'm', tool_choice => '{"tool": 7}');
SELECT openrouter_chat(:'hi', 'm', provider => '["openai"]');
SELECT openrouter_chat(:'hi', 'm', transforms => '"middle-out"');

-- attribution headers cannot carry line breaks
SELECT openrouter_chat(:'hi', 'm', site_url => E'https://a.example\r\nX-Evil: 1');
SELECT openrouter_chat(:'hi', 'm', site_name => E'Name\n');
SET openrouter.site_name = E'bad\nname';

-- on_error itself must be valid; it is checked even when messages is NULL
SELECT openrouter_chat(:'hi', 'm', on_error => 'skip');
SELECT openrouter_chat(NULL, 'm', on_error => NULL);

-- with on_error => 'ignore' a bad row becomes an error value, nothing raised
SELECT openrouter_chat('[]', 'm', on_error => 'ignore');
SELECT openrouter_chat(:'hi', NULL, on_error => 'ignore');

-- none of the above reached the service: the one request is the stats call itself
SELECT (standin_stats()->>'requests')::int - :requests_before AS requests_sent;

-- the descriptor table of openrouter_chat's arguments (request.c) is its SQL
-- signature: the same names and types in the same order
SELECT * FROM openrouter_chat_arguments();
SELECT coalesce(d.name, p.name) AS differs
FROM openrouter_chat_arguments() AS d
FULL JOIN (SELECT n AS "position", proargnames[n] AS name, proargtypes[n - 1]::regtype AS type
           FROM pg_proc, generate_series(1, pronargs) AS n
           WHERE oid = 'openrouter_chat'::regproc) AS p USING ("position")
WHERE d.name IS DISTINCT FROM p.name OR d.type IS DISTINCT FROM p.type;
-- it is internal
SELECT has_function_privilege('public', 'openrouter_chat_arguments()', 'EXECUTE') AS public_may_call;
