import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { isInternalAddress } from '../../src/auth/internal-address';
import { bearer, issueIdentity, type IssuedIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { eventually } from '../support/waiting';
import { startTestApp, type TestApp } from '../support/test-app';
import {
  createWebhook,
  deliveriesOf,
  startReceiver,
  verify,
  waitForDeliveries,
  type Receiver,
} from '../support/webhooks';

/**
 * A URL that is never delivered to in these tests (no event it subscribes to happens while it
 * exists), on a closed loopback port all the same: nothing here may leave this machine, not even
 * a DNS query for a made-up name.
 */
const NOWHERE = 'http://127.0.0.1:9';

/** Quick retries and sweeps; loopback receivers allowed (only 127.0.0.1, exactly). */
const FAST = {
  IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  IMGSRV_WEBHOOK_BACKOFF_BASE: '100ms',
  IMGSRV_WEBHOOK_BACKOFF_CAP: '400ms',
  IMGSRV_WEBHOOK_SWEEP_INTERVAL: '300ms',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A published version without artifacts: enough for aliases to point at. */
async function publishedVersions(
  app: TestApp,
  w: Record<string, string>,
  image: string,
  versions: string[],
): Promise<void> {
  for (const v of versions) {
    await composeDraft(app, w, image, v, []);
    await markPublished(app, image, v);
  }
}

const moveAlias = async (
  app: TestApp,
  w: Record<string, string>,
  image: string,
  alias: string,
  version: string,
) => {
  const res = await api(app, 'PUT', `/v1/images/${image}/aliases/${alias}`, w, { version });
  if (res.status !== 200) throw new Error(`alias PUT answered ${res.status}`);
};

describe('webhooks', () => {
  let app: TestApp;
  let admin: Record<string, string>;
  let writer: IssuedIdentity;
  let w: Record<string, string>;
  const receivers: Receiver[] = [];

  const receiver = async (path?: string) => {
    const r = await startReceiver(path);
    receivers.push(r);
    return r;
  };

  beforeAll(async () => {
    // The refusal of names that resolve inside needs a name off the allow list to be accepted
    // when saved: this machine's own, which /etc/hosts resolves to loopback, so nothing leaves it.
    app = await startTestApp({ env: { ...FAST, IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS: 'false' } });
    admin = bearer(app.bootstrapToken);
    writer = await issueIdentity(app, 'content-writer', ['*'], 'release pipeline');
    w = writer.headers;
  });
  afterAll(async () => {
    for (const r of receivers) await r.close();
    await app?.close();
  });

  it('creates a subscription with its secret shown once, and lists, reads, replaces and deletes it', async () => {
    const created = await api(app, 'POST', '/v1/webhooks', admin, {
      url: `${NOWHERE}/imgsrv?team=ops`,
      events: ['version.published', 'alias.moved', 'version.published'],
      description: 'release notifications',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      url: `${NOWHERE}/imgsrv?team=ops`,
      events: ['version.published', 'alias.moved'],
      description: 'release notifications',
      enabled: true,
      disabled_at: null,
      disabled_reason: null,
    });
    expect(created.body.id).toMatch(UUID);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = created.body.id;

    const one = await api(app, 'GET', `/v1/webhooks/${id}`, admin);
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('secret');
    expect(JSON.stringify(one.body)).not.toContain(created.body.secret.slice(6));

    // The planned types are accepted already.
    const planned = await createWebhook(app, admin, `${NOWHERE}/b`, [
      'version.withdrawn',
      'remote.sync_finished',
    ]);
    const third = await createWebhook(app, admin, `${NOWHERE}/c`, ['alias.deleted']);
    const first = await api(app, 'GET', '/v1/webhooks?limit=2', admin);
    expect(first.status).toBe(200);
    expect(first.body.webhooks.map((h: { id: string }) => h.id)).toEqual([id, planned.id]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    for (const h of first.body.webhooks) expect(h).not.toHaveProperty('secret');
    const second = await api(
      app,
      'GET',
      `/v1/webhooks?limit=2&cursor=${first.body.next_cursor}`,
      admin,
    );
    expect(second.body.webhooks).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();

    const replaced = await api(app, 'PUT', `/v1/webhooks/${id}`, admin, {
      url: `${NOWHERE}/v2`,
      events: ['alias.deleted'],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      url: `${NOWHERE}/v2`,
      events: ['alias.deleted'],
      description: null,
      enabled: true,
    });
    expect(replaced.body).not.toHaveProperty('secret');

    expect((await api(app, 'DELETE', `/v1/webhooks/${id}`, admin)).status).toBe(204);
    expect((await api(app, 'GET', `/v1/webhooks/${id}`, admin)).body.code).toBe(
      'WEBHOOK_NOT_FOUND',
    );
    expect((await api(app, 'DELETE', `/v1/webhooks/${id}`, admin)).status).toBe(404);

    const audit = await api(app, 'GET', '/v1/audit-events?limit=500', admin);
    const mine = audit.body.audit_events.filter((e: { target_id: string }) => e.target_id === id);
    expect(mine.map((e: { action: string }) => e.action)).toEqual([
      'webhook.delete',
      'webhook.update',
      'webhook.create',
    ]);
    expect(JSON.stringify(audit.body)).not.toContain(created.body.secret.slice(6));
    for (const other of [planned, third])
      expect((await api(app, 'DELETE', `/v1/webhooks/${other.id}`, admin)).status).toBe(204);
  });

  it('refuses malformed subscriptions with 400 problems naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ url: 'https://hooks.example.org/', events: [] }, '/events'],
      [{ url: 'https://hooks.example.org/', events: ['version.exploded'] }, '/events'],
      [{ url: 'https://hooks.example.org/', events: ['ping'] }, '/events'],
      [{ url: 'ftp://hooks.example.org/', events: ['alias.moved'] }, '/url'],
      [{ url: 'https://user:pw@hooks.example.org/', events: ['alias.moved'] }, '/url'],
      [{ url: 'not a url', events: ['alias.moved'] }, '/url'],
      [{ url: 'https://hooks.example.org/', events: ['alias.moved'], secret: 'x' }, '/secret'],
    ];
    for (const [body, pointer] of cases) {
      const res = await api(app, 'POST', '/v1/webhooks', admin, body);
      expect([JSON.stringify(body), res.status, res.body.code]).toEqual([
        JSON.stringify(body),
        400,
        'VALIDATION_FAILED',
      ]);
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
    }
    expect((await api(app, 'GET', '/v1/webhooks/not-a-uuid', admin)).status).toBe(400);
  });

  it('lets only holders of webhook.manage near subscriptions', async () => {
    const hook = await createWebhook(app, admin, `${NOWHERE}/rbac`, ['alias.moved']);
    const body = { url: `${NOWHERE}/x`, events: ['alias.moved'] };
    const routes: [string, string, unknown?][] = [
      ['GET', '/v1/webhooks'],
      ['POST', '/v1/webhooks', body],
      ['GET', `/v1/webhooks/${hook.id}`],
      ['PUT', `/v1/webhooks/${hook.id}`, body],
      ['POST', `/v1/webhooks/${hook.id}/test`],
      ['GET', `/v1/webhooks/${hook.id}/deliveries`],
      ['DELETE', `/v1/webhooks/${hook.id}`],
    ];
    const callers: Record<string, Record<string, string>> = {
      anonymous: {},
      none: (await issueIdentity(app, [])).headers,
      reader: (await issueIdentity(app, 'reader')).headers,
      'content-writer': w,
      'release-manager': (await issueIdentity(app, 'release-manager')).headers,
    };
    for (const [who, headers] of Object.entries(callers)) {
      const got: number[] = [];
      for (const [method, path, b] of routes)
        got.push((await api(app, method, path, headers, b)).status);
      expect([who, got]).toEqual([who, routes.map(() => (who === 'anonymous' ? 401 : 403))]);
    }
    const refused = await api(app, 'GET', '/v1/webhooks', callers.reader);
    expect(refused.body).toMatchObject({ code: 'FORBIDDEN', required_action: 'webhook.manage' });
    // auth-manager holds webhook.manage. The ping goes to a closed loopback port; the
    // subscription is deleted right after (the last route).
    const manager = (await issueIdentity(app, 'auth-manager')).headers;
    const allowed: number[] = [];
    for (const [method, path, b] of routes)
      allowed.push((await api(app, method, path, manager, b)).status);
    expect(allowed).toEqual([200, 201, 200, 200, 202, 200, 204]);
    const extra = await api(app, 'GET', '/v1/webhooks', manager);
    for (const h of extra.body.webhooks) await api(app, 'DELETE', `/v1/webhooks/${h.id}`, manager);
    const roles = await api(app, 'GET', '/v1/auth/roles', admin);
    expect(roles.body.roles).toContainEqual({
      id: 'auth-manager',
      actions: ['auth.manage', 'audit.read', 'webhook.manage', 'remote.manage'],
    });
  });

  describe('with a real publish', () => {
    let dir: string;
    let disk: FixtureFile;
    let amd64: FixtureFile;
    let arm64: FixtureFile;

    beforeAll(async () => {
      dir = await makeFixtureDir();
      const meta = (architecture: string) =>
        makeIncusMetadata(dir, {
          architecture,
          os: 'debian',
          release: 'bookworm',
          variant: 'default',
          type: 'virtual-machine',
        });
      [disk, amd64, arm64] = await Promise.all([
        makeQcow2(dir, { seed: 'webhooks' }),
        meta('amd64'),
        meta('arm64'),
      ]);
    });
    afterAll(() => removeFixtureDir(dir));

    it('signs version.published and version.publish_failed so that the standardwebhooks library verifies them', async () => {
      const r = await receiver();
      const hook = await createWebhook(app, admin, r.url, [
        'version.published',
        'version.publish_failed',
      ]);
      const aliasesOnly = await receiver('/aliases-only');
      const other = await createWebhook(app, admin, aliasesOnly.url, ['alias.moved']);

      const { artifactIds } = await composeDraft(app, w, 'debian-12', '20261123', [
        { root: disk, metadata: amd64 },
      ]);
      const accepted = await api(app, 'POST', publishPath('debian-12', '20261123'), w);
      const job = await waitForJob(app, w, accepted.body.id, ['succeeded', 'failed']);
      expect(job.state).toBe('succeeded');
      const [delivery] = await waitForDeliveries(app, admin, hook.id, 1);
      expect(delivery).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        response_code: 204,
        error: null,
        event: { type: 'version.published', image: 'debian-12' },
      });
      expect(delivery.latency_ms).toEqual(expect.any(Number));

      expect(r.received).toHaveLength(1);
      const got = r.received[0];
      expect(verify(hook.secret, got)).toEqual(got.json);
      expect(() => verify(other.secret, got)).toThrow();
      expect(got.headers['webhook-id']).toBe(delivery.event.id);
      expect(got.headers['content-type']).toBe('application/json');
      expect(Number(got.headers['webhook-timestamp'])).toBeGreaterThan(1_700_000_000);
      expect(got.json).toMatchObject({
        id: delivery.event.id,
        type: 'version.published',
        timestamp: delivery.event.occurred_at,
        data: {
          image: 'debian-12',
          version: '20261123',
          version_id: job.version_id,
          publish_job_id: job.id,
          actor: { principal_id: writer.principalId, name: 'release pipeline' },
          artifacts: [
            {
              id: artifactIds[0],
              architecture: 'amd64',
              format: 'qcow2',
              digest: disk.sha256,
              size_bytes: disk.size,
              attachments: [{ name: 'incus.tar.xz', digest: amd64.sha256, size_bytes: amd64.size }],
            },
          ],
          links: {
            version: '/v1/images/debian-12/versions/20261123',
            publish_job: `/v1/publish-jobs/${job.id}`,
          },
        },
      });
      // The link leads to the version.
      const linked = await api(app, 'GET', got.json.data.links.version, w);
      expect(linked.body.version.state).toBe('published');

      // A job that fails for good: its metadata contradicts its artifact.
      await composeDraft(app, w, 'debian-12', '20261124', [{ root: disk, metadata: arm64 }]);
      const doomed = await api(app, 'POST', publishPath('debian-12', '20261124'), w);
      expect((await waitForJob(app, w, doomed.body.id, ['failed', 'succeeded'])).state).toBe(
        'failed',
      );
      const both = await waitForDeliveries(app, admin, hook.id, 2);
      expect(both[0]).toMatchObject({
        status: 'succeeded',
        event: { type: 'version.publish_failed' },
      });
      expect(r.received).toHaveLength(2);
      expect(verify(hook.secret, r.received[1])).toMatchObject({
        type: 'version.publish_failed',
        data: {
          version: '20261124',
          publish_job_id: doomed.body.id,
          failure: { step: 'incus_index', message: expect.stringMatching(/arm64/) },
        },
      });
      // Only subscribed types are delivered.
      expect(await deliveriesOf(app, admin, other.id)).toEqual([]);
      expect(aliasesOnly.received).toEqual([]);
      await api(app, 'DELETE', `/v1/webhooks/${other.id}`, admin);
    });
  });

  it('sends a signed alias.moved and alias.deleted with where the alias pointed', async () => {
    const r = await receiver();
    const hook = await createWebhook(app, admin, r.url, ['alias.moved', 'alias.deleted']);
    await publishedVersions(app, w, 'alpine', ['3.20', '3.21']);
    await moveAlias(app, w, 'alpine', 'stable', '3.20');
    await moveAlias(app, w, 'alpine', 'stable', '3.21');
    // Putting it where it is changes nothing and sends nothing.
    await moveAlias(app, w, 'alpine', 'stable', '3.21');
    expect((await api(app, 'DELETE', '/v1/images/alpine/aliases/stable', w)).status).toBe(204);
    const deliveries = await waitForDeliveries(app, admin, hook.id, 3);
    expect(deliveries.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const bodies = r.received.map((got) => verify(hook.secret, got) as Record<string, any>);
    expect(bodies.map((b) => [b.type, b.data.version, b.data.previous_version])).toEqual([
      ['alias.moved', '3.20', null],
      ['alias.moved', '3.21', '3.20'],
      ['alias.deleted', '3.21', undefined],
    ]);
    expect(bodies[1].data).toMatchObject({
      image: 'alpine',
      alias: 'stable',
      actor: { principal_id: writer.principalId, name: 'release pipeline' },
      links: { alias: '/v1/images/alpine/aliases/stable' },
    });
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('sends an event that first met a 500 twice, and no more', async () => {
    const r = await receiver();
    r.answer((_req, i) => (i === 0 ? 500 : 204));
    const hook = await createWebhook(app, admin, r.url, ['alias.moved']);
    await publishedVersions(app, w, 'retried', ['1', '2']);
    await moveAlias(app, w, 'retried', 'latest', '1');
    const [delivery] = await waitForDeliveries(app, admin, hook.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2, response_code: 204 });
    expect(r.received).toHaveLength(2);
    expect(r.received.map((got) => got.headers['webhook-id'])).toEqual([
      delivery.event.id,
      delivery.event.id,
    ]);
    for (const got of r.received) verify(hook.secret, got);

    // A later event of the same image comes after it; the first is not sent a third time.
    await moveAlias(app, w, 'retried', 'latest', '2');
    const both = await waitForDeliveries(app, admin, hook.id, 2);
    expect(both.map((d) => [d.status, d.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 2],
    ]);
    expect(r.received.map((got) => got.json.data.version)).toEqual(['1', '1', '2']);
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('delivers the events of one image in order, holding later ones while an earlier one is retried', async () => {
    const r = await receiver();
    // The first event of "ordered" meets three failures before it is taken.
    let failuresLeft = 3;
    r.answer((got) => {
      if (got.json.data.image === 'ordered' && got.json.data.version === '1' && failuresLeft > 0) {
        failuresLeft--;
        return 503;
      }
      return 204;
    });
    const hook = await createWebhook(app, admin, r.url, ['alias.moved', 'alias.deleted']);
    const versions = ['1', '2', '3', '4', '5'];
    await publishedVersions(app, w, 'ordered', versions);
    await publishedVersions(app, w, 'unrelated', ['1']);
    for (const v of versions) {
      await moveAlias(app, w, 'ordered', 'latest', v);
      // Another image's events are not held back by this one's.
      await moveAlias(app, w, 'unrelated', `a${v}`, '1');
    }
    await api(app, 'DELETE', '/v1/images/ordered/aliases/latest', w);

    const deliveries = await waitForDeliveries(app, admin, hook.id, 11);
    expect(deliveries.every((d) => d.status === 'succeeded')).toBe(true);
    const ordered = r.received.filter((got) => got.json.data.image === 'ordered');
    expect(ordered.map((got) => `${got.json.type} ${got.json.data.version}`)).toEqual([
      'alias.moved 1',
      'alias.moved 1',
      'alias.moved 1',
      'alias.moved 1',
      'alias.moved 2',
      'alias.moved 3',
      'alias.moved 4',
      'alias.moved 5',
      'alias.deleted 5',
    ]);
    for (const got of r.received) verify(hook.secret, got);
    expect(r.received.filter((got) => got.json.data.image === 'unrelated')).toHaveLength(5);
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('refuses internal targets unless their host is allowed, in the URL and after resolution', async () => {
    const r = await receiver();
    for (const url of [
      `http://127.0.0.2:${r.port}/hook`,
      `http://0x7f000002:${r.port}/hook`,
      `http://localhost:${r.port}/hook`,
      `http://localhost.:${r.port}/hook`,
      `http://[::1]:${r.port}/hook`,
      `http://[::ffff:127.0.0.1]:${r.port}/hook`,
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      const res = await api(app, 'POST', '/v1/webhooks', admin, { url, events: ['alias.moved'] });
      expect([url, res.status, res.body.code]).toEqual([url, 400, 'WEBHOOK_TARGET_NOT_ALLOWED']);
      expect(res.body.errors).toEqual([{ pointer: '/url', detail: expect.any(String) }]);
    }
    // 127.0.0.1 is allowed here, in any spelling.
    const allowed = await createWebhook(app, admin, `http://2130706433:${r.port}/hook`, [
      'alias.moved',
    ]);
    expect(allowed.body.url).toBe(`http://2130706433:${r.port}/hook`);
    expect((await api(app, 'POST', `/v1/webhooks/${allowed.id}/test`, admin)).status).toBe(202);
    await eventually('the ping to the allowed host', async () =>
      r.received.length === 1 ? true : undefined,
    );
    await api(app, 'DELETE', `/v1/webhooks/${allowed.id}`, admin);

    // A name is checked after resolution: this machine's own name resolves to loopback.
    const name = hostname().toLowerCase();
    const addresses = await lookup(name, { all: true });
    if (!addresses.some((a) => isInternalAddress(a.address)))
      throw new Error(`this test needs ${name} to resolve to an internal address (/etc/hosts)`);
    const viaName = await createWebhook(app, admin, `http://${name}:${r.port}/hook`, [
      'alias.moved',
    ]);
    const ping = await api(app, 'POST', `/v1/webhooks/${viaName.id}/test`, admin);
    expect(ping.status).toBe(202);
    const refused = await eventually('a refused attempt', async () => {
      const [d] = await deliveriesOf(app, admin, viaName.id);
      return d.attempts >= 1 && d.error ? d : undefined;
    });
    expect(refused).toMatchObject({ status: 'pending', response_code: null });
    expect(refused.error).toContain(`${name} resolves to the internal address`);
    expect(r.received).toHaveLength(1);
    await api(app, 'DELETE', `/v1/webhooks/${viaName.id}`, admin);
  });

  it('follows no redirect: a 3xx is a failed attempt', async () => {
    const elsewhere = await receiver('/elsewhere');
    const r = await receiver();
    r.answer((_got, i) => (i === 0 ? { status: 307, headers: { location: elsewhere.url } } : 204));
    const hook = await createWebhook(app, admin, r.url, ['alias.moved']);
    const ping = await api(app, 'POST', `/v1/webhooks/${hook.id}/test`, admin);
    expect(ping.status).toBe(202);
    expect(ping.body).toMatchObject({
      webhook_id: hook.id,
      event: { type: 'ping', image: null },
    });
    const [delivery] = await waitForDeliveries(app, admin, hook.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(r.received).toHaveLength(2);
    expect(elsewhere.received).toEqual([]);
    expect(verify(hook.secret, r.received[1])).toMatchObject({
      type: 'ping',
      data: { subscription_id: hook.id },
    });
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });

  it('pings only enabled subscriptions, and disabling one by PUT cancels its open deliveries', async () => {
    const r = await receiver();
    r.answer(() => 500);
    const hook = await createWebhook(app, admin, r.url, ['alias.moved']);
    expect((await api(app, 'POST', `/v1/webhooks/${hook.id}/test`, admin)).status).toBe(202);
    await eventually('a failed attempt', async () => (r.received.length > 0 ? true : undefined));
    const off = await api(app, 'PUT', `/v1/webhooks/${hook.id}`, admin, {
      url: r.url,
      events: ['alias.moved'],
      enabled: false,
    });
    expect(off.body).toMatchObject({ enabled: false, disabled_reason: 'disabled by bootstrap' });
    const [cancelled] = await waitForDeliveries(app, admin, hook.id, 1);
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    const refused = await api(app, 'POST', `/v1/webhooks/${hook.id}/test`, admin);
    expect([refused.status, refused.body.code]).toEqual([409, 'WEBHOOK_DISABLED']);
    await api(app, 'DELETE', `/v1/webhooks/${hook.id}`, admin);
  });
});

describe('a webhook that keeps failing', () => {
  let app: TestApp;
  let admin: Record<string, string>;
  let receiver: Receiver;

  beforeAll(async () => {
    [app, receiver] = await Promise.all([
      startTestApp({ env: { ...FAST, IMGSRV_WEBHOOK_RETRY_FOR: '4s' } }),
      startReceiver(),
    ]);
    admin = bearer(app.bootstrapToken);
  });
  afterAll(async () => {
    await receiver?.close();
    await app?.close();
  });

  it('is disabled once every attempt failed for a whole retry window, audited, and can be enabled again', async () => {
    receiver.answer(() => 500);
    const w = (await issueIdentity(app, 'content-writer')).headers;
    const hook = await createWebhook(app, admin, receiver.url, ['alias.moved']);
    await publishedVersions(app, w, 'flaky', ['1', '2', '3']);
    await moveAlias(app, w, 'flaky', 'latest', '1');
    // Held back behind the first (same image) until that one fails for good.
    await moveAlias(app, w, 'flaky', 'latest', '2');

    const deliveries = await waitForDeliveries(app, admin, hook.id, 2);
    expect(deliveries.map((d) => [d.event.type, d.status])).toEqual([
      ['alias.moved', 'cancelled'],
      ['alias.moved', 'failed'],
    ]);
    const failed = deliveries[1];
    expect(failed.attempts).toBeGreaterThan(2);
    expect(failed).toMatchObject({ response_code: 500, error: 'answered 500' });
    expect(receiver.received.every((got) => got.json.data.version === '1')).toBe(true);
    expect(receiver.received).toHaveLength(failed.attempts);

    const disabled = await api(app, 'GET', `/v1/webhooks/${hook.id}`, admin);
    expect(disabled.body).toMatchObject({ enabled: false, disabled_at: expect.any(String) });
    expect(disabled.body.disabled_reason).toMatch(/whole retry window.*answered 500/);
    const audit = await api(app, 'GET', '/v1/audit-events?action=webhook.disable', admin);
    expect(audit.body.audit_events).toEqual([
      expect.objectContaining({
        action: 'webhook.disable',
        principal_id: null,
        principal_name: 'system:webhooks',
        target_type: 'webhook_subscription',
        target_id: hook.id,
        detail: expect.objectContaining({
          delivery_id: failed.id,
          event_id: failed.event.id,
          last_response_code: 500,
          cancelled_deliveries: 1,
          url_origin: new URL(receiver.url).origin,
        }),
      }),
    ]);

    // Disabled: new events are not delivered to it.
    await moveAlias(app, w, 'flaky', 'latest', '3');
    expect(await deliveriesOf(app, admin, hook.id)).toHaveLength(2);

    // Enabled again, it gets what comes next.
    receiver.answer(() => 204);
    const enabled = await api(app, 'PUT', `/v1/webhooks/${hook.id}`, admin, {
      url: receiver.url,
      events: ['alias.moved'],
    });
    expect(enabled.body).toMatchObject({ enabled: true, disabled_at: null, disabled_reason: null });
    await moveAlias(app, w, 'flaky', 'latest', '1');
    const after = await waitForDeliveries(app, admin, hook.id, 3);
    expect(after[0]).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(verify(hook.secret, receiver.received[receiver.received.length - 1])).toMatchObject({
      data: { version: '1', previous_version: '3' },
    });
  });
});
