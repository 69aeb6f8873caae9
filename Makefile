# openrouter: PostgreSQL extension calling OpenRouter's chat completions API.
# Build with PGXS:  make && sudo make install   (PG_CONFIG=... to choose a server)

EXTENSION = openrouter
MODULE_big = openrouter
OBJS = \
	src/openrouter.o \
	src/guc.o \
	src/jsonb_util.o \
	src/failure.o \
	src/as_owner.o \
	src/api_key.o \
	src/request.o \
	src/request_cache.o \
	src/json_check.o \
	src/completion.o \
	src/http.o \
	src/scheduler.o \
	src/send.o \
	src/budget.o \
	src/models.o \
	src/chat.o \
	src/batch.o \
	src/prefetch.o \
	src/concurrent.o \
	src/definition_cache.o \
	src/async_queue.o \
	src/computed.o \
	src/ai_call.o \
	src/ai_text.o \
	src/ai_parts.o \
	src/ai_generate.o \
	src/ai_agg.o \
	src/ai_embed.o \
	src/ai_rerank.o \
	src/json_types.o \
	src/tool_specs.o \
	src/tool_resolve.o \
	src/tool_response.o \
	src/tool_arguments.o \
	src/tool_invoke.o \
	src/tool_messages.o \
	src/shared_state.o \
	src/limiter.o \
	src/ledger.o \
	src/response_cache.o \
	src/worker.o \
	src/extension_events.o \
	src/database_commands.o \
	src/progress.o \
	src/progress_board.o \
	src/async_columns.o

# The extension's SQL: the 1.0 install script, frozen as released, and one
# upgrade script per release after it.  CREATE EXTENSION installs 1.0 and
# follows the upgrade path to default_version, as contrib modules do, so a
# fresh install and an upgraded one run the same statements.
DATA = openrouter--1.0.sql openrouter--1.0--1.1.sql
PGFILEDESC = "openrouter - OpenRouter chat completions from SQL"

PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags libcurl 2>/dev/null)
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
SHLIB_LINK = $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lm

# Regression tests (pg_regress): test/regress/sql/<name>.sql against
# test/regress/expected/<name>.out.
# They need a server with the stand-in configured: run them through
# test/run-tests.sh, which sets everything up, or see README.md ("make
# installcheck against your own server"); setup.sql says so when it is not.
REGRESS = setup arguments lookups chat errors retries on_error responses keys seed batch cache computed computed_errors tools generated security ledger missing_objects operations concurrent ai_functions concurrent_ai ratelimit cache_durable budget async
REGRESS_OPTS = --inputdir=$(srcdir)/test/regress --load-extension=openrouter

EXTRA_CLEAN = results regression.diffs regression.out tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies (without --enable-depend): every object
# depends on every header of the extension, so a changed struct rebuilds all.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# Out-of-tree (VPATH) builds, as Debian's pg_buildext makes them in
# build-<version>/: the objects go to a src/ of the build directory.
# (A rule for src/ would not run: make finds $(srcdir)/src through VPATH.)
ifdef VPATH
$(shell mkdir -p src)
endif

# pg_regress drops contrib_regression before it starts; with the library
# preloaded, the extension's background worker is connected to that
# database, and DROP DATABASE would wait for it in vain: drop it first,
# WITH (FORCE), which ends that connection.
installcheck: drop-regression-database
.PHONY: drop-regression-database
drop-regression-database:
	'$(bindir)/psql' -X -q -c 'SET client_min_messages = warning' \
		-c 'DROP DATABASE IF EXISTS $(CONTRIB_TESTDB) WITH (FORCE)' postgres
