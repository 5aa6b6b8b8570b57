-- DuckDB views over the lake. {articles}, {entities}, {dead_letters} are replaced by the table
-- sources (read_parquet over the Hive-partitioned files, or an empty table of the same schema).

-- Every story version ever received (audit trail); one row per distinct (story_id, version).
CREATE OR REPLACE VIEW articles AS SELECT * FROM {articles};

-- Every named-entity mention (source 'model') and provider tag (source 'provider') of every version.
CREATE OR REPLACE VIEW entities AS SELECT * FROM {entities};

-- Messages that could not become articles, with their original bytes.
CREATE OR REPLACE VIEW dead_letters AS SELECT * FROM {dead_letters};

-- The current state of each story, as wire services define it:
--   * the newest version wins: highest version number, then latest version_created, whatever the
--     order of arrival;
--   * a kill (any version with pubstatus 'canceled') hides every version of the story;
--   * a newest version that is 'withheld', or 'embargoed' without a time, hides the story until a
--     later usable version arrives;
--   * a newest version embargoed until a time hides the story until then (evaluated at query time).
CREATE OR REPLACE VIEW stories AS
SELECT * EXCLUDE (version_rank, killed)
FROM (
    SELECT *,
           row_number() OVER (
               PARTITION BY story_id
               ORDER BY version DESC, version_created DESC NULLS LAST, ingested_at DESC, "offset" DESC
           ) AS version_rank,
           bool_or(pubstatus = 'canceled') OVER (PARTITION BY story_id) AS killed
    FROM articles
)
WHERE version_rank = 1
  AND NOT killed
  AND pubstatus IN ('usable', 'embargoed')
  AND NOT (pubstatus = 'embargoed' AND embargoed_until IS NULL)
  AND (embargoed_until IS NULL OR embargoed_until <= now());

-- The entities of the current version of each story in `stories`.
CREATE OR REPLACE VIEW story_entities AS
SELECT e.*
FROM entities AS e
JOIN stories AS s USING (story_id, version);
