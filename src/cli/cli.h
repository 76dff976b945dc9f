/* The operator's command line besides `serve`: mechanics without the web UI.
 *   pitwall mechanic add --email E --name N --city C [...]
 *   pitwall mechanic approve|suspend ID-or-EMAIL
 *   pitwall import-mechanics FILE.csv
 * Each writes through the storage interface in one transaction. A running server on the
 * same SQLite file notices the change within a second (see pw_app_tick). */
#ifndef PW_CLI_H
#define PW_CLI_H

int pw_cli_mechanic(int argc, char **argv);
int pw_cli_import_mechanics(int argc, char **argv);

/* Splits one CSV record (RFC 4180: quotes, doubled quotes) of line into at most max fields,
 * in place. Returns the number of fields, or -1 on an unterminated quote. */
int pw_csv_split(char *line, char **fields, int max);

#endif
