-- Search (ILIKE '%…%' on name, description and masked form, newest first, 50 a page): the
-- planner either walks api_keys_environment_created_idx until 51 rows match (right when many
-- keys match) or collects the matches from the trigram indexes and sorts them (right when few
-- do). It decides by matching the pattern against the column's histogram. With the default 100
-- entries, a rare fragment that happens to be in one entry is taken for 1 % of the table, and
-- the walk reads every key of a 100 000-key environment (0.2–0.8 s, seen in
-- tests/load/seed.sh). 1 000 entries make that mistake need five of them: a fragment has to
-- match hundreds of keys before the planner walks, and then the walk ends early. The cost is
-- about 0.7 ms more planning per search.
ALTER TABLE api_keys
    ALTER COLUMN name SET STATISTICS 1000,
    ALTER COLUMN description SET STATISTICS 1000,
    ALTER COLUMN masked SET STATISTICS 1000;
-- The new targets apply from the next ANALYZE; do not wait for autovacuum.
ANALYZE api_keys;
