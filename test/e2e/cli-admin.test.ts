import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from '../support/catalog';
import { cliEnv, runCli } from '../support/cli';
import { startTestApp, type TestApp } from '../support/test-app';

/** Administration from the CLI with the bootstrap (auth-manager) token: principals by name. */
describe('imgsrv principal, grant, revoke and token create', () => {
  let app: TestApp;
  let home: string;
  let env: NodeJS.ProcessEnv;

  const cli = async (...args: string[]) => runCli(args, env);
  const grantsOf = async (name: string) =>
    JSON.parse((await cli('principal', 'show', name, '--json')).stdout).grants as {
      role_id: string;
      images: string[];
    }[];

  beforeAll(async () => {
    app = await startTestApp();
    home = await mkdtemp(join(tmpdir(), 'imgsrv-cli-admin-'));
    env = cliEnv(home, app, app.bootstrapToken);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('creates, lists and shows principals by name', async () => {
    const created = await cli('principal', 'create', 'ci-builder');
    expect(created).toMatchObject({ code: 0 });
    expect(created.stdout).toMatch(/^created service ci-builder \([0-9a-f-]{36}\)\n$/);
    const listed = await cli('principal', 'ls');
    expect(listed.stdout).toContain('ci-builder  no roles');
    const byName = JSON.parse(
      (await cli('principal', 'ls', '--name', 'ci-builder', '--json')).stdout,
    );
    expect(byName.principals.map((p: { display_name: string }) => p.display_name)).toEqual([
      'ci-builder',
    ]);
    const shown = await cli('principal', 'show', 'ci-builder');
    expect(shown.stdout).toContain('ci-builder (service');
    // By id too.
    const id = byName.principals[0].id as string;
    expect((await cli('principal', 'show', id)).stdout).toContain('ci-builder');
  });

  it('grants a role with a scope, adds and removes patterns explicitly, and revokes it', async () => {
    await cli('principal', 'create', 'mirror');
    const granted = await cli('grant', 'content-writer', '--to', 'mirror', '--images', 'debian-*');
    expect(granted).toMatchObject({ code: 0, stdout: 'mirror holds content-writer on debian-*\n' });

    // Granting again adds to the scope; nothing is replaced silently.
    await cli('grant', 'content-writer', '--to', 'mirror', '--images', 'alpine-*,debian-*');
    expect(await grantsOf('mirror')).toEqual([
      { role_id: 'content-writer', images: ['debian-*', 'alpine-*'] },
    ]);
    // Without patterns, a held role is not changed: the CLI asks what to add.
    const vague = await cli('grant', 'content-writer', '--to', 'mirror');
    expect(vague.code).toBe(2);
    expect(vague.stderr).toContain('holds content-writer already');

    const removed = await cli(
      'revoke',
      'content-writer',
      '--from',
      'mirror',
      '--images',
      'debian-*',
    );
    expect(removed.stdout).toBe('mirror holds content-writer on alpine-*\n');
    // Removing the last pattern is refused: revoking the role says so.
    const empty = await cli('revoke', 'content-writer', '--from', 'mirror', '--images', 'alpine-*');
    expect(empty.code).toBe(4);
    expect(empty.stderr).toContain('revoke the role instead');
    expect(await grantsOf('mirror')).toEqual([{ role_id: 'content-writer', images: ['alpine-*'] }]);

    await cli('grant', 'content-writer', '--to', 'mirror', '--images', 'ubuntu-*', '--replace');
    expect(await grantsOf('mirror')).toEqual([{ role_id: 'content-writer', images: ['ubuntu-*'] }]);

    expect((await cli('revoke', 'content-writer', '--from', 'mirror')).stdout).toBe(
      'mirror no longer holds content-writer\n',
    );
    expect(await grantsOf('mirror')).toEqual([]);

    // Every change is in the audit log.
    const audit = await api(app, 'GET', '/v1/audit-events?action=role_grant.patch', {
      authorization: `Bearer ${app.bootstrapToken}`,
    });
    expect(audit.body.audit_events.length).toBeGreaterThanOrEqual(2);
  });

  it('issues a token for a principal named by name, which works with its grants', async () => {
    await cli('principal', 'create', 'reader-bot');
    await cli('grant', 'reader', '--to', 'reader-bot', '--images', 'public-*');
    const issued = await cli('token', 'create', '--principal', 'reader-bot', '--expires', '7d');
    expect(issued.code).toBe(0);
    const token = issued.stdout.trim();
    expect(token).toMatch(/^imgsrv_/);
    const me = await runCli(['whoami'], cliEnv(home, app, token));
    expect(me.stdout).toContain('reader-bot');
    expect(me.stdout).toContain('grant: reader on public-*');
  });

  it('says what is wrong with a name that matches no principal, or several', async () => {
    const none = await cli('grant', 'reader', '--to', 'nobody-by-this-name');
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('no principal is called "nobody-by-this-name"');

    await cli('principal', 'create', 'twin');
    await cli('principal', 'create', 'twin');
    const twins = await cli('token', 'create', '--principal', 'twin');
    expect(twins.code).toBe(4);
    expect(twins.stderr).toMatch(/2 principals are called "twin" \(.+\): name one by its id/);

    const badRole = await cli('grant', 'owner', '--to', 'twin');
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain(
      'roles: reader, content-writer, release-manager, auth-manager',
    );
  });

  it('refuses an empty or contradictory scope change in the API', async () => {
    const headers = { authorization: `Bearer ${app.bootstrapToken}` };
    const p = (await api(app, 'POST', '/v1/auth/principals', headers, {
      kind: 'service',
      display_name: 'api-patch',
    })) as { body: { id: string } };
    const path = `/v1/auth/principals/${p.body.id}/roles/reader`;
    expect((await api(app, 'PATCH', path, headers, {})).status).toBe(400);
    expect((await api(app, 'PATCH', path, headers, { remove_images: ['x-*'] })).body.code).toBe(
      'GRANT_NOT_FOUND',
    );
    const added = await api(app, 'PATCH', path, headers, { add_images: ['a-*', 'b-*'] });
    expect(added).toMatchObject({
      status: 200,
      body: { role_id: 'reader', images: ['a-*', 'b-*'] },
    });
    expect(
      (await api(app, 'PATCH', path, headers, { add_images: ['c-*'], remove_images: ['a-*'] }))
        .body,
    ).toEqual({ role_id: 'reader', images: ['b-*', 'c-*'] });
    const emptied = await api(app, 'PATCH', path, headers, { remove_images: ['b-*', 'c-*'] });
    expect(emptied).toMatchObject({ status: 409, body: { code: 'GRANT_EMPTY' } });
  });
});
