-- The integration edge (integration crate). The log is the relay's outbox, so the relay keeps
-- only its checkpoint (reactor_checkpoints) and the events it had to park.

-- Events the broker refused, or that kept failing while others got through: the relay moved
-- past them; an operator publishes them again (GraphQL `retryParkedEvent`).
CREATE TABLE relay_parked (
    message_id      text        PRIMARY KEY,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL,
    event_type      text        NOT NULL,
    tenant_id       text,
    trace_id        text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('PARKED', 'REPUBLISHED')),
    error           text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 1,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    republished_at  timestamptz
);
-- The operators' list, newest first, paged by (parked_at, message_id).
CREATE INDEX relay_parked_newest ON relay_parked (parked_at DESC, message_id DESC);

-- Commands of the Control Plane that can never succeed (malformed, refused by the role table
-- or the domain). Service Bus's REST API has no dead-letter call: the message is completed
-- once it is recorded here and the rejection is published.
CREATE TABLE rejected_commands (
    message_id     text        PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    aggregate_type text,
    aggregate_id   text,
    command        text,
    tenant_id      text,
    trace_id       text        NOT NULL,
    code           text        NOT NULL,
    reason         text        NOT NULL,
    body           text        NOT NULL,
    delivery_count integer     NOT NULL
);
CREATE INDEX rejected_commands_newest ON rejected_commands (received_at DESC, message_id DESC);
