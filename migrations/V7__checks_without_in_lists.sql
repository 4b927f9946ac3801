-- The stage tables' CHECK constraints, the same rules written as OR chains instead of IN
-- lists. SQLite codes an IN list of more than two constants in a CHECK as a temporary
-- B-tree built again for every row written (a CHECK cannot use the once-per-statement
-- table a WHERE clause gets): a fifth of the cost of storing a raw post. An OR chain is
-- a few comparisons.
--
-- The rules are the same, so every row already satisfies them and the tables are not
-- rebuilt: the stored table definitions are edited in place, as SQLite documents for
-- changing CHECK constraints (https://www.sqlite.org/lang_altertable.html, "other kinds
-- of table schema changes").
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(replace(sql,
    'CHECK (status IN (''pending'', ''processing'', ''completed'', ''failed'', ''dead_letter'', ''discarded''))',
    'CHECK (status = ''pending'' OR status = ''processing'' OR status = ''completed''
                           OR status = ''failed'' OR status = ''dead_letter'' OR status = ''discarded'')'),
    'CHECK (source IN (''sync'', ''backfill'', ''webhook'', ''import''))',
    'CHECK (source = ''sync'' OR source = ''backfill'' OR source = ''webhook'' OR source = ''import'')')
WHERE type = 'table' AND name IN ('ingested_items', 'ingested_posts', 'media');
-- Reloads this connection's schema from the edited text.
PRAGMA writable_schema = RESET;
-- Any schema change bumps the schema cookie, which tells other connections (another
-- Lifeboat process) to reload theirs.
CREATE TABLE schema_cookie_bump (x);
DROP TABLE schema_cookie_bump;
