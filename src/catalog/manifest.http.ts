import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FastPaths, type RequestHandler } from '../common/http/fast-paths';
import {
  ifNoneMatchHolds,
  replyWith,
  writeHeldAnswer,
  type HeldAnswer,
} from '../common/http/fast-answer';
import type { Logger } from '../common/logging/logger';
import { LOGGER } from '../common/logging/logging.module';
import { MetricsService } from '../common/metrics/metrics.service';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { CatalogService } from './catalog.service';
import type { RenderedJson } from './published-manifests';

/** The route the framework knows the manifest GET by (metrics and logs use it). */
const ROUTE = '/v1/images/:name/versions/:version';

/**
 * What to answer for a manifest: 304 when If-None-Match holds its ETag, else the bytes. Anyone
 * may keep a published version's manifest read without credentials (`public`); the rest depends
 * on who asks (`private`). Either is revalidated before use (`no-cache`): a published version
 * can still be withdrawn, so its manifest is not immutable.
 */
export function manifestAnswer(
  headers: IncomingHttpHeaders,
  manifest: RenderedJson,
  anonymous: boolean,
): HeldAnswer {
  const common = {
    etag: manifest.etag,
    'cache-control': manifest.published && anonymous ? 'public, no-cache' : 'private, no-cache',
    vary: 'Authorization',
  };
  if (ifNoneMatchHolds(headers['if-none-match'], manifest.etag))
    return { status: 304, headers: common };
  return {
    status: 200,
    headers: { ...common, 'content-type': 'application/json; charset=utf-8' },
    body: manifest.body,
  };
}

/** The controller's way: a manifest (or one of its artifacts) through Fastify's reply. */
export function sendManifest(
  request: FastifyRequest,
  reply: FastifyReply,
  manifest: RenderedJson,
): FastifyReply {
  return replyWith(
    reply,
    manifestAnswer(request.headers, manifest, request.headers.authorization === undefined),
  );
}

const IMAGES = '/v1/images/';
const VERSIONS = '/versions/';

/** A path segment as the framework's router decodes it; undefined when it is malformed. */
function segment(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * `/v1/images/<name>/versions/<version>` without a query: the decoded name and version. Read by
 * offsets (this runs for every request the fast path is offered), and decoded only when escaped.
 */
export function parseManifestPath(url: string): { name: string; version: string } | undefined {
  if (!url.startsWith(IMAGES) || url.includes('?')) return undefined;
  const slash = url.indexOf('/', IMAGES.length);
  if (slash <= IMAGES.length || !url.startsWith(VERSIONS, slash)) return undefined;
  const at = slash + VERSIONS.length;
  if (at === url.length || url.includes('/', at)) return undefined;
  const name = segment(url.slice(IMAGES.length, slash));
  const version = segment(url.slice(at));
  return name === undefined || version === undefined ? undefined : { name, version };
}

/**
 * Anonymous GETs and HEADs of a published version's manifest, answered after Node's HTTP parser
 * and before the web framework when public reads are on and the manifest is in memory for the
 * current revision (`CatalogService.renderedManifest` put it there). The same answer as the
 * controller's (`manifestAnswer`), plus what the framework's hooks add: a request id,
 * Content-Length, the request metric and log line. Anything else goes to the application, which
 * answers it and fills the cache.
 */
@Injectable()
export class ManifestFastPath implements OnModuleInit {
  constructor(
    private readonly catalog: CatalogService,
    private readonly fastPaths: FastPaths,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    if (this.config.auth.publicRead)
      this.fastPaths.register((req, res, next) => this.take(req, res, next));
  }

  private take(req: IncomingMessage, res: ServerResponse, next: RequestHandler): boolean {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.headers.authorization !== undefined)
      return false;
    const ref = parseManifestPath(req.url ?? '');
    if (!ref) return false;
    const startedMs = performance.now();
    const hit = this.catalog.publishedManifestIfTrusted(ref.name, ref.version);
    if (hit) {
      this.send(req, res, hit, startedMs);
      return true;
    }
    if (!this.catalog.holdsPublishedManifest(ref.name, ref.version)) return false;
    // In memory, but the revision must be read first: one read, shared by concurrent requests.
    this.catalog.publishedManifestChecked(ref.name, ref.version).then(
      (manifest) => (manifest ? this.send(req, res, manifest, startedMs) : next(req, res)),
      () => next(req, res),
    );
    return true;
  }

  private send(
    req: IncomingMessage,
    res: ServerResponse,
    manifest: RenderedJson,
    startedMs: number,
  ): void {
    const a = manifestAnswer(req.headers, manifest, true);
    writeHeldAnswer(req, res, a, ROUTE, startedMs, this.metrics, this.logger);
  }
}
