-- The API key: where it comes from, and that no other role can read it.
\set hi '[{"role": "user", "content": "hi"}]'
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
GRANT EXECUTE ON FUNCTION sent(jsonb), outcome(text, jsonb) TO PUBLIC;

-- A non-superuser cannot point requests elsewhere, even by setting the
-- setting before the extension's library is loaded in the session.
\c - regress_alice
SET openrouter.base_url = 'http://attacker.example/api/v1';
SELECT openrouter_configure_client('sk-or-v1-alice-key');
\getenv standin_url STANDIN_URL
SELECT current_setting('openrouter.base_url') = :'standin_url' AS base_url_unchanged;
SET openrouter.base_url = 'http://attacker.example/api/v1';
SET openrouter.ca_file = '/tmp/attacker-ca.pem';
SET openrouter.proxy = 'http://attacker.example:3128';

-- each role uses its own stored key
SELECT sent(openrouter_chat(:'hi', 'standin/echo'))->'headers'->>'authorization'
       = 'Bearer sk-or-v1-...ce-key' AS uses_alice_key;
SELECT key_source, key_hint FROM openrouter_client();

-- the key table cannot be read, changed or emptied by other roles
SELECT * FROM openrouter_api_key;
UPDATE openrouter_api_key SET api_key = 'x';
DELETE FROM openrouter_api_key;

-- a session key takes precedence, and cannot be read back
SET openrouter.api_key = 'sk-or-v1-alice-session-key';
SELECT sent(openrouter_chat(:'hi', 'standin/echo'))->'headers'->>'authorization'
       = 'Bearer sk-or-v1-...on-key' AS uses_session_key;
SELECT key_source, key_hint FROM openrouter_client();
SHOW openrouter.api_key;
SELECT current_setting('openrouter.api_key');
SELECT count(*) AS visible_in_pg_settings FROM pg_settings WHERE name = 'openrouter.api_key';
-- RESET ALL and DISCARD ALL (what connection poolers run) forget it
RESET ALL;
SELECT key_source FROM openrouter_client();
SET openrouter.api_key = 'sk-or-v1-alice-session-key';
DISCARD ALL;
SELECT key_source FROM openrouter_client();

-- places where a key would be stored readable by every role are refused
ALTER ROLE regress_alice SET openrouter.api_key = 'sk-or-v1-leaked';
CREATE FUNCTION pg_temp.leaky() RETURNS int LANGUAGE sql SET openrouter.api_key = 'sk-or-v1-leaked' AS 'SELECT 1';
SELECT count(*) AS stored_settings FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%api_key%';

-- the key never appears in errors
SET openrouter.max_retries = 0;
SELECT state, position('alice-key' IN concat(message, detail, hint)) AS key_in_error
FROM outcome('standin/status=401');
SELECT position('alice-key' IN openrouter_chat(:'hi', 'standin/status=401', on_error => 'ignore')::text) AS key_in_error_value;

-- bob has no key yet: a clear error that names every way to set one
\c - regress_bob
ALTER ROLE regress_bob SET openrouter.api_key = 'sk-or-v1-leaked';
SELECT openrouter_chat(:'hi', 'openai/gpt-4o-mini');
SELECT key_source, key_hint FROM openrouter_client();
SELECT openrouter_configure_client('sk-or-v1-bob-key', site_url => 'https://bob.example', site_name => 'Bob''s App');
SELECT e->'headers'->>'authorization' = 'Bearer sk-or-v1-...ob-key' AS uses_bob_key,
       e->'headers'->>'http-referer' AS stored_site_url, e->'headers'->>'x-title' AS stored_site_name
FROM sent(openrouter_chat(:'hi', 'standin/echo')) AS e;
SELECT key_source, key_hint, site_url, site_name, base_url = :'standin_url' AS base_url_unchanged
FROM openrouter_client();
-- bad keys are refused
SELECT openrouter_configure_client('');
SELECT openrouter_configure_client(E'sk-or-v1-x\r\nX-Evil: 1');
SELECT openrouter_configure_client('sk or v1');
-- a NULL key forgets the stored one
SELECT openrouter_configure_client(NULL);
SELECT key_source FROM openrouter_client();

-- only the superuser sees the stored rows; alice's key is still hers
\c - postgres
SELECT r.rolname, k.api_key = 'sk-or-v1-alice-key' AS alice_key_intact
FROM openrouter_api_key k JOIN pg_roles r ON r.oid = k.role_id
WHERE r.rolname LIKE 'regress_%' ORDER BY 1;

-- not even a superuser can store a session key where others can read it
-- (once the library is loaded in the session; before that, PostgreSQL lets
-- only superusers store values of settings it does not know yet)
LOAD 'openrouter';
ALTER DATABASE contrib_regression SET openrouter.api_key = 'sk-or-v1-leaked';
ALTER ROLE regress_bob SET openrouter.api_key = 'sk-or-v1-leaked';

-- roles that may read all data still cannot read keys
CREATE ROLE regress_reader;
GRANT pg_read_all_data TO regress_reader;
SET ROLE regress_reader;
SELECT count(*) AS keys_visible FROM openrouter_api_key;
RESET ROLE;
DROP ROLE regress_reader;

-- a dropped role's key is removed the next time any key is stored
DROP OWNED BY regress_alice;
DROP ROLE regress_alice;
SELECT openrouter_configure_client('sk-or-v1-regression-test-key');
SELECT count(*) AS orphaned_keys FROM openrouter_api_key
WHERE role_id NOT IN (SELECT oid FROM pg_roles);
DROP ROLE regress_bob;

-- the key is resolved once per statement, and a change within the statement
-- is followed: a new stored key, or a session key set by set_config
SELECT right(sent(openrouter_chat(openrouter_messages('k' || i), 'standin/echo'))->'headers'->>'authorization', 6) AS sent_key
FROM generate_series(1, 2) AS i;
SELECT openrouter_configure_client('sk-or-v1-second-key') IS NOT NULL AS stored,
       right(sent(openrouter_chat(openrouter_messages('k' || i), 'standin/echo'))->'headers'->>'authorization', 6) AS sent_key
FROM generate_series(1, 1) AS i;
SELECT right(set_config('openrouter.api_key', 'sk-or-v1-session-key-' || i, false), 2) AS session_key,
       right(sent(openrouter_chat(openrouter_messages('k' || i), 'standin/echo'))->'headers'->>'authorization', 2) AS sent_key
FROM generate_series(1, 3) AS i;
RESET openrouter.api_key;
SELECT openrouter_configure_client('sk-or-v1-regression-test-key');
