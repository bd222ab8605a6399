import { createHash, randomBytes, randomUUID as randomUuid } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoleId } from '../../src/auth/actions';
import { authCall, issueIdentity } from '../support/auth';
import { api } from '../support/catalog';
import { incus } from '../support/cli';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeQcow2,
  removeFixtureDir,
  type FixtureFile,
} from '../support/fixtures';
import { combinedFingerprint, composeDraft, publishPath, waitForJob } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';
import { sha256Of } from '../support/digests';

/**
 * Every operation of the OpenAPI document, asked by every kind of caller, with public reads on
 * and off. The table below is the contract for authorization; an operation the document lists
 * without a row fails the coverage test, so a new route cannot ship without deciding who may
 * call it.
 *
 * The rules the table follows (docs/http-contract.md):
 * - no credentials where the route needs them: 401 (with public reads off, every read needs them);
 * - credentials without the action at all (a reader writing, an auth-manager reading while
 *   public reads are off): 403;
 * - reads of an image outside the caller's scope, or of things it may not see (drafts, another
 *   principal's upload session, a job of an image it may not read): 404, exactly as if absent;
 * - writes naming an image outside the caller's scope: 403 — decided from the name and the grants
 *   alone, so the answer is the same whether the image exists or not;
 * - writes reaching an object by id (upload sessions, publish jobs) the caller may not see: 404.
 */

const CALLERS = [
  'anonymous',
  'reader-in',
  'reader-out',
  'writer-in',
  'writer-out',
  'release-manager',
  'auth-manager',
] as const;
type CallerId = (typeof CALLERS)[number];

/** Who each caller is: a built-in role with an image scope (anonymous sends no credentials). */
const IDENTITIES: Record<Exclude<CallerId, 'anonymous'>, { role: RoleId; images: string[] }> = {
  'reader-in': { role: 'reader', images: ['inscope-*'] },
  'reader-out': { role: 'reader', images: ['elsewhere-*'] },
  'writer-in': { role: 'content-writer', images: ['inscope-*'] },
  'writer-out': { role: 'content-writer', images: ['elsewhere-*'] },
  'release-manager': { role: 'release-manager', images: ['inscope-*'] },
  'auth-manager': { role: 'auth-manager', images: ['*'] },
};

type Mode = 'public' | 'private';
type Outcome = 'ok' | '401' | '403' | '404';

/** One outcome per caller, in CALLERS order, for each mode. */
interface Expectation {
  readonly pub: string;
  readonly priv: string;
}
const x = (pub: string, priv: string): Expectation => ({ pub, priv });

/**
 * The expected outcome classes: one cell per caller (anonymous, reader-in, reader-out,
 * writer-in, writer-out, release-manager, auth-manager), with public reads on and off. `ok` is
 * allowed: 2xx, 3xx, or a 4xx the row names as a refusal by state (such as 409).
 *
 * - OPEN: open to everyone (health).
 * - ANY_TOKEN: any valid token (whoami).
 * - AUTH_MANAGE: auth.manage, audit.read: not image-bound.
 * - READ_PUBLISHED_IN: published content of the in-scope image.
 * - READ_PUBLISHED_OUT: published content of the out-of-scope image.
 * - READ_DRAFT_IN: drafts, and images without a published version, in scope.
 * - READ_DRAFT_OUT: drafts out of scope.
 * - READ_LIST: lists and documents, filtered to what the caller may read.
 * - NEEDS_READ_LIST: lists that always need content.read, in any scope.
 * - NEEDS_READ_IN: things that always need content.read, of the in-scope image.
 * - NEEDS_READ_OUT: the same, of the out-of-scope image.
 * - WRITE_IN: content.write naming the in-scope image.
 * - WRITE_OUT: any write naming the out-of-scope image.
 * - PUBLISH_IN: content.publish or alias.write naming the in-scope image.
 * - JOB_ACTION_IN: content.publish on a job reached by id, its image in scope.
 * - JOB_ACTION_OUT: the same, its image out of scope (unreadable: 404).
 * - BEGIN_UPLOAD: content.write in any scope (uploads are not tied to an image).
 * - OWN_SESSION_READ: writer-in's upload session, its digest cited by nothing.
 * - OWN_SESSION_WRITE: changing it: content.write, then ownership.
 * - OWN_UNCITED_BLOB: a blob nothing cites, uploaded by writer-in: its uploader only.
 */
// prettier-ignore
const E = {
  //                     public reads on                             public reads off
  //                     anon  r-in  r-out w-in  w-out rm    am      anon  r-in  r-out w-in  w-out rm    am
  OPEN:               x('ok    ok    ok    ok    ok    ok    ok  ', 'ok    ok    ok    ok    ok    ok    ok  '),
  ANY_TOKEN:          x('401   ok    ok    ok    ok    ok    ok  ', '401   ok    ok    ok    ok    ok    ok  '),
  AUTH_MANAGE:        x('401   403   403   403   403   403   ok  ', '401   403   403   403   403   403   ok  '),
  READ_PUBLISHED_IN:  x('ok    ok    ok    ok    ok    ok    ok  ', '401   ok    404   ok    404   ok    403 '),
  READ_PUBLISHED_OUT: x('ok    ok    ok    ok    ok    ok    ok  ', '401   404   404   404   404   404   403 '),
  READ_DRAFT_IN:      x('404   ok    404   ok    404   ok    404 ', '401   ok    404   ok    404   ok    403 '),
  READ_DRAFT_OUT:     x('404   404   404   404   404   404   404 ', '401   404   404   404   404   404   403 '),
  READ_LIST:          x('ok    ok    ok    ok    ok    ok    ok  ', '401   ok    ok    ok    ok    ok    403 '),
  NEEDS_READ_LIST:    x('401   ok    ok    ok    ok    ok    403 ', '401   ok    ok    ok    ok    ok    403 '),
  NEEDS_READ_IN:      x('401   ok    404   ok    404   ok    403 ', '401   ok    404   ok    404   ok    403 '),
  NEEDS_READ_OUT:     x('401   404   404   404   404   404   403 ', '401   404   404   404   404   404   403 '),
  WRITE_IN:           x('401   403   403   ok    403   403   403 ', '401   403   403   ok    403   403   403 '),
  WRITE_OUT:          x('401   403   403   403   403   403   403 ', '401   403   403   403   403   403   403 '),
  PUBLISH_IN:         x('401   403   403   ok    403   ok    403 ', '401   403   403   ok    403   ok    403 '),
  JOB_ACTION_IN:      x('401   403   403   ok    404   ok    403 ', '401   403   403   ok    404   ok    403 '),
  JOB_ACTION_OUT:     x('401   403   403   404   404   404   403 ', '401   403   403   404   404   404   403 '),
  BEGIN_UPLOAD:       x('401   403   403   ok    ok    403   403 ', '401   403   403   ok    ok    403   403 '),
  OWN_SESSION_READ:   x('401   404   404   ok    404   404   403 ', '401   404   404   ok    404   404   403 '),
  OWN_SESSION_WRITE:  x('401   403   403   ok    404   403   403 ', '401   403   403   ok    404   403   403 '),
  OWN_UNCITED_BLOB:   x('404   404   404   ok    404   404   404 ', '401   404   404   ok    404   404   403 '),
} as const;

interface Req {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly raw?: Buffer;
}

interface Row {
  /** `METHOD /path/{param}` exactly as the OpenAPI document spells it. */
  readonly op: string;
  /** What the request targets. */
  readonly on: string;
  readonly expect: Expectation;
  /** Answers that mean "allowed, refused by the state of the thing" (e.g. 409). */
  readonly okStatuses?: readonly number[];
  /** Builds the request; may first create the throwaway object the request changes. */
  readonly request: (w: World) => Req | Promise<Req>;
}

interface VersionSeed {
  readonly version: string;
  readonly artifactId: string;
  readonly attachmentId: string;
  readonly artifactFile: string;
  readonly attachmentFile: string;
  readonly root: FixtureFile;
  readonly meta: FixtureFile;
}

interface ImageSeed {
  readonly name: string;
  readonly published: VersionSeed;
  readonly draft: VersionSeed;
  readonly jobId: string;
}

/** One running app in one mode, with its callers and seeded content. */
interface World {
  readonly mode: Mode;
  readonly app: TestApp;
  readonly admin: Record<string, string>;
  readonly headers: Record<CallerId, Record<string, string>>;
  readonly tokens: Record<Exclude<CallerId, 'anonymous'>, string>;
  readonly in: ImageSeed;
  readonly out: ImageSeed;
  /** An open upload session writer-in began for a digest nothing cites. */
  readonly sessionId: string;
  /** A trusted blob writer-in uploaded that nothing cites. */
  readonly ownBlob: string;
  /** A principal for the auth-management rows to read and change. */
  readonly victimId: string;
  readonly ruleId: string;
  /** Streams item paths by hex sha256. */
  readonly items: Record<string, string>;
  unique(): string;
}

const IN = 'inscope-debian';
const OUT = 'other-debian';
const EMPTY_IN = 'inscope-empty';

const randomDigest = () => `sha256:${randomBytes(32).toString('hex')}`;
const hex = (f: FixtureFile) => f.sha256.slice('sha256:'.length);
const ruleBody = {
  display_name: 'matrix rule',
  issuer_url: 'https://ci.example.com',
  audience: 'imgsrv',
  claims: { repository: 'acme/*' },
  role_id: 'reader',
  images: ['zz-*'],
  enabled: true,
};

/** A remote on a name that never resolves (.invalid): a sync of it fails at once, offline. */
let remoteCount = 0;
const throwawayRemote = async (w: World) => {
  const name = `matrix-${++remoteCount}-${Math.random().toString(36).slice(2, 8)}`;
  await asBootstrap(w, 'POST', '/v1/remotes', { name, url: 'https://upstream.invalid/' });
  return name;
};
const throwawaySync = async (w: World) => {
  const name = await throwawayRemote(w);
  const sync = (await asBootstrap(w, 'POST', `/v1/remotes/${name}/sync`)) as { id: string };
  return { name, id: sync.id };
};

/** A webhook subscription on a closed loopback port: deliveries fail at once, on this machine. */
const webhookBody = { url: 'http://127.0.0.1:9/matrix', events: ['alias.moved'] };
const throwawayWebhook = (w: World) =>
  asBootstrap(w, 'POST', '/v1/webhooks', webhookBody) as Promise<{ id: string }>;

async function check(w: World, method: string, path: string, body?: unknown): Promise<any> {
  const res = await api(w.app, method, path, w.admin, body);
  if (res.status >= 300)
    throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A new draft (no artifacts) of `image`, made by the admin. */
async function freshDraft(w: World, image: string): Promise<string> {
  const version = w.unique();
  await check(w, 'POST', `/v1/images/${image}/versions`, { version });
  return version;
}

async function freshArtifact(w: World, image: string) {
  const version = await freshDraft(w, image);
  const artifact = await check(
    w,
    'POST',
    `/v1/images/${image}/versions/${version}/artifacts`,
    artifactBody(),
  );
  return { version, artifactId: artifact.id as string };
}

async function freshAttachment(w: World, image: string) {
  const { version, artifactId } = await freshArtifact(w, image);
  const attachment = await check(
    w,
    'POST',
    `/v1/images/${image}/versions/${version}/artifacts/${artifactId}/attachments`,
    attachmentBody(),
  );
  return { version, artifactId, attachmentId: attachment.id as string };
}

const attachmentBody = () => ({
  name: 'incus.tar.xz',
  media_type: 'application/x-xz',
  blob_digest: randomDigest(),
  blob_size_bytes: 512,
});

const artifactBody = () => ({
  operating_system: 'debian',
  architecture: 'amd64',
  format: 'qcow2',
  primary_blob_digest: randomDigest(),
  primary_blob_size_bytes: 1024,
  primary_media_type: 'application/x-qemu-disk',
});

async function freshAlias(w: World, image: string): Promise<string> {
  const alias = w.unique();
  await check(w, 'PUT', `/v1/images/${image}/aliases/${alias}`, { version: '1' });
  return alias;
}

/** An upload session begun by writer-in, optionally with its one part sent. */
async function freshSession(w: World, withPart: boolean) {
  const bytes = randomBytes(1024);
  const begin = await api(w.app, 'POST', '/v1/uploads', w.headers['writer-in'], {
    expected_digest: sha256Of(bytes),
    expected_size_bytes: bytes.length,
  });
  if (begin.status !== 201) throw new Error(`begin answered ${begin.status}`);
  const id = begin.body.id as string;
  if (!withPart) return { id, bytes, etag: '' };
  const res = await w.app.fetch(`/v1/uploads/${id}/parts/1`, {
    method: 'PUT',
    headers: { ...w.headers['writer-in'], 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  const part = (await res.json()) as { etag: string };
  if (res.status !== 200) throw new Error(`part answered ${res.status}`);
  return { id, bytes, etag: part.etag };
}

/** A request with the bootstrap auth-manager token, for throwaway auth objects. */
function asBootstrap(w: World, method: string, path: string, body?: unknown): Promise<any> {
  return authCall(w.app, method, path, body);
}

const image = (w: World, which: 'in' | 'out') => w[which];
const scopeLabel = (which: 'in' | 'out') => (which === 'in' ? 'in-scope' : 'out-of-scope');
const versionPath = (w: World, which: 'in' | 'out', state: 'published' | 'draft') =>
  `/v1/images/${image(w, which).name}/versions/${image(w, which)[state].version}`;
const artifactPath = (w: World, which: 'in' | 'out', state: 'published' | 'draft') =>
  `${versionPath(w, which, state)}/artifacts/${image(w, which)[state].artifactId}`;
const attachmentPath = (w: World, which: 'in' | 'out', state: 'published' | 'draft') =>
  `${artifactPath(w, which, state)}/attachments/${image(w, which)[state].attachmentId}`;

const VERSION_TARGETS = [
  ['in', 'published', E.READ_PUBLISHED_IN],
  ['out', 'published', E.READ_PUBLISHED_OUT],
  ['in', 'draft', E.READ_DRAFT_IN],
  ['out', 'draft', E.READ_DRAFT_OUT],
] as const;

/** The reads under a version, each asked of the four versions seeded. */
const versionReads = (
  op: string,
  path: (w: World, which: 'in' | 'out', state: 'published' | 'draft') => string,
): Row[] =>
  VERSION_TARGETS.map(([which, state, expect]) => ({
    op,
    on: `${scopeLabel(which)} ${state}`,
    expect,
    request: (w) => ({ method: op.split(' ')[0], path: path(w, which, state) }),
  }));

const V = '/v1/images/{name}/versions/{version}';
const A = `${V}/artifacts/{artifact_id}`;
const ATT = `${A}/attachments/{attachment_id}`;

const ROWS: Row[] = [
  // Health
  { op: 'GET /healthz', on: 'the process', expect: E.OPEN, request: () => get('/healthz') },
  { op: 'GET /readyz', on: 'the dependencies', expect: E.OPEN, request: () => get('/readyz') },

  // Auth management
  {
    op: 'GET /v1/auth/whoami',
    on: 'the caller',
    expect: E.ANY_TOKEN,
    request: () => get('/v1/auth/whoami'),
  },
  {
    op: 'GET /v1/auth/roles',
    on: 'built-in roles',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/auth/roles'),
  },
  {
    op: 'GET /v1/auth/principals',
    on: 'all principals',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/auth/principals'),
  },
  {
    op: 'POST /v1/auth/principals',
    on: 'a new principal',
    expect: E.AUTH_MANAGE,
    request: () => ({
      method: 'POST',
      path: '/v1/auth/principals',
      body: { kind: 'service', display_name: 'matrix' },
    }),
  },
  {
    op: 'GET /v1/auth/principals/{principal_id}',
    on: 'another principal',
    expect: E.AUTH_MANAGE,
    request: (w) => get(`/v1/auth/principals/${w.victimId}`),
  },
  {
    op: 'PUT /v1/auth/principals/{principal_id}/roles/{role_id}',
    on: 'a grant of another principal',
    expect: E.AUTH_MANAGE,
    request: (w) => ({
      method: 'PUT',
      path: `/v1/auth/principals/${w.victimId}/roles/reader`,
      body: { images: ['zz-*'] },
    }),
  },
  {
    op: 'PATCH /v1/auth/principals/{principal_id}/roles/{role_id}',
    on: 'the scope of a grant of another principal',
    expect: E.AUTH_MANAGE,
    request: (w) => ({
      method: 'PATCH',
      path: `/v1/auth/principals/${w.victimId}/roles/reader`,
      body: { add_images: ['zz-*'] },
    }),
  },
  {
    op: 'DELETE /v1/auth/principals/{principal_id}/roles/{role_id}',
    on: 'a throwaway grant',
    expect: E.AUTH_MANAGE,
    request: async (w) => {
      const p = await asBootstrap(w, 'POST', '/v1/auth/principals', {
        kind: 'service',
        display_name: 'matrix grant',
      });
      await asBootstrap(w, 'PUT', `/v1/auth/principals/${p.id}/roles/reader`, { images: ['zz-*'] });
      return { method: 'DELETE', path: `/v1/auth/principals/${p.id}/roles/reader` };
    },
  },
  {
    op: 'GET /v1/auth/principals/{principal_id}/api-tokens',
    on: "another principal's tokens",
    expect: E.AUTH_MANAGE,
    request: (w) => get(`/v1/auth/principals/${w.victimId}/api-tokens`),
  },
  {
    op: 'POST /v1/auth/principals/{principal_id}/api-tokens',
    on: 'a token for another principal',
    expect: E.AUTH_MANAGE,
    request: (w) => ({
      method: 'POST',
      path: `/v1/auth/principals/${w.victimId}/api-tokens`,
      body: { name: 'matrix', expires_at: new Date(Date.now() + 3_600_000).toISOString() },
    }),
  },
  {
    op: 'DELETE /v1/auth/api-tokens/{token_id}',
    on: 'a throwaway token',
    expect: E.AUTH_MANAGE,
    request: async (w) => {
      const token = await asBootstrap(w, 'POST', `/v1/auth/principals/${w.victimId}/api-tokens`, {
        name: 'throwaway',
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
      });
      return { method: 'DELETE', path: `/v1/auth/api-tokens/${token.id}` };
    },
  },
  {
    op: 'GET /v1/auth/oidc-provisioning-rules',
    on: 'all rules',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/auth/oidc-provisioning-rules'),
  },
  {
    op: 'POST /v1/auth/oidc-provisioning-rules',
    on: 'a new rule',
    expect: E.AUTH_MANAGE,
    request: () => ({ method: 'POST', path: '/v1/auth/oidc-provisioning-rules', body: ruleBody }),
  },
  {
    op: 'GET /v1/auth/oidc-provisioning-rules/{rule_id}',
    on: 'a rule',
    expect: E.AUTH_MANAGE,
    request: (w) => get(`/v1/auth/oidc-provisioning-rules/${w.ruleId}`),
  },
  {
    op: 'PUT /v1/auth/oidc-provisioning-rules/{rule_id}',
    on: 'a rule, replaced by itself',
    expect: E.AUTH_MANAGE,
    request: (w) => ({
      method: 'PUT',
      path: `/v1/auth/oidc-provisioning-rules/${w.ruleId}`,
      body: ruleBody,
    }),
  },
  {
    op: 'DELETE /v1/auth/oidc-provisioning-rules/{rule_id}',
    on: 'a throwaway rule',
    expect: E.AUTH_MANAGE,
    request: async (w) => {
      const rule = await asBootstrap(w, 'POST', '/v1/auth/oidc-provisioning-rules', ruleBody);
      return { method: 'DELETE', path: `/v1/auth/oidc-provisioning-rules/${rule.id}` };
    },
  },
  // Remotes (remote.manage, held by auth-manager and mirror-manager); upstreams that never resolve.
  {
    op: 'GET /v1/remotes',
    on: 'all remotes',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/remotes'),
  },
  {
    op: 'POST /v1/remotes',
    on: 'a new remote',
    expect: E.AUTH_MANAGE,
    request: () => ({
      method: 'POST',
      path: '/v1/remotes',
      body: {
        name: `matrix-new-${Math.random().toString(36).slice(2, 10)}`,
        url: 'https://upstream.invalid/',
      },
    }),
  },
  {
    op: 'GET /v1/remotes/{name}',
    on: 'a remote',
    expect: E.AUTH_MANAGE,
    request: async (w) => get(`/v1/remotes/${await throwawayRemote(w)}`),
  },
  {
    op: 'PUT /v1/remotes/{name}',
    on: 'a remote, replaced',
    expect: E.AUTH_MANAGE,
    request: async (w) => {
      const name = await throwawayRemote(w);
      return {
        method: 'PUT',
        path: `/v1/remotes/${name}`,
        body: { name, url: 'https://other.invalid/' },
      };
    },
  },
  {
    op: 'DELETE /v1/remotes/{name}',
    on: 'a throwaway remote',
    expect: E.AUTH_MANAGE,
    // 409: its sync, started by another row, may still be running.
    okStatuses: [409],
    request: async (w) => ({ method: 'DELETE', path: `/v1/remotes/${await throwawayRemote(w)}` }),
  },
  {
    op: 'POST /v1/remotes/{name}/sync',
    on: 'a sync of a remote',
    expect: E.AUTH_MANAGE,
    request: async (w) => ({
      method: 'POST',
      path: `/v1/remotes/${await throwawayRemote(w)}/sync`,
    }),
  },
  {
    op: 'GET /v1/remotes/{name}/syncs',
    on: 'a remote’s syncs',
    expect: E.AUTH_MANAGE,
    request: async (w) => get(`/v1/remotes/${(await throwawaySync(w)).name}/syncs`),
  },
  {
    op: 'GET /v1/remotes/{name}/syncs/{sync_id}',
    on: 'a sync',
    expect: E.AUTH_MANAGE,
    request: async (w) => {
      const { name, id } = await throwawaySync(w);
      return get(`/v1/remotes/${name}/syncs/${id}`);
    },
  },
  {
    op: 'POST /v1/remotes/{name}/syncs/{sync_id}/cancel',
    on: 'a sync, cancelled',
    expect: E.AUTH_MANAGE,
    // 409: it may have failed (the upstream never resolves) before the cancel.
    okStatuses: [409],
    request: async (w) => {
      const { name, id } = await throwawaySync(w);
      return { method: 'POST', path: `/v1/remotes/${name}/syncs/${id}/cancel` };
    },
  },
  // Webhooks (webhook.manage, held by auth-manager); targets on a closed loopback port.
  {
    op: 'GET /v1/webhooks',
    on: 'all subscriptions',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/webhooks'),
  },
  {
    op: 'POST /v1/webhooks',
    on: 'a new subscription',
    expect: E.AUTH_MANAGE,
    request: () => ({ method: 'POST', path: '/v1/webhooks', body: webhookBody }),
  },
  {
    op: 'GET /v1/webhooks/{id}',
    on: 'a subscription',
    expect: E.AUTH_MANAGE,
    request: async (w) => get(`/v1/webhooks/${(await throwawayWebhook(w)).id}`),
  },
  {
    op: 'PUT /v1/webhooks/{id}',
    on: 'a subscription, replaced',
    expect: E.AUTH_MANAGE,
    request: async (w) => ({
      method: 'PUT',
      path: `/v1/webhooks/${(await throwawayWebhook(w)).id}`,
      body: webhookBody,
    }),
  },
  {
    op: 'DELETE /v1/webhooks/{id}',
    on: 'a throwaway subscription',
    expect: E.AUTH_MANAGE,
    request: async (w) => ({
      method: 'DELETE',
      path: `/v1/webhooks/${(await throwawayWebhook(w)).id}`,
    }),
  },
  {
    op: 'POST /v1/webhooks/{id}/test',
    on: 'a ping to a subscription',
    expect: E.AUTH_MANAGE,
    request: async (w) => ({
      method: 'POST',
      path: `/v1/webhooks/${(await throwawayWebhook(w)).id}/test`,
    }),
  },
  {
    op: 'GET /v1/webhooks/{id}/deliveries',
    on: 'a subscription’s deliveries',
    expect: E.AUTH_MANAGE,
    request: async (w) => get(`/v1/webhooks/${(await throwawayWebhook(w)).id}/deliveries`),
  },
  {
    op: 'GET /v1/audit-events',
    on: 'the audit log',
    expect: E.AUTH_MANAGE,
    request: () => get('/v1/audit-events'),
  },

  // Uploads
  {
    op: 'POST /v1/uploads',
    on: 'a new session',
    expect: E.BEGIN_UPLOAD,
    request: () => ({
      method: 'POST',
      path: '/v1/uploads',
      body: { expected_digest: randomDigest(), expected_size_bytes: 1024 },
    }),
  },
  {
    op: 'GET /v1/uploads/{upload_id}',
    on: "writer-in's open session",
    expect: E.OWN_SESSION_READ,
    request: (w) => get(`/v1/uploads/${w.sessionId}`),
  },
  {
    op: 'PUT /v1/uploads/{upload_id}/parts/{part_number}',
    on: "a throwaway session of writer-in's",
    expect: E.OWN_SESSION_WRITE,
    request: async (w) => {
      const { id, bytes } = await freshSession(w, false);
      return { method: 'PUT', path: `/v1/uploads/${id}/parts/1`, raw: bytes };
    },
  },
  {
    op: 'POST /v1/uploads/{upload_id}/complete',
    on: "a throwaway session of writer-in's, its part sent",
    expect: E.OWN_SESSION_WRITE,
    request: async (w) => {
      const { id, bytes, etag } = await freshSession(w, true);
      return {
        method: 'POST',
        path: `/v1/uploads/${id}/complete`,
        body: { parts: [{ number: 1, etag, size_bytes: bytes.length }] },
      };
    },
  },
  {
    op: 'POST /v1/uploads/{upload_id}/abort',
    on: "a throwaway session of writer-in's",
    expect: E.OWN_SESSION_WRITE,
    request: async (w) => ({
      method: 'POST',
      path: `/v1/uploads/${(await freshSession(w, false)).id}/abort`,
    }),
  },

  // Blobs by digest
  {
    op: 'PUT /v1/blobs/{digest}',
    on: 'a new blob sent whole',
    expect: E.BEGIN_UPLOAD,
    request: () => {
      const bytes = randomBytes(1024);
      return {
        method: 'PUT',
        path: `/v1/blobs/sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        raw: bytes,
      };
    },
  },
  ...(['GET', 'HEAD'] as const).flatMap((method): Row[] => [
    {
      op: `${method} /v1/blobs/{digest}`,
      on: 'a blob of the in-scope published version',
      expect: E.READ_PUBLISHED_IN,
      request: (w) => ({ method, path: `/v1/blobs/${w.in.published.root.sha256}` }),
    },
    {
      op: `${method} /v1/blobs/{digest}`,
      on: 'a blob of the out-of-scope published version',
      expect: E.READ_PUBLISHED_OUT,
      request: (w) => ({ method, path: `/v1/blobs/${w.out.published.root.sha256}` }),
    },
    {
      op: `${method} /v1/blobs/{digest}`,
      on: 'a blob only the in-scope draft cites',
      expect: E.READ_DRAFT_IN,
      request: (w) => ({ method, path: `/v1/blobs/${w.in.draft.root.sha256}` }),
    },
    {
      op: `${method} /v1/blobs/{digest}`,
      on: 'a blob only the out-of-scope draft cites',
      expect: E.READ_DRAFT_OUT,
      request: (w) => ({ method, path: `/v1/blobs/${w.out.draft.root.sha256}` }),
    },
    {
      op: `${method} /v1/blobs/{digest}`,
      on: "writer-in's uncited blob",
      expect: E.OWN_UNCITED_BLOB,
      request: (w) => ({ method, path: `/v1/blobs/${w.ownBlob}` }),
    },
  ]),

  // Images
  {
    op: 'GET /v1/images',
    on: 'the catalog',
    expect: E.READ_LIST,
    request: () => get('/v1/images'),
  },
  {
    op: 'POST /v1/images',
    on: 'a new in-scope name',
    expect: E.WRITE_IN,
    request: (w) => ({
      method: 'POST',
      path: '/v1/images',
      body: { name: `inscope-${w.unique()}` },
    }),
  },
  {
    op: 'POST /v1/images',
    on: 'a new out-of-scope name',
    expect: E.WRITE_OUT,
    request: (w) => ({ method: 'POST', path: '/v1/images', body: { name: `other-${w.unique()}` } }),
  },
  {
    op: 'GET /v1/images/{name}',
    on: 'in-scope published',
    expect: E.READ_PUBLISHED_IN,
    request: () => get(`/v1/images/${IN}`),
  },
  {
    op: 'GET /v1/images/{name}',
    on: 'out-of-scope published',
    expect: E.READ_PUBLISHED_OUT,
    request: () => get(`/v1/images/${OUT}`),
  },
  {
    op: 'GET /v1/images/{name}',
    on: 'in-scope, no version',
    expect: E.READ_DRAFT_IN,
    request: () => get(`/v1/images/${EMPTY_IN}`),
  },
  {
    op: 'PATCH /v1/images/{name}',
    on: 'in-scope',
    expect: E.WRITE_IN,
    request: () => ({ method: 'PATCH', path: `/v1/images/${IN}`, body: { description: 'matrix' } }),
  },
  {
    op: 'PATCH /v1/images/{name}',
    on: 'out-of-scope',
    expect: E.WRITE_OUT,
    request: () => ({
      method: 'PATCH',
      path: `/v1/images/${OUT}`,
      body: { description: 'matrix' },
    }),
  },

  // Versions
  {
    op: 'GET /v1/images/{name}/versions',
    on: 'in-scope',
    expect: E.READ_PUBLISHED_IN,
    request: () => get(`/v1/images/${IN}/versions`),
  },
  {
    op: 'GET /v1/images/{name}/versions',
    on: 'out-of-scope',
    expect: E.READ_PUBLISHED_OUT,
    request: () => get(`/v1/images/${OUT}/versions`),
  },
  {
    op: 'POST /v1/images/{name}/versions',
    on: 'in-scope',
    expect: E.WRITE_IN,
    request: (w) => ({
      method: 'POST',
      path: `/v1/images/${IN}/versions`,
      body: { version: w.unique() },
    }),
  },
  {
    op: 'POST /v1/images/{name}/versions',
    on: 'out-of-scope',
    expect: E.WRITE_OUT,
    request: (w) => ({
      method: 'POST',
      path: `/v1/images/${OUT}/versions`,
      body: { version: w.unique() },
    }),
  },
  ...versionReads(`GET ${V}`, versionPath),
  ...(['in', 'out'] as const).map((which): Row => ({
    op: `GET ${V}/provenance`,
    on: `the ${scopeLabel(which)} published version`,
    expect: which === 'in' ? E.READ_PUBLISHED_IN : E.READ_PUBLISHED_OUT,
    request: (w) => get(`${versionPath(w, which, 'published')}/provenance`),
  })),

  // The transparency log: hashes and signatures only, open to everyone
  {
    op: 'GET /v1/provenance/keys',
    on: 'the keys',
    expect: E.OPEN,
    request: () => get('/v1/provenance/keys'),
  },
  {
    op: 'GET /v1/provenance/log/checkpoint',
    on: 'the latest checkpoint',
    expect: E.OPEN,
    request: () => get('/v1/provenance/log/checkpoint'),
  },
  {
    op: 'GET /v1/provenance/log/tile/{path}',
    on: 'the first leaf',
    expect: E.OPEN,
    request: () => get('/v1/provenance/log/tile/0/000.p/1'),
  },
  {
    op: 'GET /v1/provenance/log/proof/inclusion',
    on: 'the first entry',
    expect: E.OPEN,
    request: () => get('/v1/provenance/log/proof/inclusion?index=0'),
  },
  {
    op: 'GET /v1/provenance/log/proof/consistency',
    on: 'from the first size',
    expect: E.OPEN,
    request: () => get('/v1/provenance/log/proof/consistency?from=1'),
  },
  ...(['in', 'out'] as const).map((which): Row => ({
    op: `DELETE ${V}`,
    on: `a throwaway ${scopeLabel(which)} draft`,
    expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
    request: async (w) => {
      const name = image(w, which).name;
      return { method: 'DELETE', path: `/v1/images/${name}/versions/${await freshDraft(w, name)}` };
    },
  })),

  // Artifacts and attachments
  ...versionReads(
    `GET ${V}/artifacts`,
    (w, which, state) => `${versionPath(w, which, state)}/artifacts`,
  ),
  ...versionReads(`GET ${A}`, artifactPath),
  ...(['in', 'out'] as const).flatMap((which): Row[] => [
    {
      op: `POST ${V}/artifacts`,
      on: `a throwaway ${scopeLabel(which)} draft`,
      expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
      request: async (w) => {
        const name = image(w, which).name;
        const version = await freshDraft(w, name);
        return {
          method: 'POST',
          path: `/v1/images/${name}/versions/${version}/artifacts`,
          body: artifactBody(),
        };
      },
    },
    {
      op: `DELETE ${A}`,
      on: `a throwaway ${scopeLabel(which)} artifact`,
      expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
      request: async (w) => {
        const name = image(w, which).name;
        const { version, artifactId } = await freshArtifact(w, name);
        return {
          method: 'DELETE',
          path: `/v1/images/${name}/versions/${version}/artifacts/${artifactId}`,
        };
      },
    },
    {
      op: `POST ${A}/attachments`,
      on: `a throwaway ${scopeLabel(which)} artifact`,
      expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
      request: async (w) => {
        const name = image(w, which).name;
        const { version, artifactId } = await freshArtifact(w, name);
        return {
          method: 'POST',
          path: `/v1/images/${name}/versions/${version}/artifacts/${artifactId}/attachments`,
          body: attachmentBody(),
        };
      },
    },
    {
      op: `DELETE ${ATT}`,
      on: `a throwaway ${scopeLabel(which)} attachment`,
      expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
      request: async (w) => {
        const name = image(w, which).name;
        const { version, artifactId, attachmentId } = await freshAttachment(w, name);
        return {
          method: 'DELETE',
          path: `/v1/images/${name}/versions/${version}/artifacts/${artifactId}/attachments/${attachmentId}`,
        };
      },
    },
  ]),

  // Downloads
  ...(['GET', 'HEAD'] as const).flatMap((method) => [
    ...versionReads(
      `${method} ${A}/download`,
      (w, which, state) => `${artifactPath(w, which, state)}/download`,
    ),
    ...versionReads(
      `${method} ${A}/download/{filename}`,
      (w, which, state) =>
        `${artifactPath(w, which, state)}/download/${image(w, which)[state].artifactFile}`,
    ),
    ...versionReads(
      `${method} ${ATT}/download`,
      (w, which, state) => `${attachmentPath(w, which, state)}/download`,
    ),
    ...versionReads(
      `${method} ${ATT}/download/{filename}`,
      (w, which, state) =>
        `${attachmentPath(w, which, state)}/download/${image(w, which)[state].attachmentFile}`,
    ),
  ]),

  // Publishing
  ...(['in', 'out'] as const).flatMap((which): Row[] => [
    {
      op: `POST ${V}/publish`,
      on: `a throwaway empty ${scopeLabel(which)} draft (allowed: 409, nothing to publish)`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      okStatuses: [409],
      request: async (w) => {
        const name = image(w, which).name;
        return { method: 'POST', path: publishPath(name, await freshDraft(w, name)) };
      },
    },
    {
      op: `GET ${V}/publish-job`,
      on: `the ${scopeLabel(which)} published version`,
      expect: which === 'in' ? E.NEEDS_READ_IN : E.NEEDS_READ_OUT,
      request: (w) => get(`${versionPath(w, which, 'published')}/publish-job`),
    },
    {
      op: 'GET /v1/publish-jobs/{job_id}',
      on: `the ${scopeLabel(which)} job`,
      expect: which === 'in' ? E.NEEDS_READ_IN : E.NEEDS_READ_OUT,
      request: (w) => get(`/v1/publish-jobs/${image(w, which).jobId}`),
    },
    {
      op: 'POST /v1/publish-jobs/{job_id}/retry',
      on: `the ${scopeLabel(which)} succeeded job (allowed: 409)`,
      expect: which === 'in' ? E.JOB_ACTION_IN : E.JOB_ACTION_OUT,
      okStatuses: [409],
      request: (w) => ({ method: 'POST', path: `/v1/publish-jobs/${image(w, which).jobId}/retry` }),
    },
    {
      op: 'POST /v1/publish-jobs/{job_id}/cancel',
      on: `the ${scopeLabel(which)} succeeded job (allowed: 409)`,
      expect: which === 'in' ? E.JOB_ACTION_IN : E.JOB_ACTION_OUT,
      okStatuses: [409],
      request: (w) => ({
        method: 'POST',
        path: `/v1/publish-jobs/${image(w, which).jobId}/cancel`,
      }),
    },
  ]),
  {
    op: 'GET /v1/publish-jobs',
    on: 'all jobs',
    expect: E.NEEDS_READ_LIST,
    request: () => get('/v1/publish-jobs'),
  },

  // Streams
  ...(['GET', 'HEAD'] as const).flatMap((method): Row[] => [
    {
      op: `${method} /streams/v1/index.json`,
      on: 'the index',
      expect: E.READ_LIST,
      request: () => ({ method, path: '/streams/v1/index.json' }),
    },
    {
      op: `${method} /streams/v1/images.json`,
      on: 'the products',
      expect: E.READ_LIST,
      request: () => ({ method, path: '/streams/v1/images.json' }),
    },
    ...(['in', 'out'] as const).flatMap((which): Row[] =>
      (['root', 'meta'] as const).map((file) => ({
        op: `${method} /streams/v1/items/{sha256}/{filename}`,
        on: `the ${scopeLabel(which)} published ${file === 'root' ? 'disk' : 'metadata'}`,
        expect: which === 'in' ? E.READ_PUBLISHED_IN : E.READ_PUBLISHED_OUT,
        request: (w) => {
          const seed = image(w, which).published;
          return { method, path: w.items[hex(file === 'root' ? seed.root : seed.meta)] };
        },
      })),
    ),
  ]),

  // Aliases
  ...(['in', 'out'] as const).flatMap((which): Row[] => [
    {
      op: 'GET /v1/images/{name}/aliases',
      on: `${scopeLabel(which)}`,
      expect: which === 'in' ? E.READ_PUBLISHED_IN : E.READ_PUBLISHED_OUT,
      request: (w) => get(`/v1/images/${image(w, which).name}/aliases`),
    },
    {
      op: 'GET /v1/images/{name}/aliases/{alias}',
      on: `${scopeLabel(which)} stable`,
      expect: which === 'in' ? E.READ_PUBLISHED_IN : E.READ_PUBLISHED_OUT,
      request: (w) => get(`/v1/images/${image(w, which).name}/aliases/stable`),
    },
    {
      op: 'GET /v1/images/{name}/refs/{ref}',
      on: `${scopeLabel(which)} stable`,
      expect: which === 'in' ? E.READ_PUBLISHED_IN : E.READ_PUBLISHED_OUT,
      request: (w) => get(`/v1/images/${image(w, which).name}/refs/stable`),
    },
    {
      op: 'PUT /v1/images/{name}/aliases/{alias}',
      on: `a new ${scopeLabel(which)} alias`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      request: (w) => ({
        method: 'PUT',
        path: `/v1/images/${image(w, which).name}/aliases/${w.unique()}`,
        body: { version: '1' },
      }),
    },
    {
      op: 'DELETE /v1/images/{name}/aliases/{alias}',
      on: `a throwaway ${scopeLabel(which)} alias`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      request: async (w) => {
        const name = image(w, which).name;
        return {
          method: 'DELETE',
          path: `/v1/images/${name}/aliases/${await freshAlias(w, name)}`,
        };
      },
    },
  ]),

  // Lifecycle: withdrawal (of the aliased published version: refused by state, so nothing
  // changes), retention policies and storage.
  ...(['in', 'out'] as const).flatMap((which): Row[] => [
    {
      op: 'POST /v1/images/{name}/versions/{version}/withdraw',
      on: `${scopeLabel(which)} published, aliased`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      okStatuses: [409],
      request: (w) => ({
        method: 'POST',
        path: `/v1/images/${image(w, which).name}/versions/${image(w, which).published.version}/withdraw`,
        body: { reason: 'matrix' },
      }),
    },
    {
      op: 'GET /v1/images/{name}/retention',
      on: `${scopeLabel(which)} policy`,
      expect: which === 'in' ? E.NEEDS_READ_IN : E.NEEDS_READ_OUT,
      request: (w) => get(`/v1/images/${image(w, which).name}/retention`),
    },
    {
      op: 'GET /v1/images/{name}/retention/preview',
      on: `${scopeLabel(which)} policy`,
      expect: which === 'in' ? E.NEEDS_READ_IN : E.NEEDS_READ_OUT,
      request: (w) => get(`/v1/images/${image(w, which).name}/retention/preview`),
    },
    {
      op: 'PUT /v1/images/{name}/retention',
      on: `${scopeLabel(which)} policy`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      request: (w) => ({
        method: 'PUT',
        path: `/v1/images/${image(w, which).name}/retention`,
        body: { keep_latest: 1000 },
      }),
    },
    {
      op: 'DELETE /v1/images/{name}/retention',
      on: `${scopeLabel(which)} policy`,
      expect: which === 'in' ? E.PUBLISH_IN : E.WRITE_OUT,
      request: (w) => ({ method: 'DELETE', path: `/v1/images/${image(w, which).name}/retention` }),
    },
  ]),
  ...(['in', 'out'] as const).map((which): Row => ({
    op: 'DELETE /v1/images/{name}',
    on: `${scopeLabel(which)} image with a published version`,
    expect: which === 'in' ? E.WRITE_IN : E.WRITE_OUT,
    okStatuses: [409],
    request: (w) => ({ method: 'DELETE', path: `/v1/images/${image(w, which).name}` }),
  })),
  {
    op: 'GET /v1/storage',
    on: 'storage over the readable images',
    expect: E.NEEDS_READ_LIST,
    request: () => get('/v1/storage'),
  },
];

function get(path: string): Req {
  return { method: 'GET', path };
}

const outcomesOf = (line: string): string[] => line.trim().split(/\s+/);
const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(['ok', '401', '403', '404']);

/** Sends one request as `caller` and classifies the answer. */
async function ask(
  w: World,
  row: Row,
  caller: CallerId,
): Promise<{ outcome: string; status: number }> {
  const req = await row.request(w);
  const headers: Record<string, string> = { ...w.headers[caller] };
  let body: string | Buffer | undefined;
  if (req.raw) {
    headers['content-type'] = 'application/octet-stream';
    body = req.raw;
  } else if (req.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.body);
  }
  const res = await w.app.fetch(req.path, { method: req.method, headers, body });
  await res.arrayBuffer();
  const { status } = res;
  const outcome: Outcome | string =
    status === 401 || status === 403 || status === 404
      ? String(status)
      : status < 400 || row.okStatuses?.includes(status)
        ? 'ok'
        : String(status);
  return { outcome, status };
}

/** Publishes `version` of `image` (one VM artifact with its metadata) through the API. */
async function publishVersion(
  app: TestApp,
  headers: Record<string, string>,
  name: string,
  version: string,
  root: FixtureFile,
  meta: FixtureFile,
): Promise<string> {
  await composeDraft(app, headers, name, version, [
    { format: 'qcow2', root, metadata: meta, architecture: 'x86_64' },
  ]);
  const job = await api(app, 'POST', publishPath(name, version), headers);
  if (job.status !== 202) throw new Error(`publish answered ${job.status}`);
  await waitForJob(app, headers, job.body.id, 'succeeded');
  return job.body.id as string;
}

/** The download file names the app gives an artifact and its attachment. */
async function versionSeed(
  app: TestApp,
  headers: Record<string, string>,
  name: string,
  version: string,
  root: FixtureFile,
  meta: FixtureFile,
): Promise<VersionSeed> {
  const base = `/v1/images/${name}/versions/${version}/artifacts`;
  const manifest = await api(app, 'GET', `/v1/images/${name}/versions/${version}`, headers);
  const [{ artifact, attachments }] = manifest.body.artifacts as {
    artifact: { id: string };
    attachments: { id: string }[];
  }[];
  const filenameOf = async (path: string) => {
    const res = await app.fetch(path, { method: 'HEAD', headers });
    const disposition = res.headers.get('content-disposition') ?? '';
    const m = /filename="?([^";]+)"?/.exec(disposition);
    if (res.status !== 200 || !m) throw new Error(`HEAD ${path}: ${res.status} ${disposition}`);
    return m[1];
  };
  const attachmentId = attachments[0].id;
  return {
    version,
    artifactId: artifact.id,
    attachmentId,
    artifactFile: await filenameOf(`${base}/${artifact.id}/download`),
    attachmentFile: await filenameOf(`${base}/${artifact.id}/attachments/${attachmentId}/download`),
    root,
    meta,
  };
}

interface Files {
  readonly in: { published: [FixtureFile, FixtureFile]; draft: [FixtureFile, FixtureFile] };
  readonly out: { published: [FixtureFile, FixtureFile]; draft: [FixtureFile, FixtureFile] };
}

async function seedWorld(
  mode: Mode,
  files: Files,
  started: (app: TestApp) => void,
): Promise<World> {
  const app = await startTestApp({
    env: {
      IMGSRV_PUBLIC_READ: String(mode === 'public'),
      IMGSRV_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    },
  });
  started(app);
  const admin = (await issueIdentity(app, 'content-writer', ['*'], 'matrix admin')).headers;
  const tokens = {} as Record<Exclude<CallerId, 'anonymous'>, string>;
  const headers = { anonymous: {} } as Record<CallerId, Record<string, string>>;
  for (const [caller, { role, images }] of Object.entries(IDENTITIES)) {
    const id = await issueIdentity(app, role, images, caller);
    tokens[caller as Exclude<CallerId, 'anonymous'>] = id.token;
    headers[caller as CallerId] = id.headers;
  }
  const seedImage = async (
    name: string,
    as: Record<string, string>,
    f: Files['in'],
  ): Promise<ImageSeed> => {
    const jobId = await publishVersion(app, as, name, '1', ...f.published);
    await composeDraft(app, as, name, '2', [
      { format: 'qcow2', root: f.draft[0], metadata: f.draft[1], architecture: 'x86_64' },
    ]);
    const alias = await api(app, 'PUT', `/v1/images/${name}/aliases/stable`, as, { version: '1' });
    if (alias.status !== 200) throw new Error(`alias answered ${alias.status}`);
    return {
      name,
      jobId,
      published: await versionSeed(app, admin, name, '1', ...f.published),
      draft: await versionSeed(app, admin, name, '2', ...f.draft),
    };
  };
  // The in-scope image is writer-in's own work; the other one the admin's.
  const [inSeed, outSeed] = await Promise.all([
    seedImage(IN, headers['writer-in'], files.in),
    seedImage(OUT, admin, files.out),
  ]);
  await api(app, 'POST', '/v1/images', admin, { name: EMPTY_IN });
  const session = await api(app, 'POST', '/v1/uploads', headers['writer-in'], {
    expected_digest: randomDigest(),
    expected_size_bytes: 4096,
  });
  const ownBlob = (await uploadBlob(app, headers['writer-in'], randomBytes(2048))).digest;
  const victim = (await authCall(app, 'POST', '/v1/auth/principals', {
    kind: 'user',
    display_name: 'matrix victim',
  })) as { id: string };
  const rule = (await authCall(app, 'POST', '/v1/auth/oidc-provisioning-rules', ruleBody)) as {
    id: string;
  };
  const doc = (await api(app, 'GET', '/streams/v1/images.json', admin)).body as StreamsDoc;
  const items: Record<string, string> = {};
  for (const product of Object.values(doc.products))
    for (const v of Object.values(product.versions))
      for (const item of Object.values(v.items)) items[item.sha256] = `/${item.path}`;
  let counter = 0;
  return {
    mode,
    app,
    admin,
    headers,
    tokens,
    in: inSeed,
    out: outSeed,
    sessionId: session.body.id,
    ownBlob,
    victimId: victim.id,
    ruleId: rule.id,
    items,
    unique: () => `t${++counter}-${randomBytes(3).toString('hex')}`,
  };
}

interface StreamsDoc {
  products: Record<
    string,
    {
      aliases: string;
      versions: Record<string, { items: Record<string, { path: string; sha256: string }> }>;
    }
  >;
}

const OPERATION_METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'];

/** Every `METHOD /path` the app's OpenAPI document lists. */
async function documentedOperations(app: TestApp): Promise<string[]> {
  const res = await app.fetch('/docs-json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .flatMap(([path, item]) =>
      Object.keys(item)
        .filter((m) => OPERATION_METHODS.includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    )
    .sort();
}

const MODES: Mode[] = ['public', 'private'];

describe('the role matrix: every operation, every kind of caller, public reads on and off', () => {
  let fixtures: string;
  const worlds = {} as Record<Mode, World>;
  const apps: TestApp[] = [];
  const confs: string[] = [];

  beforeAll(async () => {
    fixtures = await makeFixtureDir();
    const meta = (os: string, serial: string) =>
      makeIncusMetadata(fixtures, {
        architecture: 'x86_64',
        os,
        release: '1',
        variant: 'default',
        type: 'virtual-machine',
        serial,
      });
    const pair = async (seed: number, os: string, serial: string) =>
      [await makeQcow2(fixtures, { seed }), await meta(os, serial)] as [FixtureFile, FixtureFile];
    const files: Files = {
      in: { published: await pair(71, 'InScope', '1'), draft: await pair(72, 'InScope', '2') },
      out: { published: await pair(73, 'Other', '1'), draft: await pair(74, 'Other', '2') },
    };
    const [pub, priv] = await Promise.all(
      MODES.map((m) => seedWorld(m, files, (app) => apps.push(app))),
    );
    worlds.public = pub;
    worlds.private = priv;
  }, 180_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    for (const c of confs) await rm(c, { recursive: true, force: true });
    if (fixtures) await removeFixtureDir(fixtures);
  });

  it('has a row for every operation of the OpenAPI document, and none for an operation it lacks', async () => {
    for (const mode of MODES) {
      const documented = await documentedOperations(worlds[mode].app);
      const covered = new Set(ROWS.map((r) => r.op));
      expect({ mode, withoutRow: documented.filter((op) => !covered.has(op)) }).toEqual({
        mode,
        withoutRow: [],
      });
      expect({
        mode,
        notDocumented: [...covered].filter((op) => !documented.includes(op)),
      }).toEqual({ mode, notDocumented: [] });
    }
    // Every cell of the table names one of the four classes, one per caller.
    const malformed = ROWS.flatMap((row) =>
      [row.expect.pub, row.expect.priv]
        .map(outcomesOf)
        .filter((cells) => cells.length !== CALLERS.length || cells.some((c) => !OUTCOMES.has(c)))
        .map(() => `${row.op} — ${row.on}`),
    );
    expect(malformed).toEqual([]);
  });

  describe.each(MODES)('lists and documents with public reads %s', (mode) => {
    /** Answers `path` for every caller: the status when refused, else `pick` of the body. */
    const listFor = async (path: string, pick: (body: any) => string[]) => {
      const w = worlds[mode];
      const out: Record<string, number | string[]> = {};
      for (const caller of CALLERS) {
        const res = await api(w.app, 'GET', path, w.headers[caller]);
        out[caller] = res.status === 200 ? pick(res.body).sort() : res.status;
      }
      return out;
    };
    const seeded = (names: string[]) => names.filter((n) => [IN, OUT, EMPTY_IN].includes(n));
    const both = [IN, OUT].sort();
    const withEmpty = [EMPTY_IN, IN, OUT].sort();
    const inOnly = [EMPTY_IN, IN].sort();

    it('lists exactly the images each caller may read', async () => {
      const images = await listFor('/v1/images?limit=500', (b) =>
        seeded(b.images.map((i: { name: string }) => i.name)),
      );
      expect(images).toEqual(
        mode === 'public'
          ? {
              anonymous: both,
              'reader-in': withEmpty,
              'reader-out': both,
              'writer-in': withEmpty,
              'writer-out': both,
              'release-manager': withEmpty,
              'auth-manager': both,
            }
          : {
              anonymous: 401,
              'reader-in': inOnly,
              'reader-out': [],
              'writer-in': inOnly,
              'writer-out': [],
              'release-manager': inOnly,
              'auth-manager': 403,
            },
      );
    });

    it('lists drafts only to readers of the image', async () => {
      const versions = await listFor(`/v1/images/${IN}/versions?limit=500`, (b) =>
        b.versions
          .map((v: { version: string }) => v.version)
          .filter((v: string) => ['1', '2'].includes(v)),
      );
      const hidden = mode === 'public' ? ['1'] : 404;
      expect(versions).toEqual({
        anonymous: mode === 'public' ? ['1'] : 401,
        'reader-in': ['1', '2'],
        'reader-out': hidden,
        'writer-in': ['1', '2'],
        'writer-out': hidden,
        'release-manager': ['1', '2'],
        'auth-manager': mode === 'public' ? ['1'] : 403,
      });
    });

    it('lists only the publish jobs of readable images', async () => {
      const jobs = await listFor('/v1/publish-jobs?limit=500', (b) =>
        b.publish_jobs
          .map((j: { image_name: string }) => j.image_name)
          .filter((n: string) => n === IN || n === OUT),
      );
      expect(jobs).toEqual({
        anonymous: 401,
        'reader-in': [IN],
        'reader-out': [],
        'writer-in': [IN],
        'writer-out': [],
        'release-manager': [IN],
        'auth-manager': 403,
      });
    });

    it('puts in both streams documents exactly the images each caller may read', async () => {
      const imageOf = (aliases: string) => aliases.split(',')[0].split('/')[0];
      const products = await listFor('/streams/v1/images.json', (b: StreamsDoc) =>
        Object.values(b.products).map((p) => imageOf(p.aliases)),
      );
      const w = worlds[mode];
      const productImage = new Map(
        Object.entries(
          ((await api(w.app, 'GET', '/streams/v1/images.json', w.admin)).body as StreamsDoc)
            .products,
        ).map(([key, p]) => [key, imageOf(p.aliases)]),
      );
      const index = await listFor('/streams/v1/index.json', (b) =>
        (b.index.images.products as string[]).map((key) => productImage.get(key) ?? key),
      );
      const expected =
        mode === 'public'
          ? Object.fromEntries(CALLERS.map((c) => [c, both]))
          : {
              anonymous: 401,
              'reader-in': [IN],
              'reader-out': [],
              'writer-in': [IN],
              'writer-out': [],
              'release-manager': [IN],
              'auth-manager': 403,
            };
      expect(products).toEqual(expected);
      expect(index).toEqual(expected);
    });

    it('answers a read out of scope exactly as a read of something absent', async () => {
      const w = worlds[mode];
      const reader = w.headers['reader-in'];
      const answer = async (path: string) => {
        const res = await api(w.app, 'GET', path, reader);
        return { status: res.status, code: res.body?.code };
      };
      const pairs: [string, string][] = [
        // Out of scope, the image itself looks absent; in public mode it is there (published).
        [
          `/v1/images/${OUT}/versions/2`,
          mode === 'private'
            ? `/v1/images/${IN}-nothing/versions/nothing`
            : `/v1/images/${IN}/versions/nothing`,
        ],
        [`/v1/blobs/${w.out.draft.root.sha256}`, `/v1/blobs/${randomDigest()}`],
        [`/v1/publish-jobs/${w.out.jobId}`, `/v1/publish-jobs/${randomUuid()}`],
        [`/v1/uploads/${w.sessionId}`, `/v1/uploads/${randomUuid()}`],
      ];
      if (mode === 'private') pairs.push([`/v1/images/${OUT}`, `/v1/images/${IN}-nothing`]);
      const observed = [];
      const expected = [];
      for (const [outOfScope, absent] of pairs) {
        observed.push({ path: outOfScope, ...(await answer(outOfScope)) });
        expected.push({ path: outOfScope, ...(await answer(absent)) });
      }
      expect(observed).toEqual(expected);
    });
  });

  describe('the real incus client with a scoped token, public reads off', () => {
    it('lists and exports only the images in scope', async () => {
      const w = worlds.private;
      const conf = await mkdtemp(join(tmpdir(), 'imgsrv-matrix-incus-'));
      confs.push(conf);
      const certFile = w.app.server.tlsCertFile ?? '';
      const host = new URL(w.app.server.urls.https as string).host;
      const run = (args: string[]) => incus(conf, certFile, args);
      await run([
        'remote',
        'add',
        'p',
        `https://any:${w.tokens['reader-in']}@${host}`,
        '--protocol=simplestreams',
        '--public',
      ]);
      const listed = JSON.parse(await run(['image', 'list', 'p:', '--format=json'])) as {
        fingerprint: string;
        type: string;
        aliases: { name: string }[];
      }[];
      const seed = w.in.published;
      expect(listed.map((i) => i.fingerprint)).toEqual([
        await combinedFingerprint(seed.meta.path, seed.root.path),
      ]);
      expect(listed[0].type).toBe('virtual-machine');
      expect(listed[0].aliases.map((a) => a.name)).toEqual(
        expect.arrayContaining([`${IN}/1`, `${IN}/stable`]),
      );
      expect(listed[0].aliases.every((a) => a.name.startsWith(`${IN}/`))).toBe(true);

      const out = await mkdtemp(join(conf, 'export-'));
      await run(['image', 'export', `p:${IN}/stable`, `${out}/`, '--vm']);
      const exported = await Promise.all((await readdir(out)).map((f) => readFile(join(out, f))));
      expect(exported).toHaveLength(2);
      for (const file of [seed.meta, seed.root]) {
        const bytes = await readFile(file.path);
        expect(exported.some((e) => e.equals(bytes))).toBe(true);
      }

      await expect(run(['image', 'info', `p:${OUT}/1`, '--vm'])).rejects.toThrow();
      const elsewhere = await mkdtemp(join(conf, 'export-'));
      await expect(
        run(['image', 'export', `p:${OUT}/stable`, `${elsewhere}/`, '--vm']),
      ).rejects.toThrow();
      expect(await readdir(elsewhere)).toEqual([]);

      // The items themselves, with the token as the Basic password as the client sends it.
      const basic = {
        authorization: `Basic ${Buffer.from(`any:${w.tokens['reader-in']}`).toString('base64')}`,
      };
      const item = async (f: FixtureFile) =>
        (await w.app.fetch(w.items[hex(f)], { method: 'HEAD', headers: basic })).status;
      expect([await item(seed.root), await item(seed.meta)]).toEqual([200, 200]);
      expect([await item(w.out.published.root), await item(w.out.published.meta)]).toEqual([
        404, 404,
      ]);
    });
  });

  describe.each(MODES)('with public reads %s', (mode) => {
    it.each(ROWS.map((row) => [`${row.op} — ${row.on}`, row] as const))('%s', async (_, row) => {
      const w = worlds[mode];
      const expected = outcomesOf(mode === 'public' ? row.expect.pub : row.expect.priv);
      const answers = await Promise.all(CALLERS.map((caller) => ask(w, row, caller)));
      const observed = Object.fromEntries(
        CALLERS.map((caller, i) => [
          caller,
          answers[i].outcome === expected[i]
            ? expected[i]
            : `${answers[i].outcome} (status ${answers[i].status})`,
        ]),
      );
      expect(observed).toEqual(Object.fromEntries(CALLERS.map((c, i) => [c, expected[i]])));
    });
  });
});
