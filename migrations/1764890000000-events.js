// @ts-check
/**
 * Events and webhooks. An event is written to webhook_event (the outbox) in the same transaction
 * as the change it reports, together with one webhook_delivery per subscription that wants it.
 * Deliveries are leased like publish steps: a worker sends only under a lease (owner, attempt,
 * expiry) and records the outcome only while it still holds it; Redis only wakes workers.
 *
 * Deliveries of one subscription that share an ordering key (events of one image) go out in
 * event order: `seq` is taken under a per-key advisory lock, so within a key it follows commit
 * order. Event types are checked in code (src/events/event-types.ts), not here, so adding one
 * needs no migration.
 *
 * Subscription secrets are stored as the whsec_ text the subscriber was shown: they must stay
 * usable for signing, and no encryption key is configured (see README, "Events").
 * @typedef {import('typeorm').MigrationInterface} MigrationInterface
 * @typedef {import('typeorm').QueryRunner} QueryRunner
 */

/** @implements {MigrationInterface} */
class Events1764890000000 {
  name = 'Events1764890000000';

  /** @param {QueryRunner} q */
  async up(q) {
    await q.query(`
      CREATE TABLE webhook_subscription (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        url text NOT NULL,
        events text[] NOT NULL,
        description text NULL,
        secret text NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        disabled_at timestamptz NULL,
        disabled_reason text NULL,
        created_by uuid NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhook_subscription PRIMARY KEY (id),
        CONSTRAINT ck_webhook_subscription_url CHECK (url ~ '^https?://' AND char_length(url) <= 2048),
        CONSTRAINT ck_webhook_subscription_events CHECK (cardinality(events) BETWEEN 1 AND 32),
        CONSTRAINT ck_webhook_subscription_description CHECK (description IS NULL OR char_length(description) <= 500),
        CONSTRAINT ck_webhook_subscription_secret CHECK (secret ~ '^whsec_[A-Za-z0-9+/]{32,}={0,2}$'),
        CONSTRAINT ck_webhook_subscription_disabled CHECK (enabled = (disabled_at IS NULL))
      )`);
    await q.query(
      `CREATE INDEX ix_webhook_subscription_created ON webhook_subscription (created_at, id)`,
    );
    await q.query(`CREATE TRIGGER trg_webhook_subscription_updated_at BEFORE UPDATE ON webhook_subscription
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);

    await q.query(`
      CREATE TABLE webhook_event (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        type text NOT NULL,
        ordering_key text NULL,
        image_name text NULL,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        data jsonb NOT NULL,
        CONSTRAINT pk_webhook_event PRIMARY KEY (id),
        CONSTRAINT uq_webhook_event_seq UNIQUE (seq),
        CONSTRAINT ck_webhook_event_type CHECK (type ~ '^[a-z_]+(\\.[a-z_]+)*$'),
        CONSTRAINT ck_webhook_event_data CHECK (jsonb_typeof(data) = 'object')
      )`);
    await q.query(`CREATE INDEX ix_webhook_event_occurred ON webhook_event (occurred_at)`);

    await q.query(`
      CREATE TABLE webhook_delivery (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        event_id uuid NOT NULL,
        subscription_id uuid NOT NULL,
        event_seq bigint NOT NULL,
        ordering_key text NULL,
        state text NOT NULL DEFAULT 'pending',
        attempt_count integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_owner text NULL,
        lease_attempt integer NULL,
        lease_expires_at timestamptz NULL,
        last_attempt_at timestamptz NULL,
        last_response_code integer NULL,
        last_latency_ms integer NULL,
        last_error text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_webhook_delivery PRIMARY KEY (id),
        CONSTRAINT uq_webhook_delivery_event_subscription UNIQUE (event_id, subscription_id),
        CONSTRAINT fk_webhook_delivery_event FOREIGN KEY (event_id) REFERENCES webhook_event (id) ON DELETE CASCADE,
        CONSTRAINT fk_webhook_delivery_subscription FOREIGN KEY (subscription_id) REFERENCES webhook_subscription (id) ON DELETE CASCADE,
        CONSTRAINT ck_webhook_delivery_state CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        CONSTRAINT ck_webhook_delivery_lease CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
        CONSTRAINT ck_webhook_delivery_finished CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
        CONSTRAINT ck_webhook_delivery_attempts CHECK (attempt_count >= 0),
        CONSTRAINT ck_webhook_delivery_response_code CHECK (last_response_code IS NULL OR last_response_code BETWEEN 100 AND 999)
      )`);
    // Listing a subscription's deliveries newest first (event_seq is unique per subscription).
    await q.query(
      `CREATE UNIQUE INDEX uq_webhook_delivery_subscription_seq ON webhook_delivery (subscription_id, event_seq)`,
    );
    // The ordering rule: earlier deliveries of the same subscription and key still open.
    await q.query(`CREATE INDEX ix_webhook_delivery_open_chain ON webhook_delivery (subscription_id, ordering_key, event_seq)
      WHERE state IN ('pending', 'running')`);
    // The sweeper: due and lapsed deliveries.
    await q.query(
      `CREATE INDEX ix_webhook_delivery_due ON webhook_delivery (next_attempt_at) WHERE state = 'pending'`,
    );
    await q.query(
      `CREATE INDEX ix_webhook_delivery_lease ON webhook_delivery (lease_expires_at) WHERE state = 'running'`,
    );
    // The disable rule: a success of the subscription since a given time.
    await q.query(`CREATE INDEX ix_webhook_delivery_succeeded ON webhook_delivery (subscription_id, finished_at)
      WHERE state = 'succeeded'`);
    await q.query(`CREATE TRIGGER trg_webhook_delivery_updated_at BEFORE UPDATE ON webhook_delivery
      FOR EACH ROW EXECUTE FUNCTION set_updated_at()`);
  }

  /** @param {QueryRunner} q */
  async down(q) {
    await q.query('DROP TABLE webhook_delivery');
    await q.query('DROP TABLE webhook_event');
    await q.query('DROP TABLE webhook_subscription');
  }
}

module.exports = { Events1764890000000 };
