-- DuckDB views over the lake. {articles}, {entities}, {cluster_remaps}, {dead_letters} are replaced by
-- the table sources (read_parquet over the Hive-partitioned files, or an empty table of the same schema).

-- Retired syndication cluster ids and the cluster each now belongs to (the latest row per id wins).
CREATE OR REPLACE VIEW cluster_remaps AS SELECT * FROM {cluster_remaps};

-- Every story version ever received (audit trail); one row per distinct (story_id, version).
-- cluster_id is the story's current syndication cluster: the id written with the row, mapped through
-- cluster_remaps when clusters merged later. The cluster's representative (its earliest member) is
-- the 'original'; a former representative of a merged cluster shows as a near duplicate of it.
CREATE OR REPLACE VIEW articles AS
WITH current_ids AS (
    SELECT cluster_from, arg_max(cluster_to, batch_id) AS cluster_to FROM {cluster_remaps} GROUP BY cluster_from
), resolved AS (
    SELECT a.*, coalesce(r.cluster_to, a.cluster_id) AS current_cluster
    FROM {articles} AS a LEFT JOIN current_ids AS r ON a.cluster_id = r.cluster_from
)
SELECT * EXCLUDE (current_cluster) REPLACE (
    current_cluster AS cluster_id,
    CASE WHEN story_id = current_cluster THEN 'original'
         WHEN dup_kind = 'original' THEN 'near'
         ELSE dup_kind END AS dup_kind,
    CASE WHEN story_id <> current_cluster AND duplicate_of IS NULL THEN current_cluster
         ELSE duplicate_of END AS duplicate_of
)
FROM resolved;

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

-- One row per syndication cluster: its representative (earliest member), how many stories it holds,
-- who published them and how fast each republication followed the original. A story's publication
-- time is its first_created (else version_created, else when the job first read it).
CREATE OR REPLACE VIEW clusters AS
WITH members AS (
    SELECT story_id,
           arg_max(cluster_id, version) AS cluster_id,
           arg_max(provider, version) AS provider,
           arg_max(headline, version) AS headline,
           arg_max(dup_kind, version) AS dup_kind,
           min(coalesce(first_created, version_created, kafka_timestamp, ingested_at)) AS published_at
    FROM articles
    GROUP BY story_id
), ranked AS (
    SELECT m.*,
           first_value(published_at) OVER (PARTITION BY cluster_id ORDER BY story_id = cluster_id DESC,
                                           published_at, story_id) AS original_published_at
    FROM members AS m
)
SELECT cluster_id,
       any_value(headline) FILTER (WHERE story_id = cluster_id) AS headline,
       any_value(provider) FILTER (WHERE story_id = cluster_id) AS provider,
       count(*) AS members,
       count(*) FILTER (WHERE dup_kind = 'exact') AS exact_copies,
       count(*) FILTER (WHERE dup_kind = 'near') AS near_copies,
       coalesce(list(DISTINCT provider ORDER BY provider) FILTER (WHERE provider IS NOT NULL), []) AS providers,
       min(published_at) AS first_seen,
       max(published_at) AS last_seen,
       coalesce(list(epoch(published_at) - epoch(original_published_at) ORDER BY published_at, story_id)
           FILTER (WHERE story_id <> cluster_id), []) AS republication_delays_s,
       coalesce(list(story_id ORDER BY published_at, story_id) FILTER (WHERE story_id <> cluster_id), []) AS copies
FROM ranked
GROUP BY cluster_id;

-- One row per real story: the cluster representative's current version, when it is in `stories`.
CREATE OR REPLACE VIEW unique_stories AS
SELECT s.*, c.members AS cluster_members, c.providers AS cluster_providers
FROM stories AS s JOIN clusters AS c ON s.story_id = c.cluster_id;
