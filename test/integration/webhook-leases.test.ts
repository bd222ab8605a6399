import { DataSource } from 'typeorm';
import { DeliveryRunner } from '../../src/events/delivery-runner.service';
import { WebhookDeliveryRepository } from '../../src/events/webhook-delivery.repository';
import { bearer, issueIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import { composeDraft } from '../support/publish';
import { sql } from '../support/sql';
import { startTestApp, type TestApp } from '../support/test-app';
import { createWebhook, startReceiver, type Receiver } from '../support/webhooks';

/**
 * Delivery leases, fencing and the ordering rule, driven through the real repository and
 * DeliveryRunner of an app that runs no workers of its own (IMGSRV_ROLES=api), so the test
 * decides who claims what and when.
 */
describe('webhook delivery leases', () => {
  let app: TestApp;
  let deliveries: WebhookDeliveryRepository;
  let runner: DeliveryRunner;
  let dataSource: DataSource;
  let receiver: Receiver;
  let admin: Record<string, string>;
  let w: Record<string, string>;

  beforeAll(async () => {
    [app, receiver] = await Promise.all([
      startTestApp({
        env: {
          IMGSRV_ROLES: 'api',
          IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
          IMGSRV_WEBHOOK_RETRY_FOR: '1h',
        },
      }),
      startReceiver(),
    ]);
    const nest = app.server.application.app;
    deliveries = nest.get(WebhookDeliveryRepository, { strict: false });
    runner = nest.get(DeliveryRunner, { strict: false });
    dataSource = nest.get(DataSource);
    admin = bearer(app.bootstrapToken);
    w = (await issueIdentity(app, 'content-writer')).headers;
    for (const image of ['one', 'two']) {
      for (const v of ['1', '2', '3']) {
        await composeDraft(app, w, image, v, []);
        await markPublished(app, image, v);
      }
    }
  });
  afterAll(async () => {
    await receiver?.close();
    await app?.close();
  });

  const move = async (image: string, version: string) => {
    const res = await api(app, 'PUT', `/v1/images/${image}/aliases/latest`, w, { version });
    expect(res.status).toBe(200);
  };

  /** The webhook's deliveries in event order, with what the test needs of each. */
  const rows = (webhookId: string) =>
    sql<{ id: string; state: string; image: string; version: string; attempt_count: number }>(
      app.database.url,
      `SELECT d.id, d.state, e.image_name AS image, e.data->>'version' AS version, d.attempt_count
         FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id
        WHERE d.subscription_id = $1 ORDER BY d.event_seq`,
      [webhookId],
    );

  it('gives a delivery to exactly one of many claimers, and to another only after the lease expired', async () => {
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    await move('one', '1');
    const [row] = await rows(hook.id);
    const owners = Array.from({ length: 8 }, (_, i) => `owner-${i}`);
    const claims = await Promise.all(owners.map((o) => deliveries.claim(row.id, o, 60_000)));
    const won = claims.filter((c) => c !== null);
    expect(won).toHaveLength(1);
    const first = won[0]!;
    expect(first).toMatchObject({ id: row.id, attempt: 1, takeover: false, url: receiver.url });
    expect(first.secret).toBe(hook.secret);
    for (const o of owners) expect(await deliveries.claim(row.id, o, 60_000)).toBeNull();
    expect(await deliveries.renew(first, 60_000)).toBe(true);

    await sql(
      app.database.url,
      `UPDATE webhook_delivery SET lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [row.id],
    );
    const second = await deliveries.claim(row.id, 'owner-x', 60_000);
    expect(second).toMatchObject({ attempt: 2, takeover: true });
    // The first owner's lease is gone: it can neither renew nor record.
    expect(await deliveries.renew(first, 60_000)).toBe(false);
    const fenced = await dataSource.transaction((m) => deliveries.holdsLease(m, first));
    expect(fenced).toBe(false);
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('holds back a later event of the same image while an earlier one is open, not other images', async () => {
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    await move('one', '2');
    await move('two', '1');
    await move('one', '3');
    const [a1, b1, a2] = await rows(hook.id);
    expect([a1.image, b1.image, a2.image]).toEqual(['one', 'two', 'one']);

    // one@2 is open: one@3 may not go; two@1 may.
    expect(await deliveries.claim(a2.id, 'o', 60_000)).toBeNull();
    expect(await deliveries.claim(b1.id, 'o', 60_000)).not.toBeNull();
    // Still not while one@2 runs.
    const running = await deliveries.claim(a1.id, 'o', 60_000);
    expect(running).not.toBeNull();
    expect(await deliveries.claim(a2.id, 'o', 60_000)).toBeNull();
    // Once it ended (here: delivered by the runner's record path), the next one of the chain goes.
    await dataSource.transaction((m) =>
      deliveries.finishAttempt(
        m,
        running!,
        { state: 'succeeded' },
        { responseCode: 204, latencyMs: 1, error: null },
      ),
    );
    expect(await deliveries.headOfChain(hook.id, 'image:one')).toBe(a2.id);
    expect(await deliveries.claim(a2.id, 'o', 60_000)).not.toBeNull();
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('gives up without sending a delivery taken over after its retry window, and disables its subscription', async () => {
    const before = receiver.received.length;
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    await move('two', '2');
    const [row] = await rows(hook.id);
    // Its worker died in the middle of an attempt (a lapsed lease), and the event is old.
    await deliveries.claim(row.id, 'dead-worker', 60_000);
    await sql(
      app.database.url,
      `UPDATE webhook_delivery SET lease_expires_at = now() - interval '1 second',
              created_at = now() - interval '2 hours' WHERE id = $1`,
      [row.id],
    );
    expect(await runner.run(row.id, 'taker')).toBe(true);
    const [after] = await rows(hook.id);
    expect(after).toMatchObject({ state: 'failed', attempt_count: 2 });
    const [{ last_error }] = await sql(
      app.database.url,
      `SELECT last_error FROM webhook_delivery WHERE id = $1`,
      [row.id],
    );
    expect(last_error).toMatch(/retry window is over and the last attempt did not finish/);
    expect(receiver.received.length).toBe(before);
    const sub = await api(app, 'GET', `/v1/webhooks/${hook.id}`, admin);
    expect(sub.body.enabled).toBe(false);
  });

  it('sends a due delivery through the runner: signed, recorded with its status and latency', async () => {
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    await move('two', '3');
    const [row] = await rows(hook.id);
    expect(await runner.run(row.id, 'runner')).toBe(true);
    // Nothing left to do: a second run claims nothing.
    expect(await runner.run(row.id, 'runner')).toBe(false);
    const [d] = await sql(
      app.database.url,
      `SELECT state, attempt_count, last_response_code, last_latency_ms, lease_owner FROM webhook_delivery WHERE id = $1`,
      [row.id],
    );
    expect(d).toMatchObject({
      state: 'succeeded',
      attempt_count: 1,
      last_response_code: 204,
      lease_owner: null,
    });
    expect(d.last_latency_ms).toBeGreaterThanOrEqual(0);
    const got = receiver.received[receiver.received.length - 1];
    expect(got.json).toMatchObject({ type: 'alias.moved', data: { image: 'two', version: '3' } });
  });
});
