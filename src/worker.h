/*
 * worker.h
 *		The extension's background workers: a launcher, and one worker per
 *		database that has the extension.  See worker.c.
 */
#ifndef OPENROUTER_WORKER_H
#define OPENROUTER_WORKER_H

#include "postgres.h"

extern void or_register_launcher(void);
extern void or_stop_database_worker(Oid database);

/* entry points, named in BackgroundWorker.bgw_function_name */
extern PGDLLEXPORT void openrouter_launcher_main(Datum arg);
extern PGDLLEXPORT void openrouter_database_worker_main(Datum arg);

#endif							/* OPENROUTER_WORKER_H */
