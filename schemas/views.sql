-- DuckDB views over the lake. {articles}, {dead_letters} are replaced by the table sources
-- (read_parquet over the Hive-partitioned files, or an empty table of the same schema).

-- Every story version ever received (audit trail); one row per distinct (story_id, version).
CREATE OR REPLACE VIEW articles AS SELECT * FROM {articles};

-- Messages that could not become articles, with their original bytes.
CREATE OR REPLACE VIEW dead_letters AS SELECT * FROM {dead_letters};

-- The current state of each story: its latest version (by version number, then version_created),
-- with killed stories (latest pubstatus 'canceled') left out.
CREATE OR REPLACE VIEW stories AS
SELECT * EXCLUDE (version_rank)
FROM (
    SELECT *,
           row_number() OVER (
               PARTITION BY story_id
               ORDER BY version DESC, version_created DESC NULLS LAST, ingested_at DESC, "offset" DESC
           ) AS version_rank
    FROM articles
)
WHERE version_rank = 1 AND pubstatus <> 'canceled';
