/*
 * openrouter.c
 *		Module entry: the library's magic block and its load-time setup.
 *
 * The library works when loaded by the first call of one of its functions:
 * it defines its settings then, installs the planner hooks of
 * openrouter_prefetch() (prefetch.c) and of concurrent plain SQL
 * (concurrent.c), and starts its transfer engine on the
 * first request.  Loaded at server start (shared_preload_libraries), it also
 * claims its shared memory (shared_state.c) and registers its background
 * workers (worker.c), which what lives outside a caller's transaction needs:
 * the usage ledger (ledger.c) and the response cache (response_cache.c), and
 * keeps them out of the way of DROP DATABASE
 * and its kind (database_commands.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "concurrent.h"
#include "openrouter.h"
#include "database_commands.h"
#include "prefetch.h"
#include "response_cache.h"
#include "shared_state.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	or_define_gucs();
	if (process_shared_preload_libraries_in_progress)
	{
		or_shared_state_install_hooks();
		or_response_cache_install_hooks();
		or_register_launcher();
		or_database_commands_install_hook();
	}
	or_prefetch_init();
	or_concurrent_init();
}
