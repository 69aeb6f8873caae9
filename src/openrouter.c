/*
 * openrouter.c
 *		Module entry: the library's magic block and its load-time setup.
 *
 * Nothing here needs shared_preload_libraries: the library is loaded by the
 * first call of one of its functions, defines its settings then, installs the
 * planner hook of openrouter_prefetch() (prefetch.c), and starts its transfer
 * engine on the first request (transport.c).
 */
#include "openrouter.h"

#include "fmgr.h"

#include "prefetch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	or_define_gucs();
	or_prefetch_init();
}
