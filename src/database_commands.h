/*
 * database_commands.h
 *		Stopping a database's worker before a command that needs the database
 *		to itself (database_commands.c).
 */
#ifndef OPENROUTER_DATABASE_COMMANDS_H
#define OPENROUTER_DATABASE_COMMANDS_H

extern void or_database_commands_install_hook(void);

#endif							/* OPENROUTER_DATABASE_COMMANDS_H */
