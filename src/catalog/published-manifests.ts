import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { RevisionCache } from '../common/revision-cache';
import type { ArtifactEntity, AttachmentEntity } from './artifact.entity';
import { ArtifactWithAttachmentsDto, ManifestResponseDto } from './dto/catalog.response.dto';
import type { Manifest } from './catalog.service';

/** A JSON document as it is sent: the bytes and their strong validator. */
export interface RenderedJson {
  readonly body: Buffer;
  /** `"<base64url of the bytes' SHA-256, 32 characters>"`: equal bytes, equal tag, in any process. */
  readonly etag: string;
  /** Whether it is a published version's, so the same for every caller who may read it. */
  readonly published: boolean;
}

/** A manifest as it is sent, and each of its artifacts as `GET …/artifacts/{id}` sends it. */
export interface RenderedManifest extends RenderedJson {
  /** The artifact of that id, rendered on first asking and kept; undefined when not in it. */
  artifact(id: string): RenderedJson | undefined;
}

function rendered(value: unknown, published: boolean): RenderedJson {
  const body = Buffer.from(JSON.stringify(value));
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  return { body, etag, published };
}

export function renderArtifact(
  artifact: ArtifactEntity,
  attachments: AttachmentEntity[],
  published: boolean,
): RenderedJson {
  return rendered(ArtifactWithAttachmentsDto.of(artifact, attachments), published);
}

export function renderManifest(manifest: Manifest): RenderedManifest {
  const published = manifest.version.state === 'published';
  // Most manifests are only ever sent whole: their artifacts are rendered when one is asked for.
  const artifacts = new Map<string, RenderedJson>();
  return {
    ...rendered(ManifestResponseDto.of(manifest), published),
    artifact(id) {
      const kept = artifacts.get(id);
      if (kept) return kept;
      const found = manifest.artifacts.find((a) => a.artifact.id === id);
      if (!found) return undefined;
      const answer = renderArtifact(found.artifact, found.attachments, published);
      artifacts.set(id, answer);
      return answer;
    },
  };
}

/** Published manifests kept per process (evicted as RevisionCache evicts: second chance). */
export const PUBLISHED_MANIFEST_CACHE_SIZE = 4096;

/**
 * Published manifests rendered once and kept by the streams revision they were read under. A
 * published version's artifacts and attachments never change (the database refuses it); what can
 * change is its state (a withdrawal), its image's display name or description, or the image's
 * existence, and each of those bumps the revision. So an entry answers while the revision it was
 * read under is still the current one, without a database read; a newer revision makes it a miss.
 * Whoever fills the cache reads the revision before the rows, so an entry never carries a revision
 * newer than its rows.
 */
@Injectable()
export class PublishedManifests {
  private readonly entries = new RevisionCache<RenderedManifest>(PUBLISHED_MANIFEST_CACHE_SIZE);

  get(image: string, version: string, revision: number): RenderedManifest | undefined {
    return this.entries.get(`${image}\n${version}`, revision);
  }

  set(image: string, version: string, revision: number, manifest: RenderedManifest): void {
    if (manifest.published) this.entries.set(`${image}\n${version}`, revision, manifest);
  }

  holds(image: string, version: string): boolean {
    return this.entries.has(`${image}\n${version}`);
  }

  get size(): number {
    return this.entries.size;
  }
}
