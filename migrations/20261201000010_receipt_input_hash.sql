-- A retried command with the same idempotency key must be the same command: the receipt keeps
-- a fingerprint of the input (hex SHA-256 of the canonical input, see
-- `commands::idempotency::input_hash`), and a key reused with other input is refused.
-- Receipts written before this column existed have NULL: they are checked by command type and
-- aggregate only, as before.
ALTER TABLE command_receipts ADD COLUMN input_hash text;
