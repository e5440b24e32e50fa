-- Durable checkpoints of the reactors (workers that answer events with commands): every
-- wanted event up to (transaction id, position) was reacted to. Unlike a projection's, this
-- checkpoint moves after the reactions committed, on their own, so delivery is at least once.
CREATE TABLE reactor_checkpoints (
    reactor          text        PRIMARY KEY,
    transaction_id   xid8        NOT NULL DEFAULT '0',
    global_position  bigint      NOT NULL DEFAULT 0,
    events_handled   bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
