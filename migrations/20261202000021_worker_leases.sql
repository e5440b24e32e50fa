-- One leader per worker (control loop) across replicas: a lease with an expiry by the
-- database's clock and an epoch that every change of holder increments. The leader renews it
-- while it runs; another replica takes it over only once it expired. Every command a worker
-- issues carries (worker, holder, epoch) and the append checks it in its transaction with a
-- `FOR SHARE` lock of this row (commands/src/fence.rs): a deposed leader's late command is
-- refused, and a takeover waits for an append in flight.
CREATE TABLE worker_leases (
    worker      text        PRIMARY KEY,
    holder      text        NOT NULL,
    epoch       bigint      NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
