import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import { BlobReader } from '../cas/blob-reader';
import { DomainError } from '../common/errors/domain-error';
import { DownloadResponder } from '../common/http/download.responder';
import { ArtifactService } from './artifact.service';
import type { BlobLocation } from './catalog.service';

export interface ArtifactRef {
  readonly name: string;
  readonly version: string;
  readonly artifact_id: string;
}

export interface AttachmentRef extends ArtifactRef {
  readonly attachment_id: string;
}

/**
 * Downloads of artifacts and attachments for a principal: the API's download routes and the web
 * catalog's (which authenticates by session) answer through the same code.
 */
@Injectable()
export class ArtifactDownloads {
  constructor(
    private readonly artifacts: ArtifactService,
    private readonly blobs: BlobReader,
    private readonly downloads: DownloadResponder,
  ) {}

  private async serve(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: 'artifact' | 'attachment',
    location: BlobLocation,
    filename?: string,
  ): Promise<FastifyReply> {
    if (filename !== undefined && filename !== location.filename) {
      throw new DomainError('NOT_FOUND', `This download is called ${location.filename}.`);
    }
    // Only trusted bytes are served, at their verified size (a draft may cite a digest that is
    // not uploaded yet: 404 BLOB_NOT_FOUND).
    const blob = await this.blobs.getBlob(location.digest);
    return this.downloads.send(
      request,
      reply,
      kind,
      {
        digest: blob.digest,
        sizeBytes: blob.sizeBytes,
        mediaType: location.mediaType,
        filename: location.filename,
        lastModified: location.lastModified,
        immutable: location.published,
      },
      {
        stream: (range, signal) => this.blobs.openBlob(blob, range, signal),
        file: () => this.blobs.openBlobFile(blob),
      },
    );
  }

  /** The artifact's primary blob, if the caller may read the version (the API's download). */
  async artifact(
    principal: Principal | null,
    request: FastifyRequest,
    reply: FastifyReply,
    params: ArtifactRef,
    filename?: string,
  ): Promise<FastifyReply> {
    const { name, version, artifact_id } = params;
    const location = await this.artifacts.locateArtifactBlob(principal, name, version, artifact_id);
    return this.serve(request, reply, 'artifact', location, filename);
  }

  /** An attachment's blob, if the caller may read the version. */
  async attachment(
    principal: Principal | null,
    request: FastifyRequest,
    reply: FastifyReply,
    params: AttachmentRef,
    filename?: string,
  ): Promise<FastifyReply> {
    const { name, version, artifact_id, attachment_id } = params;
    const location = await this.artifacts.locateAttachmentBlob(
      principal,
      name,
      version,
      artifact_id,
      attachment_id,
    );
    return this.serve(request, reply, 'attachment', location, filename);
  }
}
