/*
 * as_owner.c
 *		Runs a piece of the extension's own work connected to SPI as the owner
 *		of one of its private tables (the key store, the computed-column
 *		definitions, the async queue), which no other role may read or write.
 *
 * Rules kept here: the switch is SetUserIdAndSecContext with
 * SECURITY_RESTRICTED_OPERATION, so that the owner's rights cannot be used
 * to change session state; the caller's identity and context come back on
 * every path, errors included; the work runs only the extension's own
 * statements, with every operator schema-qualified, never user code.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"

#include "as_owner.h"

void
or_run_as_owner(Oid owner, OrOwnerWork work, void *arg)
{
	Oid			saved_user;
	int			saved_sec_context;

	GetUserIdAndSecContext(&saved_user, &saved_sec_context);
	SetUserIdAndSecContext(owner, saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		work(arg);
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_sec_context);
	}
	PG_END_TRY();
}
