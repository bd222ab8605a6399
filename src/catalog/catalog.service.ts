import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BlobReferenceRegistry } from '../cas/blob-references';
import type { Actor } from '../auth/actor';
import type { Principal } from '../auth/principal';
import { scopePatterns } from '../auth/scope';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import { pageOf, type Page } from '../common/pagination';
import type { ArtifactEntity, ArtifactFormat, AttachmentEntity } from './artifact.entity';
import { ArtifactRepository } from './artifact.repository';
import { ImageVersionEntity, type VersionState } from './image-version.entity';
import { VERSION_STATES } from './version-state';
import { ImageVersionRepository } from './image-version.repository';
import { ImageEntity } from './image.entity';
import { ImageRepository, type ImageStorage, type ImageVisibility } from './image.repository';
import { StreamsService } from '../streams/streams.service';
import { CatalogAccess } from './catalog-access';
import { CatalogMetrics, type PublicList } from './catalog.metrics';
import { RevisionCache } from '../common/revision-cache';
import { ArtifactService } from './artifact.service';
import {
  PublishedManifests,
  renderArtifact,
  renderManifest,
  type RenderedJson,
  type RenderedManifest,
} from './published-manifests';

/**
 * Rows of the public lists (published versions, aliases) kept per process: pages weigh their rows,
 * so at most about this many rows are held for each list.
 */
export const PUBLIC_LIST_CACHE_ROWS = 20_000;

/** The longest query (filter, page size, cursor) whose page is kept: the server's cursors are shorter. */
const PUBLIC_LIST_MAX_QUERY = 320;

/** Pages of a public list by image and query, each kept with the streams revision it was read under. */
export type PublicListCache<T> = RevisionCache<Page<T>>;

export function publicListCache<T>(): PublicListCache<T> {
  return new RevisionCache<Page<T>>(PUBLIC_LIST_CACHE_ROWS, (page) => page.items.length + 1);
}

/** An image with the bytes its versions cite, as a caller may see them (CatalogService.storageOf). */
export interface ImageWithStorage {
  readonly image: ImageEntity;
  readonly storage: ImageStorage;
}

const NO_STORAGE: ImageStorage = { bytes: 0, bytesUnique: 0 };

/** The name under which the catalog tells the GC what manifests cite (CasModule.register). */
export const CATALOG_BLOB_REFERENCES = 'catalog.manifests';

export interface Manifest {
  readonly image: ImageEntity;
  readonly version: ImageVersionEntity;
  readonly artifacts: {
    readonly artifact: ArtifactEntity;
    readonly attachments: AttachmentEntity[];
  }[];
}

export interface ArtifactInput {
  readonly variant: string;
  readonly operatingSystem: string;
  readonly architecture: string;
  readonly format: ArtifactFormat;
  readonly primaryBlobDigest: string;
  readonly primaryBlobSizeBytes: number;
  readonly primaryMediaType: string;
}

export interface AttachmentInput {
  readonly name: string;
  readonly mediaType: string;
  readonly blobDigest: string;
  readonly blobSizeBytes: number;
}

/** What a download needs to know about the bytes it serves. */
export interface BlobLocation {
  readonly digest: string;
  readonly sizeBytes: number;
  readonly mediaType: string;
  readonly filename: string;
  readonly published: boolean;
  readonly lastModified: Date;
}

const EXTENSIONS: Record<ArtifactFormat, string> = {
  qcow2: 'qcow2',
  squashfs: 'squashfs',
  raw: 'img',
  'raw.gz': 'img.gz',
};

/** A file name safe in a Content-Disposition header and on any filesystem. */
export function safeFilename(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._+-]+/g, '_').replace(/^[._]+/, '');
  return (clean || 'download').slice(0, 200);
}

export function artifactFilename(image: string, version: string, artifact: ArtifactEntity): string {
  const variant = artifact.variant === 'default' ? '' : `-${artifact.variant}`;
  return safeFilename(
    `${image}-${version}-${artifact.architecture}${variant}.${EXTENSIONS[artifact.format]}`,
  );
}

/**
 * Images, versions and their manifests. Visibility: a caller with content.read on the image sees
 * everything; others (anonymous included, while public reads are on) see published versions only,
 * and get 404 for the rest. Every mutation is audited in its own transaction.
 */
@Injectable()
export class CatalogService implements OnModuleInit {
  private readonly publishedVersions = publicListCache<ImageVersionEntity>();
  private readonly publicImages = publicListCache<ImageWithStorage>();

  constructor(
    private readonly images: ImageRepository,
    private readonly versions: ImageVersionRepository,
    private readonly artifacts: ArtifactRepository,
    private readonly references: BlobReferenceRegistry,
    private readonly access: CatalogAccess,
    private readonly streams: StreamsService,
    private readonly published: PublishedManifests,
    private readonly metrics: CatalogMetrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly artifactService: ArtifactService,
  ) {}

  /** Tells the CAS garbage collector which blobs manifests cite (drafts included). */
  onModuleInit(): void {
    this.references.register({
      name: CATALOG_BLOB_REFERENCES,
      citedDigests: async (manager, digests) =>
        new Set(await this.artifacts.citedAmong(manager, digests)),
      imagesCiting: async (digest) =>
        (await this.artifacts.citationsOf(digest)).map((c) => c.imageName),
    });
  }

  /** Whether a published version cites the digest (blobs are public only then). */
  isPublishedDigest(digest: string): Promise<boolean> {
    return this.artifacts.publishedCites(digest);
  }

  /**
   * May the caller read this blob by digest, and is it published? Only when a version it may read
   * cites the blob (a published one, or a draft of an image in its content.read scope), or it began
   * an upload of the blob and no version cites it yet; null otherwise, whether or not the blob
   * exists, so a caller learns nothing of other images' content.
   */
  async blobAccess(
    principal: Principal | null,
    digest: string,
    uploadedBy: (principalId: string) => Promise<boolean>,
  ): Promise<{ published: boolean } | null> {
    const citations = await this.artifacts.citationsOf(digest);
    const visible = citations.filter(
      (c) =>
        this.access.canRead(principal, c.imageName) ||
        (c.state === 'published' && this.config.auth.publicRead),
    );
    if (visible.length > 0) return { published: visible.some((c) => c.state === 'published') };
    if (citations.length === 0 && principal && (await uploadedBy(principal.id)))
      return { published: false };
    return null;
  }

  /**
   * A page of the images the caller may see, each with its storage as the caller may see it
   * (storageOf). A caller who may read no image at all (anonymous, or without content.read) sees
   * the same page as every such caller: the images with a published version, their fields and
   * what their published versions cite. Every write that changes any of that bumps the streams
   * revision (a publish, a withdrawal, an image deleted, an image's fields updated), so such
   * pages are kept per revision like the other public lists (publicPage).
   */
  async listImages(
    principal: Principal | null,
    limit: number,
    cursor?: string,
  ): Promise<Page<ImageWithStorage>> {
    const visibility = this.visibilityOf(principal);
    const read = async (): Promise<Page<ImageWithStorage>> => {
      const rows = await this.images.list(visibility, limit, cursor);
      const page = pageOf(rows, limit, (i) => [i.name]);
      const storage = await this.storageOf(principal, page.items);
      return {
        items: page.items.map((image) => ({
          image,
          storage: storage.get(image.id) ?? NO_STORAGE,
        })),
        nextCursor: page.nextCursor,
      };
    };
    const query = `${limit}\n${cursor ?? ''}`;
    if (
      visibility.readablePatterns.length > 0 ||
      !this.config.auth.publicRead ||
      query.length > PUBLIC_LIST_MAX_QUERY
    )
      return read();
    return this.keptByRevision('images', this.publicImages, query, read);
  }

  /** What `principal` may see of the catalog: its content.read scope, and public reads. */
  private visibilityOf(principal: Principal | null): ImageVisibility {
    return {
      readablePatterns: scopePatterns(principal, 'content.read'),
      publishedVisible: this.config.auth.publicRead,
    };
  }

  /**
   * What each image's versions cite in the blob store (see ImageRepository.storageOf), as far as
   * the caller may see them: every version of an image it may read, and with public reads the
   * published versions of any other (the rest is not its to see, nor whether it shares bytes).
   */
  storageOf(
    principal: Principal | null,
    images: readonly ImageEntity[],
  ): Promise<Map<string, ImageStorage>> {
    return this.images.storageOf(
      images.map((i) => i.id),
      this.visibilityOf(principal),
    );
  }

  /** The bytes the images the caller may read cite, each blob once, and per image its own. */
  storageTotal(
    principal: Principal | null,
  ): Promise<{ bytes: number; bytesUniqueByImage: Record<string, number> }> {
    return this.images.storageTotal(this.visibilityOf(principal));
  }

  /** The image, if the caller may see it (404 otherwise). */
  async getImage(principal: Principal | null, name: string): Promise<ImageEntity> {
    const image = await this.images.findByName(name);
    if (
      image &&
      (this.access.canRead(principal, name) ||
        (this.config.auth.publicRead && (await this.images.hasPublishedVersion(image.id))))
    ) {
      return image;
    }
    throw new DomainError('IMAGE_NOT_FOUND', `No image is called ${name}.`);
  }

  async createImage(
    actor: Actor,
    input: { name: string; displayName: string | null; description: string | null },
  ): Promise<ImageEntity> {
    return this.access.mutate(async (manager) => {
      const image = await this.images.insert(manager, {
        ...input,
        createdBy: actor.principal?.id ?? null,
      });
      await this.access.record(manager, actor, 'image.create', 'image', image.id, image.name, {});
      return image;
    });
  }

  async updateImage(
    actor: Actor,
    name: string,
    fields: { displayName?: string | null; description?: string | null },
  ): Promise<ImageEntity> {
    return this.access.mutate(async (manager) => {
      const image = await this.access.requireImage(name, manager);
      const updated = await this.images.update(manager, image.id, fields);
      // Published manifests and the public image list show the image's fields and are kept by
      // the streams revision. Bumped whatever the image's versions: asking whether one is
      // published would race a publish committing meanwhile (which might be read, and a list
      // kept, before this update commits), and updates are rare.
      await this.streams.bumpRevision(manager);
      await this.access.record(manager, actor, 'image.update', 'image', image.id, name, {
        fields: Object.keys(fields).map((k) => (k === 'displayName' ? 'display_name' : k)),
      });
      return updated;
    });
  }

  async listVersions(
    principal: Principal | null,
    name: string,
    state: VersionState | undefined,
    limit: number,
    cursor?: string,
  ): Promise<Page<ImageVersionEntity>> {
    const visible: VersionState[] = this.access.canRead(principal, name)
      ? [...VERSION_STATES]
      : ['published'];
    const states = state ? visible.filter((s) => s === state) : visible;
    if (states.length === 0) {
      await this.getImage(principal, name); // 404 as for any other filter
      return { items: [], nextCursor: null };
    }
    return this.publicPage(
      'versions',
      this.publishedVersions,
      principal,
      name,
      `${states.join(',')}\n${limit}\n${cursor ?? ''}`,
      async (image) => {
        const rows = await this.versions.list(image.id, states, limit, cursor);
        return pageOf(rows, limit, (v) => [v.createdAt.toISOString(), v.id]);
      },
    );
  }

  /**
   * A page of one of an image's lists that reads the same for every caller who may not read the
   * image's drafts (its published versions, its aliases): for those callers it comes from memory
   * while the streams revision it was read under is current, since every write that changes such
   * a list (a publish, a withdrawal, an alias set, moved or deleted, the image deleted) bumps the
   * revision. Callers who may read the image's drafts read the database each time.
   */
  async publicPage<T>(
    list: PublicList,
    pages: PublicListCache<T>,
    principal: Principal | null,
    name: string,
    query: string,
    read: (image: ImageEntity) => Promise<Page<T>>,
  ): Promise<Page<T>> {
    // Private servers show these callers nothing (getImage answers 404); a query longer than any
    // cursor the server hands out is answered but not kept, so keys stay small.
    if (
      this.access.canRead(principal, name) ||
      !this.config.auth.publicRead ||
      query.length > PUBLIC_LIST_MAX_QUERY
    )
      return read(await this.getImage(principal, name));
    // Kept only after the image was visible to such a caller at that revision (getImage).
    return this.keptByRevision(list, pages, `${name}\n${query}`, async () =>
      read(await this.getImage(principal, name)),
    );
  }

  /**
   * The page kept under `key` while the streams revision it was read under is current; else
   * `read`, kept with that revision. The revision is read before the rows, so an entry never
   * claims a newer revision than its rows.
   */
  private async keptByRevision<T>(
    list: PublicList,
    pages: PublicListCache<T>,
    key: string,
    read: () => Promise<Page<T>>,
  ): Promise<Page<T>> {
    const revision = await this.streams.revision();
    const kept = pages.get(key, revision);
    if (kept) {
      this.metrics.countListRead(list, 'memory');
      return kept;
    }
    const page = await read();
    pages.set(key, revision, page);
    this.metrics.countListRead(list, 'database');
    return page;
  }

  async createVersion(actor: Actor, name: string, version: string): Promise<ImageVersionEntity> {
    return this.access.mutate(async (manager) => {
      const image = await this.access.requireImage(name, manager);
      const row = await this.versions.insert(manager, {
        imageId: image.id,
        version,
        createdBy: actor.principal?.id ?? null,
      });
      await this.access.record(manager, actor, 'version.create', 'image_version', row.id, name, {
        version,
      });
      return row;
    });
  }

  async deleteVersion(actor: Actor, name: string, version: string): Promise<void> {
    await this.access.mutate(async (manager) => {
      const image = await this.access.requireImage(name, manager);
      const row = await this.versions.findForUpdate(manager, image.id, version);
      if (!row)
        throw new DomainError('VERSION_NOT_FOUND', `Image ${name} has no version ${version}.`);
      this.access.requireDraft(row);
      await this.versions.delete(manager, row.id);
      await this.access.record(manager, actor, 'version.delete', 'image_version', row.id, name, {
        version,
      });
    });
  }

  /** The version and its manifest, if the caller may see it. */
  async getManifest(principal: Principal | null, name: string, version: string): Promise<Manifest> {
    const { image, version: row } = await this.access.visibleVersion(principal, name, version);
    return this.access.manifestOf(image, row);
  }

  /**
   * The manifest as it is sent. A published version's comes from memory while the streams revision
   * it was rendered under is current (no database read), for anyone who may read the image; the
   * rest is read and rendered per request.
   */
  async renderedManifest(
    principal: Principal | null,
    name: string,
    version: string,
  ): Promise<RenderedManifest> {
    const revision = await this.streams.revision();
    const cached = this.published.get(name, version, revision);
    if (cached && (this.config.auth.publicRead || this.access.canRead(principal, name))) {
      this.metrics.countManifestRead('memory');
      return cached;
    }
    const rendered = renderManifest(await this.getManifest(principal, name, version));
    this.published.set(name, version, revision, rendered);
    this.metrics.countManifestRead('database');
    return rendered;
  }

  /**
   * An artifact with its attachments as it is sent. A published version's comes from the memory
   * of its manifest, as `renderedManifest` keeps it (a miss renders and keeps the whole manifest);
   * the rest is read per request.
   */
  async renderedArtifact(
    principal: Principal | null,
    name: string,
    version: string,
    artifactId: string,
  ): Promise<RenderedJson> {
    const revision = await this.streams.revision();
    const mayRead = () => this.config.auth.publicRead || this.access.canRead(principal, name);
    const hit = this.published.get(name, version, revision)?.artifact(artifactId);
    if (hit && mayRead()) {
      this.metrics.countArtifactRead('memory');
      return hit;
    }
    // Visibility, withdrawal and existence are decided as for any artifact read.
    const found = await this.artifactService.getArtifact(principal, name, version, artifactId);
    this.metrics.countArtifactRead('database');
    if (!found.published) return renderArtifact(found.artifact, found.attachments, false);
    const manifest = renderManifest(await this.getManifest(principal, name, version));
    this.published.set(name, version, revision, manifest);
    return manifest.artifact(artifactId) ?? renderArtifact(found.artifact, found.attachments, true);
  }

  /**
   * For an anonymous reader while public reads are on: a published manifest from memory when the
   * current revision is trusted without a database read, else undefined (ask the application).
   */
  publishedManifestIfTrusted(name: string, version: string): RenderedManifest | undefined {
    const revision = this.streams.revisionIfTrusted();
    if (revision === undefined || !this.config.auth.publicRead) return undefined;
    return this.countedFromMemory(this.published.get(name, version, revision));
  }

  /** Whether memory holds a published manifest of this name and version, of any revision. */
  holdsPublishedManifest(name: string, version: string): boolean {
    return this.config.auth.publicRead && this.published.holds(name, version);
  }

  /** As publishedManifestIfTrusted, after reading the revision when it is not trusted. */
  async publishedManifestChecked(
    name: string,
    version: string,
  ): Promise<RenderedManifest | undefined> {
    const revision = await this.streams.revision();
    if (!this.config.auth.publicRead) return undefined;
    return this.countedFromMemory(this.published.get(name, version, revision));
  }

  private countedFromMemory(m: RenderedManifest | undefined): RenderedManifest | undefined {
    if (m) this.metrics.countManifestRead('memory');
    return m;
  }

  /**
   * The manifest named by a ref: a published version of that name, else (once aliases exist)
   * the version an alias points to.
   */
  async resolveRef(principal: Principal | null, name: string, ref: string): Promise<Manifest> {
    const image = await this.getImage(principal, name);
    const row = await this.versions.find(image.id, ref);
    if (row && row.state === 'published') return this.access.manifestOf(image, row);
    throw new DomainError(
      'REF_NOT_FOUND',
      `Image ${name} has no published version or alias called ${ref}.`,
    );
  }
}
