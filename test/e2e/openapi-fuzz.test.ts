import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as fc from 'fast-check';
import { Pool } from 'undici';
import { ACTIONS } from '../../src/auth/actions';
import { bearer, issueIdentity, type IssuedIdentity } from '../support/auth';
import { api, markPublished } from '../support/catalog';
import {
  makeFixtureDir,
  makeIncusMetadata,
  makeSquashfs,
  removeFixtureDir,
} from '../support/fixtures';
import {
  bodyBytes,
  contractViolation,
  headerSafe,
  operationsOf,
  rawExchange,
  requestArbitrary,
  resolveTokens,
  targetOf,
  type FuzzHints,
  type FuzzOperation,
  type FuzzRequest,
  type OpenApiDocument,
  type SchemaObject,
} from '../support/openapi-fuzz';
import { composeDraft, publishPath, waitForJob } from '../support/publish';
import { startTestApp, type TestApp } from '../support/test-app';
import { uploadBlob } from '../support/uploads';
import { sha256Of } from '../support/digests';

/**
 * A fuzz pass over every operation of the app's own OpenAPI document (GET /docs-json): requests
 * generated from each operation's parameters and body schema, then mutated (path values of the
 * wrong type, huge, unicode, traversal, bad percent-encoding; queries missing, duplicated, huge;
 * every kind of credential; conditional, range and digest headers; bodies valid, truncated,
 * mistyped, padded, nested, not JSON), against a catalog with real rows the generated ids name
 * much of the time (fixtures put back every RESTOCK_EVERY requests). The contract (docs/http-contract.md): never
 * a 5xx, every 4xx is problem+json with a code, no request hangs.
 *
 * Sized for CI. Locally: IMGSRV_FUZZ_REQUESTS=50000 runs more, IMGSRV_FUZZ_SEED=n other requests,
 * IMGSRV_FUZZ_CONCURRENCY=1 a fixed order (to reproduce a failure: same seed and count; the
 * failure names the request's index, its x-request-id and the exact request sent),
 * IMGSRV_FUZZ_VERBOSE=1 the statuses and codes per operation, IMGSRV_FUZZ_TRACE='PUT /v1/images'
 * every request and answer of the matching operations.
 */

const REQUESTS = Number(process.env.IMGSRV_FUZZ_REQUESTS ?? 4_000);
const SEED = Number(process.env.IMGSRV_FUZZ_SEED ?? 20_261_123);
const CONCURRENCY = Math.min(4, Math.max(1, Number(process.env.IMGSRV_FUZZ_CONCURRENCY ?? 4)));
const REQUEST_TIMEOUT_MS = 30_000;
/** Fixtures that fuzzed requests delete or use up are put back every this many requests. */
const RESTOCK_EVERY = 250;
const VERBOSE = Boolean(process.env.IMGSRV_FUZZ_VERBOSE);
/** Prints every request to operations whose `METHOD /path` contains this, and its answer. */
const TRACE = process.env.IMGSRV_FUZZ_TRACE;

const IMAGE_PATTERN = '^[a-z0-9][a-z0-9._-]{0,127}$';

interface Fixture {
  image: string;
  version: string;
  artifact: string;
  attachment: string;
  alias: string;
  digest: string;
  hex: string;
  attachmentHex: string;
  filename: string;
  attachmentFilename: string;
  job: string;
}

interface Pools {
  adminToken: string;
  readerToken: string;
  victimToken: string[];
  victimTokenId: string[];
  principal: string[];
  tokenId: string[];
  rule: string[];
  upload: string[];
  job: string[];
  cursor: string[];
  parts: { number: number; etag: string; size_bytes: number }[];
  partDigest: string;
  aliasEtag: string;
  trustedDigest: string[];
  trustedSize: number[];
}

interface Failure {
  readonly index: number;
  readonly kind: 'contract' | 'hang' | 'connection';
  readonly detail: string;
  readonly request: string;
  readonly response?: string;
  readonly log: string[];
}

const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');
const excerpt = (bytes: Buffer, n = 300) => {
  const text = bytes.toString('utf8', 0, Math.min(bytes.length, n));
  return bytes.length > n ? `${text}… (${bytes.length} bytes)` : text;
};
const requestId = (index: number) => `fuzz-${String(index).padStart(6, '0')}`;

describe('OpenAPI fuzz: every operation, mutated requests', () => {
  let app: TestApp;
  let admin: Record<string, string>;
  let fuzzer: IssuedIdentity;
  let reader: IssuedIdentity;
  let victims: IssuedIdentity[];
  let fixtures: Fixture[];
  let pools: Pools;
  let doc: OpenApiDocument;
  let operations: FuzzOperation[];
  let draftCounter = 0;
  let fixtureDir: string | undefined;
  /** A real next_cursor per list operation (`op.cursor` tokens). */
  const cursors: Record<string, string> = {};

  const must = async (
    what: string,
    answer: Promise<{ status: number; body: any; headers: Headers }>,
    ok: number[] = [200, 201, 202, 204],
  ) => {
    const res = await answer;
    if (!ok.includes(res.status))
      throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res;
  };

  /** The fuzzer's own headers, for content calls (the bootstrap token only manages auth). */
  const content = () => fuzzer.headers;

  /** A new draft of fz-draft with one artifact and one attachment (fixture 1). */
  const newDraft = async () => {
    const version = `d${++draftCounter}`;
    const base = `/v1/images/fz-draft/versions`;
    // The fuzzer may have deleted the image (DELETE /v1/images/{name} takes one with drafts only).
    await must(
      'fz-draft',
      api(app, 'POST', '/v1/images', content(), { name: 'fz-draft' }),
      [201, 409],
    );
    await must('draft', api(app, 'POST', base, content(), { version }));
    const artifact = await must(
      'draft artifact',
      api(app, 'POST', `${base}/${version}/artifacts`, content(), {
        operating_system: 'debian',
        architecture: 'amd64',
        format: 'squashfs',
        primary_blob_digest: pools.trustedDigest[0],
        primary_blob_size_bytes: pools.trustedSize[0],
        primary_media_type: 'application/vnd.squashfs',
      }),
    );
    const attachment = await must(
      'draft attachment',
      api(app, 'POST', `${base}/${version}/artifacts/${artifact.body.id}/attachments`, content(), {
        name: 'incus.tar.xz',
        media_type: 'application/x-xz',
        blob_digest: pools.trustedDigest[1],
        blob_size_bytes: pools.trustedSize[1],
      }),
    );
    return { version, artifact: artifact.body.id as string, attachment: attachment.body.id };
  };

  const newUploadSession = async (withPart: boolean) => {
    const session = await must(
      'upload session',
      api(app, 'POST', '/v1/uploads', content(), {
        expected_digest: sha256Of(randomBytes(16)),
        expected_size_bytes: 16,
      }),
    );
    if (!withPart) return session.body.id as string;
    const bytes = randomBytes(16);
    const res = await app.fetch(`/v1/uploads/${session.body.id}/parts/1`, {
      method: 'PUT',
      headers: { ...content(), 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    const part = (await res.json()) as { etag: string; size_bytes: number };
    if (res.status !== 200) throw new Error(`part answered ${res.status}`);
    pools.parts = [{ number: 1, etag: part.etag, size_bytes: part.size_bytes }];
    pools.partDigest = createHash('sha256').update(bytes).digest('base64');
    return session.body.id as string;
  };

  const newRule = async () =>
    (
      await must(
        'oidc rule',
        api(app, 'POST', '/v1/auth/oidc-provisioning-rules', admin, {
          display_name: 'fuzz rule',
          // A documentation address: accepted, and never fetched (no fuzzed JWT names it).
          issuer_url: 'https://192.0.2.10',
          audience: 'imgsrv',
          claims: { repository: 'acme/*' },
          role_id: 'reader',
          images: ['fz-*'],
        }),
      )
    ).body.id as string;

  /** Puts back what fuzzed requests took away: draft, aliases, grants, tokens, rule, sessions. */
  const restock = async () => {
    const draft = fixtures[1];
    const manifest = await api(
      app,
      'GET',
      `/v1/images/fz-draft/versions/${draft.version}`,
      content(),
    );
    const artifacts = (manifest.body?.artifacts ?? []) as {
      artifact: { id: string };
      attachments: { id: string }[];
    }[];
    const intact =
      manifest.status === 200 &&
      manifest.body?.version?.state === 'draft' &&
      artifacts.some(
        (a) =>
          a.artifact.id === draft.artifact && a.attachments.some((t) => t.id === draft.attachment),
      );
    if (!intact) Object.assign(draft, await newDraft());
    for (const [image, alias] of [
      ['fz-stream', 'stable'],
      ['fz-pub', 'latest'],
    ]) {
      const path = `/v1/images/${image}/aliases/${alias}`;
      await must('alias', api(app, 'PUT', path, content(), { version: '1' }));
      pools.aliasEtag = (await api(app, 'GET', path, content())).headers.get('etag') ?? '"x"';
    }
    for (const [i, victim] of victims.entries()) {
      await api(app, 'PUT', `/v1/auth/principals/${victim.principalId}/roles/reader`, admin, {
        images: ['*'],
      });
      const whoami = await api(app, 'GET', '/v1/auth/whoami', bearer(pools.victimToken[i]));
      if (whoami.status === 200) continue;
      const token = await must(
        'victim token',
        api(app, 'POST', `/v1/auth/principals/${victim.principalId}/api-tokens`, admin, {
          name: 'victim',
          expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        }),
      );
      pools.victimToken[i] = token.body.plaintext;
      pools.victimTokenId[i] = token.body.id;
      pools.tokenId[i] = token.body.id;
    }
    const rule = await api(app, 'GET', `/v1/auth/oidc-provisioning-rules/${pools.rule[0]}`, admin);
    if (rule.status !== 200) pools.rule[0] = await newRule();
    for (const [i, withPart] of [
      [0, false],
      [1, true],
    ] as const) {
      const session = await api(app, 'GET', `/v1/uploads/${pools.upload[i]}`, content());
      if (!['created', 'uploading'].includes(session.body?.state))
        pools.upload[i] = await newUploadSession(withPart);
    }
  };

  beforeAll(async () => {
    app = await startTestApp();
    admin = bearer(app.bootstrapToken);
    fuzzer = await issueIdentity(
      app,
      ['reader', 'content-writer', 'release-manager', 'auth-manager'],
      ['*'],
      'fuzzer',
    );
    reader = await issueIdentity(app, 'reader', ['fz-pub', 'fz-job'], 'fuzz reader');
    victims = [
      await issueIdentity(app, 'reader', ['*'], 'fuzz victim 1'),
      await issueIdentity(app, 'release-manager', ['fz-*'], 'fuzz victim 2'),
    ];
    const w = fuzzer.headers;

    // Two trusted blobs of random bytes (a "root" and an "incus.tar.xz"), and real image files.
    const root = await uploadBlob(app, w, randomBytes(4096));
    const meta = await uploadBlob(app, w, randomBytes(512));
    fixtureDir = await makeFixtureDir();
    const realMeta = await makeIncusMetadata(fixtureDir, {
      architecture: 'x86_64',
      os: 'Debian',
      release: '12',
      variant: 'default',
      type: 'container',
    });
    const realRoot = await makeSquashfs(fixtureDir, { seed: 'openapi-fuzz' });
    const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

    /** An image, its version, one artifact and its incus.tar.xz attachment. */
    const compose = async (image: string, format: 'qcow2' | 'squashfs') => {
      await must(image, api(app, 'POST', '/v1/images', w, { name: image }));
      await must(
        `${image} 1`,
        api(app, 'POST', `/v1/images/${image}/versions`, w, { version: '1' }),
      );
      const artifact = await must(
        `${image} artifact`,
        api(app, 'POST', `/v1/images/${image}/versions/1/artifacts`, w, {
          operating_system: 'debian',
          architecture: 'amd64',
          format,
          primary_blob_digest: root.digest,
          primary_blob_size_bytes: root.size,
          primary_media_type:
            format === 'qcow2' ? 'application/x-qemu-disk' : 'application/vnd.squashfs',
        }),
      );
      const attachment = await must(
        `${image} attachment`,
        api(
          app,
          'POST',
          `/v1/images/${image}/versions/1/artifacts/${artifact.body.id}/attachments`,
          w,
          {
            name: 'incus.tar.xz',
            media_type: 'application/x-xz',
            blob_digest: meta.digest,
            blob_size_bytes: meta.size,
          },
        ),
      );
      return { artifact: artifact.body.id as string, attachment: attachment.body.id as string };
    };

    // A published version (its state set directly), with an alias (see restock).
    const pub = await compose('fz-pub', 'qcow2');
    await markPublished(app, 'fz-pub', '1');
    // A publish job of random bytes, which the pipeline fails (a job to retry and cancel).
    const failing = await compose('fz-job', 'squashfs');
    const job = await must('publish fz-job 1', api(app, 'POST', publishPath('fz-job', '1'), w));
    // A version of real files published through the pipeline: in the streams, with items.
    const { artifactIds } = await composeDraft(app, w, 'fz-stream', '1', [
      { format: 'squashfs', root: realRoot, metadata: realMeta, architecture: 'x86_64' },
    ]);
    const streamJob = await must(
      'publish fz-stream 1',
      api(app, 'POST', publishPath('fz-stream', '1'), w),
    );
    const published = await waitForJob(app, w, streamJob.body.id, 'succeeded');
    const streamManifest = await must(
      'fz-stream manifest',
      api(app, 'GET', '/v1/images/fz-stream/versions/1', w),
    );
    await waitForJob(app, w, job.body.id, ['failed', 'succeeded']);

    await must('fz-draft', api(app, 'POST', '/v1/images', w, { name: 'fz-draft' }));
    for (const name of ['fz-a', 'fz-b', 'fz-c'])
      await must(name, api(app, 'POST', '/v1/images', w, { name }));

    const fixture = (
      image: string,
      ids: { artifact: string; attachment: string },
      blobs: { root: string; meta: string },
      alias: string,
      jobId: string,
    ): Fixture => ({
      image,
      version: '1',
      ...ids,
      alias,
      digest: blobs.root,
      hex: hexOf(blobs.root),
      attachmentHex: hexOf(blobs.meta),
      filename: `${image}.img`,
      attachmentFilename: 'incus.tar.xz',
      job: jobId,
    });
    const blobs = { root: root.digest, meta: meta.digest };
    fixtures = [
      fixture('fz-pub', pub, blobs, 'latest', job.body.id),
      fixture(
        'fz-draft',
        { artifact: randomUUID(), attachment: randomUUID() },
        blobs,
        'edge',
        job.body.id,
      ),
      fixture('fz-job', failing, blobs, 'stable', job.body.id),
      fixture(
        'fz-stream',
        {
          artifact: artifactIds[0],
          attachment: streamManifest.body.artifacts[0].attachments[0].id,
        },
        { root: realRoot.sha256, meta: realMeta.sha256 },
        'stable',
        published.id,
      ),
      fixture(
        'fz-missing',
        { artifact: randomUUID(), attachment: randomUUID() },
        { root: `sha256:${'e'.repeat(64)}`, meta: `sha256:${'f'.repeat(64)}` },
        'nope',
        randomUUID(),
      ),
    ];
    fixtures[4].version = 'nope';
    // The file names downloads answer to (and streams item paths use).
    for (const f of fixtures.slice(0, 4)) {
      const base = `/v1/images/${f.image}/versions/${f.version}/artifacts/${f.artifact}`;
      const head = await app.fetch(`${base}/download`, { method: 'HEAD', headers: w });
      const name = /filename="([^"]+)"/.exec(head.headers.get('content-disposition') ?? '')?.[1];
      if (name) f.filename = name;
    }

    const ready = await must(
      'ready session',
      api(app, 'POST', '/v1/uploads', w, {
        expected_digest: root.digest,
        expected_size_bytes: root.size,
      }),
    );
    const page = await must('a page', api(app, 'GET', '/v1/images?limit=1', w));
    pools = {
      adminToken: fuzzer.token,
      readerToken: reader.token,
      victimToken: victims.map((v) => v.token),
      victimTokenId: victims.map((v) => v.tokenId),
      principal: [...victims.map((v) => v.principalId), randomUUID()],
      tokenId: [...victims.map((v) => v.tokenId), 'k3v9x0q2m8a1b7c4'],
      rule: [await newRule(), await newRule(), randomUUID()],
      upload: ['', '', ready.body.id, randomUUID()],
      job: [job.body.id, randomUUID()],
      cursor: [
        page.body.next_cursor ?? cursorOf(['fz-a']),
        cursorOf({}),
        cursorOf([1, 2, 3]),
        cursorOf({ name: 'fz-a', id: 'not-a-uuid', created_at: 'not a date' }),
        cursorOf('x'.repeat(3_000)),
        '!!!',
        '',
      ],
      parts: [],
      partDigest: '',
      aliasEtag: '',
      trustedDigest: [root.digest, meta.digest],
      trustedSize: [root.size, meta.size],
    };
    pools.upload[0] = await newUploadSession(false);
    pools.upload[1] = await newUploadSession(true);
    await restock();

    const docs = await app.fetch('/docs-json');
    expect(docs.status).toBe(200);
    doc = (await docs.json()) as OpenApiDocument;
    operations = operationsOf(doc);
    // A real cursor of every list the fuzzer can page without path parameters.
    for (const op of operations) {
      if (op.method !== 'GET' || op.template.includes('{')) continue;
      if (!op.parameters.some((p) => p.in === 'query' && p.name === 'cursor')) continue;
      const page = await api(app, 'GET', `${op.template}?limit=1`, w);
      if (typeof page.body?.next_cursor === 'string') cursors[op.key] = page.body.next_cursor;
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    if (fixtureDir) await removeFixtureDir(fixtureDir);
  });

  /** Values of tokens in generated requests, read when each request is sent. */
  const lookupFor = (request: FuzzRequest) => (key: string) => {
    const [scope, name, index] = key.split('.');
    if (scope === 'op') return cursors[request.op] ?? pools.cursor[0];
    if (scope === 'fx' || /^f\d$/.test(scope)) {
      const fixture = fixtures[scope === 'fx' ? request.fixture : Number(scope.slice(1))];
      return fixture?.[name as keyof Fixture] ?? key;
    }
    const value = pools[name as keyof Pools];
    if (Array.isArray(value) && index !== undefined && value.length)
      return value[Number(index) % value.length];
    return value ?? key;
  };

  const hints = (): FuzzHints => {
    const fx = (name: keyof Fixture, weight = 10) =>
      fc.oneof(
        { weight, arbitrary: fc.constant(`@@fx.${name}@@`) },
        { weight: 1, arbitrary: fc.constantFrom(...fixtures.map((_, i) => `@@f${i}.${name}@@`)) },
      );
    const pool = (name: keyof Pools) => {
      const n = (pools[name] as unknown[]).length;
      return fc.nat(n - 1).map((i) => `@@g.${name}.${i}@@`);
    };
    const params: Record<string, () => fc.Arbitrary<string>> = {
      name: () => fx('image'),
      image: () => fx('image'),
      version: () => fc.oneof(fx('version'), fc.constant('1')),
      ref: () => fc.oneof(fx('version'), fx('alias'), fc.constant('latest')),
      alias: () => fc.oneof(fx('alias'), fc.constant('latest')),
      artifact_id: () => fx('artifact'),
      attachment_id: () => fx('attachment'),
      digest: () => fx('digest'),
      sha256: () => fc.oneof(fx('hex'), fx('attachmentHex')),
      filename: () => fc.oneof(fx('filename'), fx('attachmentFilename')),
      job_id: () => fc.oneof(fx('job'), pool('job')),
      upload_id: () => pool('upload'),
      part_number: () => fc.constantFrom('1', '2', '10000', '10001', '01'),
      principal_id: () => pool('principal'),
      token_id: () => pool('tokenId'),
      rule_id: () => pool('rule'),
      cursor: () => fc.constant('@@op.cursor@@'),
      action: () => fc.constantFrom(...ACTIONS, 'api_token.revoke', 'image.create', 'x'),
    };
    const json = (key: string) => `@@=${key}@@`;
    const fields: Record<string, (schema: SchemaObject) => fc.Arbitrary<unknown> | undefined> = {
      name: (schema) =>
        schema.pattern === IMAGE_PATTERN
          ? fc.oneof(fx('image'), fc.constantFrom('fz-a', 'fz-new', 'a'))
          : schema.pattern
            ? fc.constantFrom('incus.tar.xz', 'root.tar.xz', 'SHA256SUMS')
            : undefined,
      version: () => fc.oneof(fx('version'), fc.constantFrom('1', 'd1', '2')),
      expected_digest: () => fc.oneof(pool('trustedDigest'), fx('digest')),
      primary_blob_digest: () => fc.oneof(pool('trustedDigest'), fx('digest')),
      blob_digest: () => fc.oneof(pool('trustedDigest'), fx('digest')),
      expected_size_bytes: () => fc.constantFrom(json('g.trustedSize.0'), json('g.trustedSize.1')),
      primary_blob_size_bytes: () =>
        fc.constantFrom(json('g.trustedSize.0'), json('g.trustedSize.1')),
      blob_size_bytes: () => fc.constantFrom(json('g.trustedSize.0'), json('g.trustedSize.1')),
      parts: () => fc.constant(json('g.parts')),
      images: () =>
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(['*'], ['fz-*'], ['@@fx.image@@'], ['fz-?ub']) },
          { weight: 1, arbitrary: fc.constantFrom([], ['['], ['*'.repeat(300)], ['Fz'], ['']) },
        ),
      audience: () =>
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('imgsrv', 'https://imgsrv.example') },
          { weight: 1, arbitrary: fc.constantFrom('', ' ', 'x'.repeat(3000)) },
        ),
      claims: () =>
        fc.dictionary(
          fc.constantFrom('repository', 'ref', 'sub', 'environment', 'job_workflow_ref'),
          fc.constantFrom('acme/*', 'refs/heads/main', '*', '?', 'repo:acme/images:*'),
          { maxKeys: 3 },
        ),
      // Only addresses nobody will connect to: no fuzzed JWT ever names one of these issuers.
      issuer_url: () =>
        fc.oneof(
          {
            weight: 6,
            arbitrary: fc.constantFrom(
              'https://192.0.2.10',
              'https://192.0.2.11/tenant/',
              'HTTPS://192.0.2.12:443/',
              'https://192.0.2.13/a',
              'https://192.0.2.14',
            ),
          },
          {
            weight: 2,
            arbitrary: fc.constantFrom(
              'http://127.0.0.1:9',
              'https://127.0.0.1',
              'https://[::1]',
              'https://10.0.0.1',
              'https://localhost',
              'ftp://192.0.2.10',
              'https://u:p@192.0.2.10',
              'https://192.0.2.10/?q=1',
              'https://192.0.2.10/#f',
              'not a url',
              '',
              `https://192.0.2.10/${'a'.repeat(3000)}`,
            ),
          },
        ),
    };
    const badParams: Record<string, () => fc.Arbitrary<string>> = {
      cursor: () => pool('cursor'),
      part_number: () => fc.constantFrom('0', '10001', '-1', '1.0', '1e3', '٣'),
      digest: () =>
        fc.constantFrom(`sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`, 'sha256:'),
      principal_id: () => fc.constantFrom('00000000-0000-0000-0000-000000000000', 'not-a-uuid'),
    };
    return {
      fixture: fc.oneof(
        ...fixtures.map((f, i) => ({
          weight: f.image === 'fz-missing' ? 1 : 3,
          arbitrary: fc.constant(i),
        })),
      ),
      badParam: (name) => badParams[name]?.(),
      exclusive: new Set(['issuer_url', 'images', 'audience']),
      param: (name) => params[name]?.(),
      field: (name, schema) => fields[name]?.(schema),
    };
  };

  const describeRequest = (
    request: FuzzRequest,
    target: string,
    headers: Record<string, string>,
    body: Buffer | null,
  ) =>
    [
      `(broken: ${request.focus}) ${request.method} ${target.length > 300 ? `${target.slice(0, 300)}… (${target.length} chars)` : target}`,
      ...Object.entries(headers).map(
        ([k, v]) => `${k}: ${v.length > 200 ? `${v.slice(0, 200)}… (${v.length} chars)` : v}`,
      ),
      body ? `body: ${JSON.stringify(excerpt(body, 200))}` : 'no body',
    ].join('\n    ');

  const logOf = (id: string) =>
    app.logs.lines
      .filter((line) => line.includes(`"${id}"`))
      .map((line) => {
        try {
          const entry = JSON.parse(line) as { msg?: string; err?: { stack?: string } };
          return entry.err?.stack ? `${entry.msg}: ${entry.err.stack}` : line.trim();
        } catch {
          return line.trim();
        }
      });

  it(
    'answers every generated request with < 500, problem+json for 4xx, and never hangs',
    async () => {
      const started = Date.now();
      const h = hints();
      const perOperation = Math.ceil(REQUESTS / operations.length);
      // Each operation's requests depend on the seed and its own key only, not on the others.
      const samples = operations.map((op) =>
        fc.sample(requestArbitrary(doc, op, h), {
          seed: SEED ^ createHash('sha256').update(op.key).digest().readInt32BE(0),
          numRuns: perOperation,
        }),
      );
      // Round-robin over the operations, so every one is covered and state changes interleave.
      const requests: FuzzRequest[] = [];
      for (let round = 0; requests.length < REQUESTS && round < perOperation; round++)
        for (const sample of samples) if (requests.length < REQUESTS) requests.push(sample[round]);

      const pool = new Pool(app.url, {
        connections: CONCURRENCY,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      const counts: Record<string, number> = {};
      const byOperation = new Map<string, Record<string, number>>();
      const failures: Failure[] = [];
      let unsendable = 0;

      const send = async (request: FuzzRequest, index: number) => {
        const lookup = lookupFor(request);
        const id = requestId(index);
        const target = targetOf(request, lookup);
        const headers: Record<string, string> = { 'x-request-id': id };
        const auth = request.auth;
        if (auth.kind === 'token')
          headers.authorization = `Bearer ${auth.who === 'admin' ? pools.adminToken : pools.readerToken}`;
        else if (auth.kind === 'basic')
          headers.authorization = `Basic ${Buffer.from(`fuzz:${auth.who === 'admin' ? pools.adminToken : pools.readerToken}`).toString('base64')}`;
        else if (auth.kind === 'raw') headers.authorization = resolveTokens(auth.value, lookup);
        for (const [name, value] of Object.entries(request.headers))
          headers[name] = headerSafe(resolveTokens(value, lookup));
        if (request.contentType !== null) headers['content-type'] = request.contentType;
        const body = request.body ? bodyBytes(request.body, lookup) : null;
        const described = () => describeRequest(request, target, headers, body);
        const perOp = byOperation.get(request.op) ?? {};
        byOperation.set(request.op, perOp);
        const tally = (key: string) => {
          counts[key] = (counts[key] ?? 0) + 1;
          perOp[key] = (perOp[key] ?? 0) + 1;
        };
        try {
          const res = await pool.request({
            path: target,
            method: request.method as 'GET',
            headers,
            body: body ?? undefined,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const bytes = Buffer.from(await res.body.arrayBuffer());
          const contentType = String(res.headers['content-type'] ?? '');
          tally(`${Math.floor(res.statusCode / 100)}xx`);
          if (TRACE && request.op.includes(TRACE))
            console.log(`${described()}\n  → ${res.statusCode} ${excerpt(bytes, 400)}`);
          if (VERBOSE) {
            const code = /"code":"([A-Z_]+)"/.exec(bytes.toString('utf8', 0, 2_000))?.[1];
            const key = code ? `${res.statusCode} ${code}` : String(res.statusCode);
            perOp[key] = (perOp[key] ?? 0) + 1;
          }
          const violation = contractViolation(request.method, {
            status: res.statusCode,
            contentType,
            body: bytes,
          });
          if (violation)
            failures.push({
              index,
              kind: 'contract',
              detail: `${request.op}: ${violation}`,
              request: described(),
              response: `${res.statusCode} ${contentType} ${excerpt(bytes)}`,
              log: logOf(id),
            });
        } catch (error) {
          const e = error as Error & { code?: string };
          if (e.code === 'UND_ERR_INVALID_ARG') {
            unsendable++;
            if (VERBOSE) console.log(`unsendable #${index}: ${e.message}\n    ${described()}`);
            return;
          }
          const hang =
            e.name === 'TimeoutError' ||
            e.name === 'AbortError' ||
            e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
            e.code === 'UND_ERR_BODY_TIMEOUT';
          tally(hang ? 'hang' : 'connection error');
          failures.push({
            index,
            kind: hang ? 'hang' : 'connection',
            detail: `${request.op}: ${e.code ?? e.name}: ${e.message}`,
            request: described(),
            log: logOf(id),
          });
        }
      };

      try {
        for (let start = 0; start < requests.length; start += RESTOCK_EVERY) {
          const batch = requests.slice(start, start + RESTOCK_EVERY);
          let next = 0;
          await Promise.all(
            Array.from({ length: CONCURRENCY }, async () => {
              while (next < batch.length) {
                const i = next++;
                await send(batch[i], start + i);
              }
            }),
          );
          await restock();
        }
      } finally {
        await pool.close();
      }

      // Framing the HTTP client will not write (Content-Length that lies or conflicts, broken
      // chunks) and clients that hang up; then a moment for the work they left behind to end.
      const framing = await framingCases();
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const { what, outcome } of framing) {
        if (outcome instanceof Error) {
          counts.hang = (counts.hang ?? 0) + 1;
          failures.push({
            index: -1,
            kind: 'hang',
            detail: outcome.message,
            request: what,
            log: [],
          });
          continue;
        }
        if (outcome.status === null) continue;
        counts[`${Math.floor(outcome.status / 100)}xx`] =
          (counts[`${Math.floor(outcome.status / 100)}xx`] ?? 0) + 1;
        const violation = contractViolation('POST', {
          status: outcome.status,
          contentType: outcome.contentType,
          body: outcome.body,
        });
        if (violation)
          failures.push({
            index: -1,
            kind: 'contract',
            detail: violation,
            request: what,
            response: `${outcome.status} ${outcome.contentType} ${excerpt(outcome.body)}`,
            log: [],
          });
      }

      // Errors the client never saw (a response already started, a request given up on).
      const unexpected = app.logs.lines.filter((line) => line.includes('"unexpected error"'));
      // 5xx problems written to a client already gone (the log says which), for the summary.
      const unseen = app.logs.lines.filter((line) => line.includes('"dependency error"'));
      const still = await app.fetch('/healthz');

      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const total = requests.length + framing.length;
      console.log(
        `openapi-fuzz: ${total} requests (${requests.length} generated + ${framing.length} raw framing) ` +
          `over ${operations.length} operations, seed ${SEED}, concurrency ${CONCURRENCY}, ${seconds} s: ` +
          ['2xx', '3xx', '4xx', '5xx', 'hang', 'connection error']
            .map((k) => `${k} ${counts[k] ?? 0}`)
            .join(' · ') +
          ` · unsendable ${unsendable} · logged unexpected errors ${unexpected.length}` +
          ` · logged dependency errors ${unseen.length}`,
      );
      if (VERBOSE)
        for (const [op, c] of byOperation)
          console.log(
            `  ${op}: ${Object.entries(c)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
          );

      const report = failures
        .slice(0, 15)
        .map(
          (f) =>
            `#${f.index} (${requestId(f.index)}) ${f.kind}: ${f.detail}\n    ${f.request}` +
            (f.response ? `\n  → ${f.response}` : '') +
            (f.log.length ? `\n  log:\n    ${f.log.join('\n    ')}` : ''),
        )
        .join('\n\n');
      expect([still.status, failures.length, report]).toEqual([200, 0, '']);
      expect(unexpected).toEqual([]);
      expect(counts['5xx'] ?? 0).toBe(0);
      expect([...byOperation.keys()].sort()).toEqual(operations.map((op) => op.key).sort());
    },
    Math.max(180_000, REQUESTS * 60),
  );

  /**
   * By socket, on JSON routes and an upload part: Content-Length shorter, longer (then end of
   * stream), not a number, negative, duplicated, beside Transfer-Encoding, beyond 2^64; broken
   * chunked bodies; and a whole request whose client hangs up before the answer.
   */
  async function framingCases() {
    const targets: [string, string, string][] = [
      ['POST', '/v1/images', '{"name":"fz-framing"}'],
      ['PATCH', '/v1/images/fz-a', '{"description":"d"}'],
      ['POST', '/v1/auth/principals', '{"kind":"service","display_name":"x"}'],
      ['POST', '/v1/images/fz-a/versions', '{"version":"9"}'],
      ['PUT', '/v1/images/fz-pub/aliases/latest', '{"version":"1"}'],
      ['PUT', `/v1/uploads/${pools.upload[1]}/parts/2`, 'sixteen bytes!!!'],
    ];
    const cases: { what: string; bytes: Buffer; end?: boolean; hangUp?: boolean }[] = [];
    for (const [method, path, body] of targets) {
      const type = path.includes('/parts/') ? 'application/octet-stream' : 'application/json';
      const head = (extra: string) =>
        `${method} ${path} HTTP/1.1\r\nHost: imgsrv.test\r\nAuthorization: Bearer ${pools.adminToken}\r\n` +
        `Content-Type: ${type}\r\nConnection: close\r\n${extra}\r\n`;
      const add = (what: string, text: string, end = false, hangUp = false) =>
        cases.push({
          what: `${method} ${path}: ${what}`,
          bytes: Buffer.from(text, 'latin1'),
          end,
          hangUp,
        });
      // A client that gives up: the server must drop the work quietly, not fall over.
      add(
        'a whole request, then the client hangs up before the answer',
        head(`Content-Length: ${body.length}\r\n`) + body,
        false,
        true,
      );
      add('Content-Length shorter than the body', head(`Content-Length: 5\r\n`) + body);
      add(
        'Content-Length longer than the body, then end of stream',
        head(`Content-Length: ${body.length + 100}\r\n`) + body,
        true,
      );
      add('Content-Length not a number', head('Content-Length: abc\r\n') + body);
      add('Content-Length negative', head('Content-Length: -1\r\n') + body);
      add(
        'two different Content-Length headers',
        head(`Content-Length: ${body.length}\r\nContent-Length: 3\r\n`) + body,
      );
      add(
        'Content-Length and Transfer-Encoding',
        head(`Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`) +
          `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      );
      add(
        'chunked with a bad chunk size',
        head('Transfer-Encoding: chunked\r\n') + `zz\r\n${body}\r\n0\r\n\r\n`,
      );
      add(
        'chunked, stream ends inside a chunk',
        head('Transfer-Encoding: chunked\r\n') + `ff\r\n${body}`,
        true,
      );
      add('Content-Length 2^64', head('Content-Length: 18446744073709551616\r\n') + body);
    }
    const results: { what: string; outcome: Error | Awaited<ReturnType<typeof rawExchange>> }[] =
      [];
    for (const c of cases) {
      try {
        results.push({
          what: c.what,
          outcome: await rawExchange(app.url, c.bytes, {
            end: c.end,
            hangUp: c.hangUp,
            ms: REQUEST_TIMEOUT_MS,
          }),
        });
      } catch (error) {
        results.push({
          what: c.what,
          outcome: new Error(`${c.what}: ${(error as Error).message}`),
        });
      }
    }
    return results;
  }
});
