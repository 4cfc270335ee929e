// The floor of the ingest writer's durable SQLite work per alert, without .NET: the writer's own statements (the alert
// insert and the guarded incident update, see Triage.Api/Ingest/IngestStore.cs) on the service's schema, in C against
// the SQLite the service ships (floor.sh links Microsoft.Data.Sqlite's e_sqlite3), K alerts per commit. Its peer,
// `Triage.Bench sqlite-floor`, runs the same through Microsoft.Data.Sqlite. What it prints bounds the service from
// below: at one alert per request (about 6 alerts per commit) the CPU per alert adds to the HTTP side's, and at 100
// per request (about 700 per commit) the wall time per alert caps the one writer's rate.
//
// Usage: floor DB ALERTS_PER_COMMIT COMMITS SYNCHRONOUS VARIANT
//   DB: a copy of a freshly migrated, empty service database (floor.sh makes one)
//   SYNCHRONOUS: FULL (the service's setting) or OFF (no sync at all: an upper bound, not durable)
//   VARIANT: service       the alert insert and the incident update, as the writer runs them
//            alerts-only   the alert insert alone (what coalescing every count update could save at most)
//            no-index      the alert insert alone, without the (IncidentId, Time) index the incident page reads by
//            no-checkpoint the service's statements, with the log never copied back (the service's checkpointer
//                          does that on another thread; the log then grows for the whole run)
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { Incidents = 1000, PayloadBytes = 1448 };  // the benchmark's fingerprints; its stored alert JSON's mean length

static sqlite3 *db;

static void check(int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "floor: %s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static void step(sqlite3_stmt *statement, const char *what)
{
    check(sqlite3_step(statement), what);
    sqlite3_reset(statement);
}

static double cpu_seconds(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", sqlite3_libversion());
        return 0;
    }

    if (argc != 6) {
        fprintf(stderr, "usage: floor DB ALERTS_PER_COMMIT COMMITS FULL|OFF service|alerts-only|no-index|no-checkpoint\n");
        return 2;
    }
    const char *path = argv[1], *synchronous = argv[4], *variant = argv[5];
    int per_commit = atoi(argv[2]), commits = atoi(argv[3]);
    int update_incidents = strcmp(variant, "service") == 0 || strcmp(variant, "no-checkpoint") == 0;
    if (!update_incidents && strcmp(variant, "alerts-only") != 0 && strcmp(variant, "no-index") != 0) {
        fprintf(stderr, "floor: unknown variant '%s'\n", variant);
        return 2;
    }

    check(sqlite3_open(path, &db), "open");
    char pragmas[256];
    // The writer's pragmas (SqliteConnectionSettings.IngestWriter); Microsoft.Data.Sqlite turns foreign keys on.
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = -32768; "
             "PRAGMA foreign_keys = 1; PRAGMA wal_autocheckpoint = %d;", synchronous, strcmp(variant, "no-checkpoint") == 0 ? 0 : 1000);
    check(sqlite3_exec(db, pragmas, 0, 0, 0), "pragmas");
    if (strcmp(variant, "no-index") == 0) {
        check(sqlite3_exec(db, "DROP INDEX \"IX_alerts_IncidentId_Time\"", 0, 0, 0), "drop index");
    }

    // The benchmark's steady state: every fingerprint's incident open before the measured window.
    sqlite3_stmt *open_incident;
    check(sqlite3_prepare_v2(db,
        "INSERT INTO incidents (Id, Fingerprint, OpenFingerprint, Rule, Title, Priority, Status, AlertCount, FirstSeen, LastSeen, "
        "CreatedAt, UpdatedAt, Namespace, WorkloadKind, WorkloadName, Pod, Image, Node, Source, Tags, NeedsProcessing, Version) "
        "VALUES (?1, printf('fp%040d', ?1), printf('fp%040d', ?1), 'Read sensitive file untrusted', "
        "'Sensitive file opened for reading by non-trusted program', 4, 'Triggered', 1, 0, 0, 0, 0, 'payments', 'Deployment', "
        "'api', 'api-7d9f8b6c5d-x2x9q', 'registry.example.com/payments/api:1.2.3', 'node-1', 'falco', '[\"container\"]', 0, 1)",
        -1, &open_incident, 0), "prepare incident");
    check(sqlite3_exec(db, "BEGIN", 0, 0, 0), "begin");
    for (int id = 1; id <= Incidents; id++) {
        sqlite3_bind_int(open_incident, 1, id);
        step(open_incident, "insert incident");
    }
    check(sqlite3_exec(db, "COMMIT", 0, 0, 0), "commit");

    sqlite3_stmt *insert_alert, *update_incident, *begin, *commit;
    check(sqlite3_prepare_v2(db,
        "INSERT INTO alerts (Id, IncidentId, Time, ReceivedAt, Source, Rule, Priority, Node, Namespace, Pod, ContainerId, Payload, "
        "SuppressionId) VALUES (?1, ?2, ?3, ?4, 'falco', 'Read sensitive file untrusted', 4, 'node-1', 'payments', "
        "'api-7d9f8b6c5d-x2x9q', 'abcdef123456', ?5, NULL) ON CONFLICT (Id) DO NOTHING", -1, &insert_alert, 0), "prepare alert");
    check(sqlite3_prepare_v2(db,
        "UPDATE incidents SET AlertCount = AlertCount + ?1, FirstSeen = min(FirstSeen, COALESCE(?2, FirstSeen)), "
        "LastSeen = max(LastSeen, COALESCE(?3, LastSeen)), Pod = COALESCE(Pod, ?4), Priority = max(Priority, ?5), Tags = ?6, "
        "SuppressionId = ?7, UpdatedAt = ?8 WHERE Id = ?9 AND Version = ?10 AND OpenFingerprint IS NOT NULL",
        -1, &update_incident, 0), "prepare update");
    check(sqlite3_prepare_v2(db, "BEGIN", -1, &begin, 0), "prepare begin");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, 0), "prepare commit");

    static char payload[PayloadBytes + 1];
    for (int i = 0; i < PayloadBytes; i++) {
        payload[i] = (char)('a' + (i * 7) % 26);
    }

    srand(42);
    long long sequence = 0;
    double cpu_start = cpu_seconds(), wall_start = wall_seconds();
    for (int c = 0; c < commits; c++) {
        static int added[Incidents + 1];
        memset(added, 0, sizeof added);
        step(begin, "begin");
        for (int k = 0; k < per_commit; k++) {
            // Falco alert ids are hashes (falco-<40 hex>): each insert lands on a random page of the id index.
            char id[64];
            snprintf(id, sizeof id, "falco-%08x%08x%08x%08x%08x", rand(), rand(), rand(), rand(), rand());
            int incident = 1 + rand() % Incidents;
            long long at = 1700000000000000LL + (sequence++) * 1000;
            sqlite3_bind_text(insert_alert, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(insert_alert, 2, incident);
            sqlite3_bind_int64(insert_alert, 3, at);
            sqlite3_bind_int64(insert_alert, 4, at);
            sqlite3_bind_text(insert_alert, 5, payload, PayloadBytes, SQLITE_STATIC);
            step(insert_alert, "insert alert");
            added[incident]++;
        }

        // Then one guarded update per incident the commit touched, as the writer makes them.
        for (int incident = 1; update_incidents && incident <= Incidents; incident++) {
            if (added[incident] == 0) {
                continue;
            }

            long long at = 1700000000000000LL + sequence * 1000;
            sqlite3_bind_int(update_incident, 1, added[incident]);
            sqlite3_bind_int64(update_incident, 2, at);
            sqlite3_bind_int64(update_incident, 3, at);
            sqlite3_bind_text(update_incident, 4, "api-7d9f8b6c5d-x2x9q", -1, SQLITE_STATIC);
            sqlite3_bind_int(update_incident, 5, 4);
            sqlite3_bind_text(update_incident, 6, "[\"container\"]", -1, SQLITE_STATIC);
            sqlite3_bind_null(update_incident, 7);
            sqlite3_bind_int64(update_incident, 8, at);
            sqlite3_bind_int(update_incident, 9, incident);
            sqlite3_bind_int(update_incident, 10, 1);
            step(update_incident, "update incident");
            if (sqlite3_changes(db) != 1) {
                fprintf(stderr, "floor: the update of incident %d hit no row\n", incident);
                return 1;
            }
        }

        step(commit, "commit");
    }

    double cpu = cpu_seconds() - cpu_start, wall = wall_seconds() - wall_start;
    long long alerts = (long long)per_commit * commits;
    sqlite3_stmt *count;
    check(sqlite3_prepare_v2(db, "SELECT count(*) FROM alerts", -1, &count, 0), "prepare count");
    check(sqlite3_step(count), "count");
    if (sqlite3_column_int64(count, 0) != alerts) {
        fprintf(stderr, "floor: %lld alerts stored of %lld\n", (long long)sqlite3_column_int64(count, 0), alerts);
        return 1;
    }

    printf("| C | %d | %s | %s | %lld | %.1f | %.1f | %.0f |\n", per_commit, variant, synchronous, alerts,
           cpu * 1e6 / alerts, wall * 1e6 / alerts, alerts / wall);
    return 0;
}
