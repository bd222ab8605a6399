import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '../auth/principal';
import { scopePatterns } from '../auth/scope';
import { decodeCursor, pageOf, type Page } from '../common/pagination';

/** The list page's search: a text in the name or title, and what a published image is. */
export interface ImageSearch {
  readonly q?: string;
  readonly os?: string;
  readonly release?: string;
  readonly architecture?: string;
  readonly type?: string;
  readonly alias?: string;
}

export interface ImageSummary {
  readonly name: string;
  readonly displayName: string | null;
  readonly description: string | null;
  readonly latest: string | null;
  readonly publishedCount: number;
  readonly operatingSystems: string[];
  readonly releases: string[];
  readonly architectures: string[];
  readonly types: string[];
  readonly aliases: string[];
}

export interface FilterValues {
  readonly os: string[];
  readonly release: string[];
  readonly architecture: string[];
  readonly type: string[];
}

/** An Incus image a published version projects: one per artifact, with its fingerprint. */
export interface ProjectedImage {
  readonly artifactId: string;
  readonly fingerprint: string;
  readonly type: string;
  readonly architecture: string;
  readonly operatingSystem: string;
  readonly release: string;
  readonly variant: string;
}

/** What of the published Simple Streams items a search may match (one item must match all). */
const PUBLISHED_ITEMS = `
  SELECT 1 FROM streams_item s JOIN image_version pv ON pv.id = s.version_id
   WHERE pv.image_id = i.id AND pv.state = 'published'`;

/**
 * The web catalog's read model: the queries its pages need that no API use case answers (a search
 * over what published versions project to Incus, the values to filter by, a version's projected
 * fingerprints). Read-only, over the catalog's, the streams' and the aliases' tables, with the
 * same visibility as the image list of the API: images in the caller's content.read scope, and
 * images with a published version when published content is public.
 */
@Injectable()
export class UiCatalogQueries {
  constructor(private readonly dataSource: DataSource) {}

  async searchImages(
    principal: Principal | null,
    publicRead: boolean,
    search: ImageSearch,
    limit: number,
    cursor?: string,
  ): Promise<Page<ImageSummary>> {
    const after = decodeCursor(cursor, ['text']);
    const params: unknown[] = [scopePatterns(principal, 'content.read'), publicRead];
    const where = [
      `(i.name ~ ANY($1::text[]) OR ($2::boolean AND EXISTS (
          SELECT 1 FROM image_version v WHERE v.image_id = i.id AND v.state = 'published')))`,
    ];
    const bind = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (search.q) {
      const q = bind(search.q.toLowerCase());
      where.push(
        `(strpos(lower(i.name), ${q}) > 0 OR strpos(lower(coalesce(i.display_name, '')), ${q}) > 0)`,
      );
    }
    const item: string[] = [];
    if (search.os) item.push(`lower(s.operating_system) = lower(${bind(search.os)})`);
    if (search.release) item.push(`lower(s.release) = lower(${bind(search.release)})`);
    if (search.architecture) item.push(`s.architecture = ${bind(search.architecture)}`);
    if (search.type) item.push(`s.image_type = ${bind(search.type)}`);
    if (item.length > 0) where.push(`EXISTS (${PUBLISHED_ITEMS} AND ${item.join(' AND ')})`);
    if (search.alias)
      where.push(
        `EXISTS (SELECT 1 FROM alias a WHERE a.image_id = i.id AND a.alias = ${bind(search.alias)})`,
      );
    if (after) where.push(`i.name > ${bind(String(after[0]))}`);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT i.name, i.display_name, i.description,
              (SELECT v.version FROM image_version v WHERE v.image_id = i.id AND v.state = 'published'
                ORDER BY v.published_at DESC LIMIT 1) AS latest,
              (SELECT count(*)::int FROM image_version v
                WHERE v.image_id = i.id AND v.state = 'published') AS published_count,
              ${distinctOf('s.operating_system')} AS operating_systems,
              ${distinctOf('s.release')} AS releases,
              ${distinctOf('s.architecture')} AS architectures,
              ${distinctOf('s.image_type')} AS types,
              ARRAY(SELECT a.alias FROM alias a WHERE a.image_id = i.id ORDER BY a.alias LIMIT 20)
                AS aliases
         FROM image i
        WHERE ${where.join(' AND ')}
        ORDER BY i.name
        LIMIT ${bind(limit + 1)}`,
      params,
    );
    return pageOf(rows.map(summaryOf), limit, (r) => [r.name]);
  }

  /** The distinct values the visible published images can be filtered by. */
  async filterValues(principal: Principal | null, publicRead: boolean): Promise<FilterValues> {
    // One scan of the visible published items for all four lists.
    const rows: { os: string[]; release: string[]; architecture: string[]; type: string[] }[] =
      await this.dataSource.query(
        `SELECT array_agg(DISTINCT s.operating_system ORDER BY s.operating_system) AS os,
                array_agg(DISTINCT s.release ORDER BY s.release) AS release,
                array_agg(DISTINCT s.architecture ORDER BY s.architecture) AS architecture,
                array_agg(DISTINCT s.image_type ORDER BY s.image_type) AS type
           FROM streams_item s ${VISIBLE}`,
        [scopePatterns(principal, 'content.read'), publicRead],
      );
    const r = rows[0];
    const first = (values: string[] | null | undefined) => (values ?? []).slice(0, 200);
    return {
      os: first(r?.os),
      release: first(r?.release),
      architecture: first(r?.architecture),
      type: first(r?.type),
    };
  }

  /** The Incus images a version projects (none before it is published). */
  async projectedImages(versionId: string): Promise<ProjectedImage[]> {
    const rows: Record<string, string>[] = await this.dataSource.query(
      `SELECT artifact_id, combined_sha256, image_type, architecture, operating_system, release,
              variant
         FROM streams_item WHERE version_id = $1 ORDER BY image_type, architecture`,
      [versionId],
    );
    return rows.map((r) => ({
      artifactId: r.artifact_id as string,
      fingerprint: r.combined_sha256 as string,
      type: r.image_type as string,
      architecture: r.architecture as string,
      operatingSystem: r.operating_system as string,
      release: r.release as string,
      variant: r.variant as string,
    }));
  }
}

/** Published streams items of images the caller may see ($1 scope patterns, $2 public reads). */
const VISIBLE = `JOIN image_version v ON v.id = s.version_id AND v.state = 'published'
  JOIN image i ON i.id = v.image_id
 WHERE i.name ~ ANY($1::text[]) OR $2::boolean`;

const distinctOf = (column: string): string =>
  `ARRAY(SELECT DISTINCT ${column} FROM streams_item s JOIN image_version pv ON pv.id = s.version_id
          WHERE pv.image_id = i.id AND pv.state = 'published' ORDER BY 1)`;

function summaryOf(r: Record<string, unknown>): ImageSummary {
  return {
    name: r.name as string,
    displayName: r.display_name as string | null,
    description: r.description as string | null,
    latest: r.latest as string | null,
    publishedCount: r.published_count as number,
    operatingSystems: r.operating_systems as string[],
    releases: r.releases as string[],
    architectures: r.architectures as string[],
    types: r.types as string[],
    aliases: r.aliases as string[],
  };
}
