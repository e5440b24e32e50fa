-- "Is there a claim in this scope whose key starts with P?" (e.g. a staging environment of a
-- product) as a range on the key in byte order: `key COLLATE "C" >= P AND key COLLATE "C" < P'`.
-- The primary key's collation is the database's, under which a prefix is not a contiguous
-- range, and `LIKE $2` with a parameter has no index condition in a generic plan: the lookup
-- read every claim of the scope.
CREATE INDEX unique_claims_by_prefix ON unique_claims (scope, key COLLATE "C");
