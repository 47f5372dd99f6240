-- Retention deletes sent deliveries (with their items and attempts) some days after they were
-- sent, oldest first, in batches: this index finds them without scanning every delivery.
CREATE INDEX deliveries_sent ON deliveries (sent_at) WHERE status = 'sent';
