import { Controller, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AliasRepository } from '../aliases/alias.repository';
import { AuditService } from '../audit/audit.service';
import { ArtifactDownloads } from '../catalog/artifact-downloads';
import { CatalogService } from '../catalog/catalog.service';
import { IMAGE_NAME, VERSION_NAME } from '../catalog/dto/catalog.request.dto';
import { DomainError } from '../common/errors/domain-error';
import { toProblem } from '../common/errors/problem';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import type { JobState } from '../publish/publish-job.entity';
import { PublishService } from '../publish/publish.service';
import { ASSETS, ASSET_VERSION } from './assets';
import type { Html } from './html';
import { errorPage, type PageContext } from './layout';
import { imagePage } from './pages/image.page';
import { imagesPage } from './pages/images.page';
import { auditPage, jobPage, jobsPage, signInPage } from './pages/jobs.page';
import { versionPage } from './pages/version.page';
import { UiCatalogQueries } from './ui-catalog.queries';
import { formOf, remoteUrlOf, sameOrigin, stringParams } from './ui-request';
import { UiSessionService } from './ui-session.service';

const PAGE_SIZE = 50;
const JOB_STATES: ReadonlySet<string> = new Set([
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);
const SEARCH_KEYS = ['q', 'os', 'release', 'architecture', 'type', 'alias', 'cursor'] as const;

/** Pages only: scripts and styles from this server, no frames, forms posting back here. */
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

/**
 * The web catalog under /ui: server-rendered pages over the services the API uses, with the
 * visitor's principal (from the session cookie, or none) deciding what each page shows exactly
 * as it decides what the API answers. Not part of the API contract (excluded from OpenAPI).
 */
@ApiExcludeController()
@Controller('ui')
export class UiController {
  constructor(
    private readonly sessions: UiSessionService,
    private readonly queries: UiCatalogQueries,
    private readonly catalog: CatalogService,
    private readonly aliases: AliasRepository,
    private readonly publish: PublishService,
    private readonly audit: AuditService,
    private readonly downloads: ArtifactDownloads,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  async images(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const search = stringParams(request.query, SEARCH_KEYS);
      const { principal } = ctx.visitor;
      const publicRead = this.config.auth.publicRead;
      const [filters, page] = await Promise.all([
        this.queries.filterValues(principal, publicRead),
        this.queries.searchImages(principal, publicRead, search, PAGE_SIZE, search.cursor),
      ]);
      return imagesPage(ctx, search, filters, page);
    });
  }

  @Get('images/:name')
  async image(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const { name } = pathOf(request);
      const { cursor } = stringParams(request.query, ['cursor'] as const);
      const { principal } = ctx.visitor;
      const image = await this.catalog.getImage(principal, name);
      const [storage, aliases, versions] = await Promise.all([
        this.catalog.storageOf(principal, [image]),
        this.aliases.list(image.id, 1000),
        this.catalog.listVersions(principal, name, undefined, PAGE_SIZE, cursor),
      ]);
      return imagePage(
        ctx,
        image,
        storage.get(image.id) ?? { bytes: 0, bytesUnique: 0 },
        // Aliases point at published versions, which every reader of the image may see.
        aliases
          .slice(0, 1000)
          .map((a) => ({ alias: a.alias, version: a.version, updatedAt: a.updatedAt })),
        versions,
      );
    });
  }

  @Get('images/:name/versions/:version')
  async version(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const { name, version } = pathOf(request);
      const { principal } = ctx.visitor;
      const manifest = await this.catalog.getManifest(principal, name, version);
      const [aliases, projected, job] = await Promise.all([
        this.aliases.list(manifest.image.id, 1000),
        this.queries.projectedImages(manifest.version.id),
        principal?.can('content.read', name)
          ? this.publish.latestJob(principal, name, version).catch(() => null)
          : Promise.resolve(null),
      ]);
      return versionPage(ctx, {
        manifest,
        aliases: aliases.filter((a) => a.versionId === manifest.version.id).map((a) => a.alias),
        projected,
        job,
        remoteUrl: remoteUrlOf(request, this.config),
      });
    });
  }

  /** The API's artifact download, for a signed-in browser (the API itself takes no cookie). */
  @Get('images/:name/versions/:version/artifacts/:artifact_id/download/:filename')
  async downloadArtifact(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const p = idParams(request, ['artifact_id']);
    await this.file(request, (principal) =>
      this.downloads.artifact(principal, request, reply, p, p.filename),
    );
  }

  @Get(
    'images/:name/versions/:version/artifacts/:artifact_id/attachments/:attachment_id/download/:filename',
  )
  async downloadAttachment(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const p = idParams(request, ['artifact_id', 'attachment_id']);
    await this.file(request, (principal) =>
      this.downloads.attachment(principal, request, reply, p, p.filename),
    );
  }

  @Get('jobs')
  async jobs(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const { state, cursor } = stringParams(request.query, ['state', 'cursor'] as const);
      if (!ctx.visitor.principal) return this.signInFirst(reply, ctx);
      if (state && !JOB_STATES.has(state))
        throw new DomainError('VALIDATION_FAILED', `There is no job state called ${state}.`);
      const page = await this.publish.listJobs(
        ctx.visitor.principal,
        state as JobState | undefined,
        PAGE_SIZE,
        cursor,
      );
      return jobsPage(ctx, state, page);
    });
  }

  @Get('jobs/:id')
  async job(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const { id } = request.params as { id: string };
      if (!ctx.visitor.principal) return this.signInFirst(reply, ctx);
      if (!UUID.test(id))
        throw new DomainError('PUBLISH_JOB_NOT_FOUND', `There is no publish job ${id}.`);
      return jobPage(ctx, await this.publish.getJob(ctx.visitor.principal, id));
    });
  }

  @Get('audit')
  async auditLog(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      const filter = stringParams(request.query, ['action', 'image', 'cursor'] as const);
      const { principal } = ctx.visitor;
      if (!principal) return this.signInFirst(reply, ctx);
      if (!principal.can('audit.read'))
        throw new DomainError('FORBIDDEN', 'The audit log needs the audit.read permission.');
      const page = await this.audit.list(
        { action: filter.action, image: filter.image },
        PAGE_SIZE,
        filter.cursor,
      );
      return auditPage(ctx, page, { action: filter.action, image: filter.image });
    });
  }

  @Get('sign-in')
  async signInForm(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, (ctx) => Promise.resolve(signInPage(ctx, false)));
  }

  @Post('sign-in')
  async signIn(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async (ctx) => {
      if (!sameOrigin(request)) throw crossSite();
      const form = await formOf(request);
      const cookie = await this.sessions.signIn(request, form.get('token') ?? '');
      if (!cookie) {
        void reply.code(401);
        return signInPage(ctx, true);
      }
      void reply.header('set-cookie', cookie).redirect('/ui', 303);
      return null;
    });
  }

  @Post('sign-out')
  async signOut(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.page(request, reply, async () => {
      if (!sameOrigin(request)) throw crossSite();
      const form = await formOf(request);
      const cookie = await this.sessions.signOut(request, form.get('csrf') ?? undefined);
      if (!cookie) throw crossSite();
      void reply.header('set-cookie', cookie).redirect('/ui', 303);
      return null;
    });
  }

  @Get('assets/:file')
  asset(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    const { file } = request.params as { file: string };
    const asset = ASSETS.get(file);
    if (!asset) {
      void reply.code(404).type('text/plain; charset=utf-8').send('No such asset.\n');
      return;
    }
    void reply
      .header('content-type', asset.contentType)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(asset.body);
  }

  /** Renders a page for the request's visitor; an expected failure renders as an error page. */
  private async page(
    request: FastifyRequest,
    reply: FastifyReply,
    render: (ctx: PageContext) => Promise<Html | null>,
  ): Promise<void> {
    let ctx: PageContext = {
      visitor: { principal: null, csrf: null },
      publicRead: this.config.auth.publicRead,
      assetVersion: ASSET_VERSION,
    };
    let body: Html | null;
    try {
      ctx = { ...ctx, visitor: await this.sessions.visitor(request) };
      body = await render(ctx);
    } catch (error) {
      const problem = toProblem(error, String(request.id));
      if (problem.unexpected) throw error;
      void reply.code(problem.body.status);
      for (const [k, v] of Object.entries(problem.headers))
        if (k !== 'www-authenticate') void reply.header(k, v);
      body = errorPage(ctx, problem.body.title, problem.body.detail);
    }
    if (body === null) return;
    void reply.headers(PAGE_HEADERS).send(body.value);
  }

  /** A download for the session's principal; errors answer problem+json as the API's do. */
  private async file(
    request: FastifyRequest,
    send: (principal: UiPrincipal) => Promise<unknown>,
  ): Promise<void> {
    const visitor = await this.sessions.visitor(request);
    await send(visitor.principal);
  }

  private signInFirst(reply: FastifyReply, ctx: PageContext): Html {
    void reply.code(401);
    return signInPage(ctx, false);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A download's path parameters, its ids checked as the API's DTOs check them (else 404). */
function idParams(
  request: FastifyRequest,
  ids: readonly string[],
): { name: string; version: string; artifact_id: string; attachment_id: string; filename: string } {
  const p: Record<string, string> = {
    ...(request.params as Record<string, string>),
    ...pathOf(request),
  };
  for (const id of ids)
    if (!UUID.test(p[id] ?? '')) throw new DomainError('NOT_FOUND', 'There is no such download.');
  return p as never;
}

/**
 * The image name and version of a page's path, checked as the API's DTOs check them: a name no
 * image can have is the same 404 as a missing image (and never reaches SQL).
 */
function pathOf(request: FastifyRequest): { name: string; version: string } {
  const { name, version } = request.params as { name: string; version?: string };
  if (!IMAGE_NAME.test(name)) throw new DomainError('IMAGE_NOT_FOUND', 'There is no such image.');
  if (version !== undefined && !VERSION_NAME.test(version))
    throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no such version.`);
  return { name, version: version ?? '' };
}

type UiPrincipal = Awaited<ReturnType<UiSessionService['visitor']>>['principal'];

const crossSite = () =>
  new DomainError('FORBIDDEN', 'This form must be sent from this server’s own pages.');
