/* Store the lines of standard input in an in-memory table and count them with SQL. */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

int main(void) {
    sqlite3 *db;
    sqlite3_stmt *ins, *count;
    char line[4096];
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
    sqlite3_exec(db, "CREATE TABLE lines(text TEXT)", 0, 0, 0);
    sqlite3_prepare_v2(db, "INSERT INTO lines VALUES (?)", -1, &ins, 0);
    while (fgets(line, sizeof line, stdin)) {
        sqlite3_bind_text(ins, 1, line, (int)strcspn(line, "\n"), SQLITE_TRANSIENT);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT text) FROM lines", -1, &count, 0);
    sqlite3_step(count);
    printf("sqlite %s: %d lines, %d distinct\n", sqlite3_libversion(), sqlite3_column_int(count, 0),
           sqlite3_column_int(count, 1));
    sqlite3_finalize(ins);
    sqlite3_finalize(count);
    sqlite3_close(db);
    return 0;
}
