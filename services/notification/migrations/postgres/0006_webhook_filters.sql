-- Webhook subscriptions filtered by unit (a JSON array of unit names; empty
-- for all), and the gateway client whose system an endpoint is (empty: the
-- municipality's own).
ALTER TABLE webhook_subscriptions ADD COLUMN units TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhook_subscriptions ADD COLUMN client TEXT NOT NULL DEFAULT '';
