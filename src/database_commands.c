/*
 * database_commands.c
 *		Keeps the background workers out of the way of commands that need a
 *		database to themselves.
 *
 * DROP DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME and
 * ALTER DATABASE ... SET TABLESPACE refuse to run while another session is
 * connected to the database, and a database's worker (worker.c) stays
 * connected to it; DROP EXTENSION openrouter needs the locks the worker
 * takes while it computes asynchronous cells.  A ProcessUtility hook, installed in every backend when
 * the library is preloaded, stops that database's worker before such a
 * command and holds the launcher off for a while, so that the command runs
 * as it would without the extension.  It decides nothing else and changes
 * no command.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#include "database_commands.h"
#include "worker.h"

static ProcessUtility_hook_type previous_utility_hook = NULL;

/*
 * The database whose worker must stop before a command, or InvalidOid: the
 * database a command needs without other sessions, or this one when the
 * command drops the extension (the worker, in the middle of computing cells,
 * holds locks on the extension's tables and on the tables it computes, which
 * DROP EXTENSION ... CASCADE needs too: it would deadlock).
 */
static Oid
database_needed_alone(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropStmt:
			/* DROP EXTENSION openrouter: the worker holds the extension's tables */
			if (((DropStmt *) stmt)->removeType == OBJECT_EXTENSION)
			{
				foreach(lc, ((DropStmt *) stmt)->objects)
				{
					if (strcmp(strVal(lfirst(lc)), "openrouter") == 0)
						return MyDatabaseId;
				}
			}
			break;
		case T_DropdbStmt:
			return get_database_oid(((DropdbStmt *) stmt)->dbname, true);
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *option = lfirst(lc);

				if (strcmp(option->defname, "template") == 0 && option->arg != NULL)
					return get_database_oid(defGetString(option), true);
			}
			break;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return get_database_oid(((RenameStmt *) stmt)->subname, true);
			break;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			{
				if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
					return get_database_oid(((AlterDatabaseStmt *) stmt)->dbname, true);
			}
			break;
		default:
			break;
	}
	return InvalidOid;
}

static void
stop_workers_in_the_way(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Oid			database = database_needed_alone(pstmt->utilityStmt);

	if (OidIsValid(database))
		or_stop_database_worker(database);
	if (previous_utility_hook)
		previous_utility_hook(pstmt, queryString, readOnlyTree, context, params,
							  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/* from _PG_init, when the library is preloaded */
void
or_database_commands_install_hook(void)
{
	previous_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = stop_workers_in_the_way;
}
