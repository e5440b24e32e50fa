-- The role an event's actor acted as, for Governance (the audit projector is rebuilt at start
-- because its version changed, which fills it and the corrected tenants in).
ALTER TABLE audit_log ADD COLUMN actor_role text;
CREATE INDEX audit_log_actor_role ON audit_log (actor_role, recorded_at);

-- The one tenant-visibility rule of every read: a row of tenant `tenant` (NULL or '' for
-- platform-wide and shared rows) is visible to a caller limited to `scope` (NULL: every
-- tenant). A SQL function so that every query says it the same way; `LANGUAGE sql IMMUTABLE`
-- so the planner inlines it and index conditions on the other columns still apply.
CREATE FUNCTION tenant_visible(tenant text, scope text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT scope IS NULL OR tenant IS NULL OR tenant = '' OR tenant = ANY (scope) $$;
