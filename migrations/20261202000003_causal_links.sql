-- Causal chains (`causalChain`): an event by its id, and the events an event caused.
-- Event ids are UUID v7 (time-ordered), so their index grows at its right edge. An event's
-- causation id is the command's own id unless a worker (or a caller) named the event that
-- caused it; only those links are indexed, so the common command pays nothing for it.
CREATE UNIQUE INDEX events_by_event_id ON events (event_id);
CREATE INDEX events_by_cause ON events ((metadata ->> 'causation_id'))
    WHERE (metadata ->> 'causation_id') IS DISTINCT FROM (metadata ->> 'command_id');
