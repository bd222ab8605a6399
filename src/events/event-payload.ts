import type { DeliveredEventType } from './event-types';

/**
 * What a webhook receiver gets: the Standard Webhooks envelope `{id, type, timestamp, data}`,
 * where `data` is built here from plain facts when the event is recorded (and stored as is, so
 * every attempt sends the same bytes). Links are paths relative to the server's root (no public
 * base URL is configured); a receiver joins them to the URL it reaches the API at.
 */

export interface ArtifactFacts {
  readonly id: string;
  readonly variant: string;
  readonly operatingSystem: string;
  readonly architecture: string;
  readonly format: string;
  readonly primaryBlobDigest: string;
  readonly primaryBlobSizeBytes: number;
  readonly primaryMediaType: string;
}

export interface AttachmentFacts {
  readonly id: string;
  readonly name: string;
  readonly mediaType: string;
  readonly blobDigest: string;
  readonly blobSizeBytes: number;
}

/** A version and its manifest, as the catalog describes it (catalog's Manifest fits). */
export interface VersionFacts {
  readonly image: { readonly name: string };
  readonly version: { readonly id: string; readonly version: string };
  readonly artifacts: readonly {
    readonly artifact: ArtifactFacts;
    readonly attachments: readonly AttachmentFacts[];
  }[];
}

/** Who caused the event: a principal (by id and, when known, display name) or the server. */
export interface EventActor {
  readonly principalId: string | null;
  readonly name: string | null;
}

export const imagePath = (image: string) => `/v1/images/${image}`;
export const versionPath = (image: string, version: string) =>
  `${imagePath(image)}/versions/${version}`;

function actorData(actor: EventActor): { principal_id: string | null; name: string | null } {
  return { principal_id: actor.principalId, name: actor.name };
}

/** Each artifact with its digests, sizes and download link, attachments included. */
export function artifactsData(facts: VersionFacts): Record<string, unknown>[] {
  const base = versionPath(facts.image.name, facts.version.version);
  return facts.artifacts.map(({ artifact, attachments }) => ({
    id: artifact.id,
    variant: artifact.variant,
    operating_system: artifact.operatingSystem,
    architecture: artifact.architecture,
    format: artifact.format,
    digest: artifact.primaryBlobDigest,
    size_bytes: artifact.primaryBlobSizeBytes,
    media_type: artifact.primaryMediaType,
    attachments: attachments.map((a) => ({
      id: a.id,
      name: a.name,
      digest: a.blobDigest,
      size_bytes: a.blobSizeBytes,
      media_type: a.mediaType,
    })),
    links: { download: `${base}/artifacts/${artifact.id}/download` },
  }));
}

/** `version.published`: the version, its artifacts' digests, who asked, where to read it. */
export function versionPublishedData(
  facts: VersionFacts,
  jobId: string,
  actor: EventActor,
): Record<string, unknown> {
  const { name } = facts.image;
  const { version } = facts.version;
  return {
    image: name,
    version,
    version_id: facts.version.id,
    publish_job_id: jobId,
    artifacts: artifactsData(facts),
    actor: actorData(actor),
    links: {
      image: imagePath(name),
      version: versionPath(name, version),
      manifest: versionPath(name, version),
      publish_job: `/v1/publish-jobs/${jobId}`,
    },
  };
}

/** `version.publish_failed`: as published, plus the failed step and its message. */
export function versionPublishFailedData(
  facts: VersionFacts,
  jobId: string,
  actor: EventActor,
  failure: { step: string; message: string },
): Record<string, unknown> {
  return {
    ...versionPublishedData(facts, jobId, actor),
    failure: { step: failure.step, message: failure.message },
  };
}

/** `alias.moved` (created or moved): the alias, where it points now and where it pointed. */
export function aliasMovedData(
  facts: VersionFacts,
  alias: { id: string; name: string; previousVersion: string | null },
  actor: EventActor,
): Record<string, unknown> {
  const { name } = facts.image;
  const { version } = facts.version;
  return {
    image: name,
    alias: alias.name,
    alias_id: alias.id,
    version,
    version_id: facts.version.id,
    previous_version: alias.previousVersion,
    artifacts: artifactsData(facts),
    actor: actorData(actor),
    links: {
      image: imagePath(name),
      alias: `${imagePath(name)}/aliases/${alias.name}`,
      version: versionPath(name, version),
      manifest: versionPath(name, version),
    },
  };
}

/** `version.withdrawn`: the version, why, whether downloads stopped at once, and who asked. */
export function versionWithdrawnData(
  facts: VersionFacts,
  withdrawal: { reason: string; immediate: boolean; purgeAfter: Date; movedAliases: string[] },
  actor: EventActor,
): Record<string, unknown> {
  const { name } = facts.image;
  const { version } = facts.version;
  return {
    image: name,
    version,
    version_id: facts.version.id,
    reason: withdrawal.reason,
    immediate: withdrawal.immediate,
    purge_after: withdrawal.purgeAfter.toISOString(),
    moved_aliases: withdrawal.movedAliases,
    artifacts: artifactsData(facts),
    actor: actorData(actor),
    links: { image: imagePath(name), version: versionPath(name, version) },
  };
}

/** `alias.deleted`: the alias and the version it pointed at. */
export function aliasDeletedData(
  image: string,
  alias: { id: string; name: string; version: string; versionId: string },
  actor: EventActor,
): Record<string, unknown> {
  return {
    image,
    alias: alias.name,
    alias_id: alias.id,
    version: alias.version,
    version_id: alias.versionId,
    actor: actorData(actor),
    links: {
      image: imagePath(image),
      version: versionPath(image, alias.version),
      manifest: versionPath(image, alias.version),
    },
  };
}

/** `ping`: which subscription asked, and who. */
export function pingData(subscriptionId: string, actor: EventActor): Record<string, unknown> {
  return {
    subscription_id: subscriptionId,
    actor: actorData(actor),
    links: { subscription: `/v1/webhooks/${subscriptionId}` },
  };
}

export interface StoredEvent {
  readonly id: string;
  readonly type: DeliveredEventType | string;
  readonly occurredAt: Date;
  readonly data: Record<string, unknown>;
}

/** The request body of every delivery of an event: the same bytes on every attempt. */
export function envelope(event: StoredEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.occurredAt.toISOString(),
    data: event.data,
  });
}
